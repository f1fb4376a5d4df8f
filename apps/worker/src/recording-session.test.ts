/**
 * A recording session's lifecycle without the native addon: a scripted recorder writes real segment
 * files into the spool and emits the engine's events; Redis (a private redis-server), BullMQ and the
 * local store are real. Each way a session can end is driven here: delivered, handed off (and resumed),
 * fenced by a newer owner, a fatal recorder error, cancelled, and a store that refuses the segments.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  backedUpSetKey,
  parseFailure,
  parseRecordingJob,
  recordingRedisKeys,
  type RecordingResult,
} from '@recfleet/contract';
import { LocalDiskStorage, recordingObjectKeys, StorageError, type StorageAdapter } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingFailedError } from './recording-failure.js';
import { RecordingSession, SessionFencedError } from './recording-session.js';
import {
  ScriptedRecorder,
  SessionTestbed,
  storeWithPut,
  takeOver,
  type Script,
  type TestRun,
} from './test-support.js';

const PREFIX = 'sess';
let bed: SessionTestbed;
let redis: SessionTestbed['redis'];
let dir: string;
let storeRoot: string;

beforeAll(async () => {
  bed = await SessionTestbed.start(PREFIX);
  redis = bed.redis;
  dir = bed.dir;
  storeRoot = bed.storeRoot;
});
afterAll(async () => {
  await bed?.stop();
});

type Run = TestRun<RecordingSession> & { recorders: ScriptedRecorder[] };

/**
 * Runs one recording job through a real BullMQ worker whose processor is a RecordingSession with the
 * next script's recorder (a handed-off job runs again, with the next script).
 */
async function runRecording(
  recordingId: string,
  scripts: Script[],
  options: { store?: StorageAdapter } = {},
): Promise<Run> {
  const recorders: ScriptedRecorder[] = [];
  const run = await bed.run(
    recordingId,
    {},
    ({ job, token, record, ownership, attempt, log, slots }) => {
      const recorder = new ScriptedRecorder(scripts[attempt]!);
      recorders.push(recorder);
      return new RecordingSession({
        job,
        token,
        spec: parseRecordingJob(job.data),
        sourceUrl: 'rtmp://127.0.0.1:1935/app/room',
        createRecorder: () => recorder,
        store: options.store ?? new LocalDiskStorage(storeRoot),
        record,
        redis,
        ownership,
        uploadSlots: slots,
        uploadAttemptTimeoutMs: 5000,
        backedUpSetKey: backedUpSetKey(PREFIX),
        spoolDir: join(dir, 'spool'),
        progressIntervalMs: 50,
        gapSeconds: 2,
        controlPollMs: 20,
        log,
      });
    },
    scripts.length,
  );
  return Object.assign(run, { recorders });
}

function eventTypes(recordingId: string): Promise<string[]> {
  return bed.eventTypes(recordingId);
}

async function events(recordingId: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  return (await bed.events(recordingId)).map(({ type, data }) => ({ type, data }));
}

function recordFields(recordingId: string): Promise<Record<string, string>> {
  return bed.recordFields(recordingId);
}

function playlist(recordingId: string): Promise<string> {
  return readFile(join(storeRoot, recordingObjectKeys(recordingId, 'room').playlistKey), 'utf8');
}

