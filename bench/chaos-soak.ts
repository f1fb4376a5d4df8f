/**
 * The chaos soak (`npm run soak`): three worker hosts in network namespaces, 30 recordings (20 single
 * streams, 10 channel recordings of two users), a fault every 20–40 s at random — kill -9 of a host's
 * worker, SIGTERM, a host's cable pulled, Redis killed and started again from its AOF, the store down
 * for everyone — then every recording stopped and audited object by object (test/src/harness/
 * chaos-soak.ts, chaos-audit.ts). Prints the faults one per line and a markdown table: faults by kind
 * with the media each cost, and the audit's counts, then PASS or MISS (exit code 1 on a MISS).
 *
 * Needs root on Linux (ip netns). Flags: --minutes N (20, of faults)  --seed S (drawn and printed)
 *   --recordings N (30)  --every-min S (20)  --every-max S (40)
 *   --log-dir DIR (keep every worker's log there)  --json FILE (write the whole result there)
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  chaosFaultLines,
  chaosSoakReport,
  netnsUnavailableReason,
  runChaosSoak,
} from '@recfleet/test/harness';
import { positiveFlag } from './engine-support.js';

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string' },
    seed: { type: 'string' },
    recordings: { type: 'string' },
    'every-min': { type: 'string' },
    'every-max': { type: 'string' },
    'log-dir': { type: 'string' },
    json: { type: 'string' },
  },
});
const MINUTES = positiveFlag('minutes', flags.minutes, 20);
const SEED = flags.seed === undefined ? undefined : positiveFlag('seed', flags.seed, 1, true);
const RECORDINGS = positiveFlag('recordings', flags.recordings, 30, true);
const EVERY: [number, number] = [
  positiveFlag('every-min', flags['every-min'], 20) * 1000,
  positiveFlag('every-max', flags['every-max'], 40) * 1000,
];

const unavailable = netnsUnavailableReason();
if (unavailable) {
  process.stderr.write(`soak: cannot run here: ${unavailable}. Run it as root on Linux: sudo npm run soak\n`);
  process.exit(2);
}
const started = Date.now();
const result = await runChaosSoak({
  durationMs: MINUTES * 60_000,
  recordings: RECORDINGS,
  faultEveryMs: EVERY,
  ...(SEED === undefined ? {} : { seed: SEED }),
  ...(flags['log-dir'] ? { logDir: flags['log-dir'] } : {}),
  log: (line) => process.stderr.write(`soak +${((Date.now() - started) / 1000).toFixed(0)} s: ${line}\n`),
});
if (flags.json) await writeFile(flags.json, JSON.stringify(result, null, 2));
process.stdout.write(`${chaosFaultLines(result).join('\n')}\n\n${chaosSoakReport(result)}\n`);
const findings = [...result.problems, ...result.audit.problems];
for (const p of findings) process.stdout.write(`- ${p}\n`);
process.exit(result.passed ? 0 : 1);
