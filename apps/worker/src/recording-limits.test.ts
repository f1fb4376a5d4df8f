/**
 * The longest recording: 7 days, whether the job sets maxDurationSeconds or not, counted over the whole
 * recording however often it is resumed, and within the sequence numbers' six digits. A scripted
 * recorder stands in for the engine (whose own maxDurationSeconds stop is tested in engine-binding): it
 * is given the limit at start, and ends with `max_duration` as the engine does on reaching it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  backedUpSetKey,
  MAX_DURATION_SECONDS_RULE,
  parseRecordingJob,
  recordingRedisKeys,
} from '@recfleet/contract';
import { LAST_SEQUENCE, LocalDiskStorage, recordingObjectKeys } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LONGEST_RECORDING_SECONDS,
  recorderDurationLimit,
  recordingDurationLimit,
  remainingDuration,
} from './recording-limits.js';
import { RecordingSession } from './recording-session.js';
import { ScriptedRecorder, SessionTestbed, takeOver, TEST_OWNERSHIP, type Script } from './test-support.js';

const PREFIX = 'limits';
let bed: SessionTestbed;
beforeAll(async () => {
  bed = await SessionTestbed.start(PREFIX);
});
afterAll(async () => {
  await bed?.stop();
});

async function runRecording(
  recordingId: string,
  scripts: Script[],
  data: Record<string, unknown> = {},
): Promise<{
  outcomes: Promise<unknown>[];
  recorders: ScriptedRecorder[];
  handOff(i: number): Promise<void>;
}> {
  const recorders: ScriptedRecorder[] = [];
  const run = await bed.run(
    recordingId,
    data,
    ({ job, token, record, ownership, attempt, log, slots }) => {
      const recorder = new ScriptedRecorder(scripts[attempt]!);
      recorders.push(recorder);
      return new RecordingSession({
        job,
        token,
        spec: parseRecordingJob(job.data),
        sourceUrl: 'rtmp://127.0.0.1:1935/app/room',
        createRecorder: () => recorder,
        store: new LocalDiskStorage(bed.storeRoot),
        record,
        redis: bed.redis,
        ownership,
        uploadSlots: slots,
        uploadAttemptTimeoutMs: 5000,
        backedUpSetKey: backedUpSetKey(PREFIX),
        spoolDir: join(bed.dir, 'spool'),
        progressIntervalMs: 1000,
        gapSeconds: 2,
        controlPollMs: 20,
        log,
      });
    },
    scripts.length,
  );
  return { outcomes: run.outcomes, recorders, handOff: (i) => run.sessions[i]!.handOff() };
}

describe('the longest recording', () => {
  it('is 7 days, the largest maxDurationSeconds, and also the limit of a job that sets none', () => {
    expect(LONGEST_RECORDING_SECONDS).toBe(7 * 24 * 3600);
    expect(LONGEST_RECORDING_SECONDS).toBe(MAX_DURATION_SECONDS_RULE.max);
    expect(recordingDurationLimit(undefined)).toBe(LONGEST_RECORDING_SECONDS);
    expect(recordingDurationLimit(3600)).toBe(3600);
    // At the shortest segments (1 s) it needs 604,800 sequence numbers of the 1,000,000 six digits give.
    expect(LONGEST_RECORDING_SECONDS / 1).toBeLessThan(LAST_SEQUENCE);
    expect(remainingDuration(undefined, 3600.5)).toBe(LONGEST_RECORDING_SECONDS - 3601);
    expect(remainingDuration(3600, 3600)).toBe(1);
    // A track near the last sequence number records no more than its numbers can hold.
    expect(recorderDurationLimit(undefined, 0, 1)).toBeUndefined();
    expect(recorderDurationLimit(3600, LAST_SEQUENCE - 10, 6)).toBe(60);
    expect(recorderDurationLimit(undefined, LAST_SEQUENCE - 10, 2)).toBe(20);
  });

  it('ends a recording with no maxDurationSeconds at 7 days of media, with stop reason max_duration', async () => {
    const run = await runRecording('rec-week', [
      { segments: 3, end: { type: 'stopped', reason: 'max_duration' } },
    ]);
    const result = await run.outcomes[0];
    expect(run.recorders[0]!.options!.maxDurationSeconds).toBe(LONGEST_RECORDING_SECONDS);
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'max_duration', segments: 3 });
    const text = await readFile(
      join(bed.storeRoot, recordingObjectKeys('rec-week', 'room').playlistKey),
      'utf8',
    );
    expect(text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });

  it('counts the limit over the whole recording when it is resumed elsewhere', async () => {
    const run = await runRecording(
      'rec-resumed-limit',
      [{}, { segments: 1, end: { type: 'stopped', reason: 'max_duration' } }],
      { recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 5, maxDurationSeconds: 100 } },
    );
    await expect.poll(() => run.recorders[0]?.sequences.length ?? 0).toBeGreaterThanOrEqual(3);
    await run.handOff(0);
    const result = await run.outcomes[1];
    const first = run.recorders[0]!;
    expect(first.options!.maxDurationSeconds).toBe(100);
    // The scripted recorder's segments last 1 s each: what is left of 100 s after them.
    expect(run.recorders[1]!.options!.maxDurationSeconds).toBe(100 - first.sequences.length);
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'max_duration' });
  });

  it('ends a track that reaches the last sequence number as max_duration, every key within six digits', async () => {
    const recordingId = 'rec-last-sequence';
    const rk = recordingRedisKeys(PREFIX, recordingId);
    // An earlier owner recorded up to 999,990 (only its last entry matters for where the track goes on).
    const epoch = await takeOver(bed.redis, PREFIX, recordingId, 'earlier:1');
    const earlier = {
      sequence: LAST_SEQUENCE - 9,
      durationSeconds: 1,
      bytes: 1000,
      discontinuity: false,
      location: 'primary',
      key: recordingObjectKeys(recordingId, 'room').segmentKey(LAST_SEQUENCE - 9),
      epoch,
      at: Date.now(),
    };
    await bed.redis.hset(rk.segments, String(earlier.sequence), JSON.stringify(earlier));
    // The earlier owner died: its heartbeat goes stale, and the next worker may claim the recording.
    await new Promise((resolve) => setTimeout(resolve, TEST_OWNERSHIP.takeoverAfterMs + 100));
    // 8 s of media in segments of at least 1 s: at most 9 segments, numbered up to LAST_SEQUENCE. The
    // script writes all 9 before it stops as the engine does.
    const run = await runRecording(recordingId, [
      { segments: 9, end: { type: 'stopped', reason: 'max_duration' } },
    ]);
    const result = await run.outcomes[0];
    const options = run.recorders[0]!.options!;
    expect(options.startSequence).toBe(LAST_SEQUENCE - 8);
    expect(options.maxDurationSeconds).toBe(8);
    expect(run.recorders[0]!.sequences.at(-1)).toBe(LAST_SEQUENCE);
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'max_duration' });
    const text = await readFile(
      join(bed.storeRoot, recordingObjectKeys(recordingId, 'room').playlistKey),
      'utf8',
    );
    expect(text).toContain(`${recordingId}_room_${LAST_SEQUENCE}.ts`);
    expect(text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });
});
