/**
 * Fault: all of them, one after another — the suite's short chaos soak (test/src/harness/chaos-soak.ts;
 * `npm run soak` runs it for 20 minutes). Three worker hosts in network namespaces record 30 recordings
 * (20 single streams, 10 channel recordings of two users); every 15–19 s (the soak's 20–40 s, shortened
 * to fit the suite) one fault strikes, each kind once in a seeded shuffled order: kill -9 of a host's
 * worker (started again on its spool), SIGTERM (started again), a host's cable pulled for 10–20 s, Redis
 * killed and started again from its AOF, the store (s3rver) stopped for every host for 10–15 s. Then
 * every recording is stopped, and once each has its terminal event, the drain is done and no spool
 * holds a file, the store and Redis are audited object by object:
 *   - no finished segment lost: every segment an owner reported (`segment` events) is listed under its
 *     epoch, or was recorded after a newer owner's claim (fenced, its media the newer owner's);
 *   - every listed segment in the store with its indexed bytes, nothing else there, sequences contiguous;
 *   - no two entries of a playlist overlapping (program dates, 0.5 s slack), one writer at a time;
 *   - FFmpeg decodes every playlist without an error line;
 *   - exactly one terminal event per recording, every recording `uploaded`, every job completed.
 * The media each fault cost (gaps in the program dates beyond a GOP) is printed, not asserted.
 *
 * The seed is printed; RECFLEET_CHAOS_SEED repeats a run's choices. Needs root on Linux (ip netns);
 * skipped with the reason otherwise. Run it alone: sudo npx vitest run test/fault/chaos-soak.test.ts
 */
import { describe, expect, it } from 'vitest';
import { chaosFaultLines, chaosSoakReport } from '../src/harness/chaos-report.js';
import { FAULT_KINDS, runChaosSoak } from '../src/harness/chaos-soak.js';
import { scaled } from '../src/harness/channel-fleet.js';
import { netnsUnavailableReason } from '../src/harness/netns.js';

const note = (line: string): void => void process.stderr.write(`chaos-soak: ${line}\n`);

// In the suite (about 2.5 min on 2 cores) wherever network namespaces can be made; RECFLEET_CHAOS_SUITE=0
// leaves it out (a quick local run).
const optedOut = process.env.RECFLEET_CHAOS_SUITE === '0';
const unavailable = optedOut ? 'left out: RECFLEET_CHAOS_SUITE=0' : netnsUnavailableReason();
if (unavailable) {
  note(
    `SKIPPED — ${unavailable}. Run it as root on Linux: sudo npx vitest run test/fault/chaos-soak.test.ts`,
  );
}

const seedFromEnv = process.env.RECFLEET_CHAOS_SEED;

describe.skipIf(unavailable !== undefined)('the chaos soak, short', () => {
  it(
    'loses no finished segment, lists none twice, decodes every playlist and ends each recording once',
    async () => {
      const result = await runChaosSoak({
        durationMs: 80_000,
        minFaults: FAULT_KINDS.length,
        faultEveryMs: [15_000, 19_000],
        ...(seedFromEnv ? { seed: Number(seedFromEnv) } : {}),
        log: note,
      });
      for (const line of [...chaosFaultLines(result), '', ...chaosSoakReport(result).split('\n')]) note(line);

      expect(new Set(result.faults.map((f) => f.kind)), `seed ${result.seed}`).toEqual(new Set(FAULT_KINDS));
      const { audit } = result;
      expect(result.problems, `seed ${result.seed}`).toEqual([]);
      expect(audit.problems, `seed ${result.seed}`).toEqual([]);
      expect(audit.recordings).toBe(30);
      // 20 single streams and 10 channel recordings of two users, each user one track.
      expect(audit.tracks).toBe(40);
      expect(audit.lostSegments).toBe(0);
      expect(audit.overlaps).toBe(0);
      expect(audit.decodeFailures).toBe(0);
      expect(audit.terminalProblems).toBe(0);
      expect(audit.segments).toBeGreaterThanOrEqual(audit.reportedSegments - audit.fencedSegments);
    },
    scaled(600_000),
  );
});