describe('recording session', () => {
  it('delivers every segment and the final playlist, and ends uploaded', async () => {
    const run = await runRecording('rec-delivered', [{ segments: 3 }]);
    const result = await run.outcomes[0]!;
    expect(result).toMatchObject({
      outcome: 'uploaded',
      stopReason: 'source_ended',
      segments: 3,
      bytes: 3000,
    });
    const fields = await recordFields('rec-delivered');
    expect(fields).toMatchObject({ state: 'uploaded', ended: '1', segments: '3', owner: 'test:0' });
    expect(JSON.parse(fields.result!)).toEqual(result);
    const types = await eventTypes('rec-delivered');
    expect(types.slice(0, 2)).toEqual(['joined', 'started']);
    expect(types.filter((t) => t === 'segment')).toHaveLength(3);
    expect(types.filter((t) => t === 'uploaded_segment')).toHaveLength(3);
    expect(types.at(-1)).toBe('uploaded');
    const text = await playlist('rec-delivered');
    expect(text.split('\n').filter((l) => l.endsWith('.ts'))).toHaveLength(3);
    expect(text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    // The spool is emptied only once everything is in the store.
    expect(await readdir(join(dir, 'spool'))).not.toContain('rec-delivered');
    expect((await run.job()).progress).toMatchObject({
      segments: 3,
      segmentsUploaded: 3,
      uploadPercent: 100,
    });
  });

  it('hands off at a segment boundary, and the next session resumes the same playlist', async () => {
    const run = await runRecording('rec-handoff', [{ segmentMs: 100 }, { segments: 2 }]);
    await expect
      .poll(async () => (await eventTypes('rec-handoff')).filter((t) => t === 'segment').length)
      .toBeGreaterThanOrEqual(2);
    await run.sessions[0]!.handOff();
    const first = await run.outcomes[0]!;
    expect(first).toBeInstanceOf(Error);
    expect((first as Error).name).toBe('WaitingError');
    const second = await run.outcomes[1]!;
    // The second session started after every segment of the first (3: the one being written when the
    // hand-off came was finished), flagged the discontinuity, and ended the same playlist.
    const handedOffAt = run.recorders[1]!.options!;
    const firstSegments = run.recorders[0]!.sequences.length;
    expect(firstSegments).toBeGreaterThanOrEqual(3);
    expect(handedOffAt.startSequence).toBe(firstSegments);
    expect(handedOffAt.discontinuity).toBe(true);
    expect(second).toMatchObject({ outcome: 'uploaded', segments: firstSegments + 2 });
    const types = await eventTypes('rec-handoff');
    expect(types.filter((t) => t === 'handoff')).toHaveLength(1);
    expect(types.indexOf('handoff')).toBeLessThan(types.lastIndexOf('joined'));
    const fields = await recordFields('rec-handoff');
    expect(fields).toMatchObject({ state: 'uploaded', epoch: '2', owner: 'test:1' });
    const listed = (await playlist('rec-handoff')).split('\n').filter((l) => l.endsWith('.ts'));
    expect(listed).toEqual(
      [...Array(firstSegments + 2).keys()].map((s) =>
        recordingObjectKeys('rec-handoff', 'room').segmentName(s),
      ),
    );
  });

  it('stops writing once a newer owner has claimed the recording, and leaves record and playlist alone', async () => {
    const run = await runRecording('rec-fenced', [{}]);
    await expect
      .poll(async () => (await eventTypes('rec-fenced')).filter((t) => t === 'uploaded_segment').length)
      .toBeGreaterThanOrEqual(2);
    // Another worker resumes the recording (its lock had expired): every later write of ours is refused.
    await takeOver(redis, PREFIX, 'rec-fenced', 'other-host:1');
    const outcome = await run.outcomes[0]!;
    expect(outcome).toBeInstanceOf(SessionFencedError);
    expect((outcome as SessionFencedError).code).toBe('FENCED');
    const fields = await recordFields('rec-fenced');
    expect(fields.owner).toBe('other-host:1');
    expect(fields.state).toBe('recording');
    expect(fields.errorCode).toBeUndefined();
    const types = await eventTypes('rec-fenced');
    expect(types).not.toContain('fatal_error');
    expect(types).not.toContain('uploaded');
    // No final playlist: the new owner writes it.
    expect(await playlist('rec-fenced')).not.toContain('#EXT-X-ENDLIST');
    expect(run.logs.join('')).toContain('fenced: this worker stops writing the recording');
  });

  it("fails with the recorder's code on a fatal error, after delivering what was finished", async () => {
    const run = await runRecording('rec-fatal', [
      { segments: 1, end: { type: 'fatal_error', code: 'NO_MEDIA' } },
    ]);
    const outcome = await run.outcomes[0]!;
    await expect.poll(async () => (await run.job()).failedReason).toBeDefined();
    expect(outcome).toBeInstanceOf(RecordingFailedError);
    expect((outcome as RecordingFailedError).code).toBe('NO_MEDIA');
    expect(await recordFields('rec-fatal')).toMatchObject({
      state: 'failed',
      errorCode: 'NO_MEDIA',
      errorMessage: 'no stream selected',
    });
    const last = (await events('rec-fatal')).at(-1)!;
    expect(last).toEqual({ type: 'fatal_error', data: { code: 'NO_MEDIA', message: 'no stream selected' } });
    expect(parseFailure((await run.job()).failedReason).code).toBe('NO_MEDIA');
    expect((await eventTypes('rec-fatal')).filter((t) => t === 'uploaded_segment')).toHaveLength(1);
  });

  it('abandons the segment being written on a cancel request and ends with stop reason cancelled', async () => {
    const run = await runRecording('rec-cancel', [{}]);
    await expect
      .poll(async () => (await eventTypes('rec-cancel')).filter((t) => t === 'segment').length)
      .toBeGreaterThanOrEqual(2);
    await redis.hset(recordingRedisKeys(PREFIX, 'rec-cancel').record, 'control', 'cancel');
    const result = await run.outcomes[0]!;
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'cancelled' });
    const segments = (result as RecordingResult).segments;
    expect(segments).toBeGreaterThanOrEqual(2);
    const stopped = (await events('rec-cancel')).find((e) => e.type === 'stopped')!;
    expect(stopped.data.reason).toBe('cancelled');
    expect(await recordFields('rec-cancel')).toMatchObject({ state: 'uploaded', reason: 'cancelled' });
  });

  it('obeys a cancel already on the record when it takes the job: nothing is recorded', async () => {
    // As a producer without the API writes it (README "Through BullMQ directly"), before any worker runs.
    await redis.hset(recordingRedisKeys(PREFIX, 'rec-cancel-first').record, 'control', 'cancel');
    const run = await runRecording('rec-cancel-first', [{}]);
    const result = await run.outcomes[0]!;
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'cancelled', segments: 0 });
    expect(run.recorders[0]!.state, 'the recorder was never started').toBe('idle');
    expect(await eventTypes('rec-cancel-first')).not.toContain('segment');
    expect(await recordFields('rec-cancel-first')).toMatchObject({ state: 'uploaded', reason: 'cancelled' });
  });

  it("fails with the store's own code when the store refuses every segment, keeping them in the spool", async () => {
    await writeFile(join(dir, 'not-a-dir'), 'x');
    const store = new LocalDiskStorage(join(dir, 'not-a-dir', 'store'));
    const run = await runRecording('rec-refused', [{ segments: 2 }], { store });
    const outcome = await run.outcomes[0]!;
    await expect.poll(async () => (await run.job()).failedReason).toBeDefined();
    expect(outcome).toBeInstanceOf(RecordingFailedError);
    expect((outcome as RecordingFailedError).code).toBe('STORAGE_REFUSED');
    const fields = await recordFields('rec-refused');
    expect(fields).toMatchObject({ state: 'failed', errorCode: 'STORAGE_REFUSED' });
    expect(fields.errorMessage).toMatch(/^segments not delivered: 0, 1 /);
    const all = await events('rec-refused');
    const failures = all.filter((e) => e.type === 'uploader_failure');
    // A refusal is not retried: one attempt per segment (and per playlist write).
    expect(failures.every((f) => f.data.code === 'STORAGE_REFUSED' && f.data.willRetry === false)).toBe(true);
    expect(failures.filter((f) => f.data.sequence === 0)).toHaveLength(1);
    expect(all.at(-1)).toMatchObject({ type: 'fatal_error', data: { code: 'STORAGE_REFUSED' } });
    expect(parseFailure((await run.job()).failedReason).code).toBe('STORAGE_REFUSED');
    expect((await readdir(join(dir, 'spool', 'rec-refused'))).sort()).toEqual([
      'rec-refused_000000.ts',
      'rec-refused_000001.ts',
    ]);
  });

  it('shows a store that keeps failing on the record and the job while recording, and clears it when it works again', async () => {
    const id = 'rec-storage-flag';
    const local = new LocalDiskStorage(storeRoot);
    let failures = 0;
    let release!: () => void;
    const healed = new Promise<void>((r) => (release = r));
    const store = storeWithPut(local, async (key, body) => {
      // Three failures in a row (retryable), then the store hangs until the test lets it work again.
      if (failures < 3) {
        failures += 1;
        throw new StorageError('STORAGE_WRITE_FAILED', `${key}: 503 Service Unavailable`);
      }
      await healed;
      return local.put(key, body);
    });
    const run = await runRecording(id, [{ segmentMs: 100 }], { store });
    const keys = recordingRedisKeys(PREFIX, id);
    await expect.poll(() => redis.hget(keys.record, 'storageError'), { timeout: 10_000 }).toBeTruthy();
    const flag = JSON.parse((await redis.hget(keys.record, 'storageError'))!) as Record<string, unknown>;
    expect(flag).toMatchObject({ code: 'STORAGE_WRITE_FAILED', message: expect.stringContaining('503') });
    expect(flag.since).toEqual(expect.any(Number));
    expect((await recordFields(id)).state).toBe('recording');
    // Bull Board shows the job's progress: the flag is in it too.
    await expect
      .poll(async () => ((await run.job()).progress as { storageError?: unknown }).storageError, {
        timeout: 5000,
      })
      .toMatchObject({ code: 'STORAGE_WRITE_FAILED' });
    release();
    await expect.poll(() => redis.hget(keys.record, 'storageError'), { timeout: 10_000 }).toBeNull();
    await redis.hset(keys.record, 'control', 'stop');
    expect(await run.outcomes[0]!).toMatchObject({ outcome: 'uploaded' });
    const types = await eventTypes(id);
    expect(types.filter((t) => t.startsWith('storage_error'))).toEqual([
      'storage_error',
      'storage_error_cleared',
    ]);
    expect(types.indexOf('storage_error')).toBeGreaterThan(types.indexOf('uploader_failure'));
    expect(types.indexOf('storage_error_cleared')).toBeLessThan(types.indexOf('uploaded_segment'));
    expect((await run.job()).progress).not.toHaveProperty('storageError');
  });

  it('refuses every event of a fenced owner after the new claim, and reports no stop reason of its own', async () => {
    const id = 'rec-fenced-events';
    const run = await runRecording(id, [{ segmentMs: 50 }]);
    await expect
      .poll(async () => (await eventTypes(id)).filter((t) => t === 'segment').length)
      .toBeGreaterThan(2);
    await takeOver(redis, PREFIX, id, 'other-host:1');
    expect(await run.outcomes[0]!).toBeInstanceOf(SessionFencedError);
    const entries = await redis.xrange(recordingRedisKeys(PREFIX, id).events, '-', '+');
    const epochs = entries.map(([, f]) => f[f.indexOf('epoch') + 1]);
    expect(new Set(epochs)).toEqual(new Set(['1']));
    const types = await eventTypes(id);
    expect(types).not.toContain('stopped');
    expect(run.logs.join('')).toMatch(
      /segments recorded after another worker claimed the recording were discarded|fenced/,
    );
  });

  it("reports a stream change with the source's new streams, and a gap in the source, as their own events", async () => {
    const id = 'rec-stream-events';
    const run = await runRecording(id, [{ segmentMs: 100 }]);
    await expect
      .poll(async () => (await eventTypes(id)).filter((t) => t === 'segment').length)
      .toBeGreaterThan(1);
    const recorder = run.recorders[0]!;
    const counts = { reconnects: 0, corruptPackets: 0, droppedPackets: 0 };
    const streams = [{ index: 0, kind: 'video', codec: 'h264', width: 1280, height: 720, frameRate: 30 }];
    // What the engine reports (the gap's code and the streams' list are the engine's to send).
    const failure = (e: Record<string, unknown>): void =>
      void recorder.emit('recorder_failure', {
        type: 'recorder_failure',
        recordingId: id,
        counts,
        ...e,
      } as never);
    failure({
      code: 'STREAM_CHANGED',
      message: "the source's streams changed; continuing in a new segment",
      streams,
    });
    failure({ code: 'SOURCE_GAP', message: 'no media for 4.1 s', gapSeconds: 4.1 });
    failure({ code: 'CORRUPT_PACKETS', message: 'corrupt packets skipped' });
    await expect.poll(async () => (await eventTypes(id)).includes('gap')).toBe(true);
    await redis.hset(recordingRedisKeys(PREFIX, id).record, 'control', 'stop');
    await run.outcomes[0];
    const all = await events(id);
    expect(all.find((e) => e.type === 'stream_changed')?.data).toMatchObject({ streams });
    expect(all.find((e) => e.type === 'gap')?.data).toMatchObject({ seconds: 4.1 });
    expect(all.filter((e) => e.type === 'recorder_failure').map((e) => e.data.code)).toEqual([
      'CORRUPT_PACKETS',
    ]);
  });
});
