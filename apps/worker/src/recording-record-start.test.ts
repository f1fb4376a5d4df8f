/**
 * A worker's start of a job no producer started (startRecording-5 as `startedBy: worker`, refuseStart-4)
 * against a private redis-server: it writes what RecordingClient.start would have, is idempotent across
 * runs of the job, keeps a stop or cancel request written before it, frees an identity held by an ended
 * recording, and refuses an identity another active recording holds — the refused id ending `failed`.
 */
import {
  activeRecordingKey,
  parseRecordingJob,
  recordingRedisKeys,
  recordingsIndexKey,
  webhookRecordingsKey,
  type RecordingJob,
} from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import { RecordingRecord } from './recording-record.js';
import { usePrivateRedis } from './test-support.js';

const PREFIX = 'start';
const bed = usePrivateRedis();

function spec(recordingId: string, uid: number, callbackUrl?: string): RecordingJob {
  return parseRecordingJob({
    recordingId,
    appId: 'app',
    channel: 'room',
    uid,
    sourceUrl: 'rtmp://127.0.0.1/live/room',
    storage: { profile: 'local' },
    ...(callbackUrl ? { callbackUrl } : {}),
  });
}
const record = (id: string): RecordingRecord => new RecordingRecord(bed.redis, PREFIX, id);
const fields = (id: string): Promise<Record<string, string>> =>
  bed.redis.hgetall(recordingRedisKeys(PREFIX, id).record);
const eventTypes = async (id: string): Promise<string[]> =>
  (await bed.redis.xrange(recordingRedisKeys(PREFIX, id).events, '-', '+')).map(([, f]) => f[1]!);

describe('RecordingRecord.start', () => {
  it('writes the record, identity lock, list entry and webhook registration, once', async () => {
    const job = spec('s-created', 1, 'https://hooks.example/recfleet');
    expect(await record('s-created').start(job)).toEqual({ type: 'created' });
    expect(await fields('s-created')).toMatchObject({
      recordingId: 's-created',
      state: 'queued',
      appId: 'app',
      channel: 'room',
      uid: '1',
      startedBy: 'worker',
      kind: 'single_stream',
      callbackUrl: 'https://hooks.example/recfleet',
    });
    expect(await bed.redis.get(activeRecordingKey(PREFIX, 'app', 'room', 1))).toBe('s-created');
    expect(await bed.redis.zscore(recordingsIndexKey(PREFIX), 's-created')).not.toBeNull();
    expect(await bed.redis.sismember(webhookRecordingsKey(PREFIX), 's-created')).toBe(1);

    // The job run again (put back, retried, resumed after a crash): the record is left as it is.
    await bed.redis.hset(recordingRedisKeys(PREFIX, 's-created').record, 'state', 'recording');
    expect(await record('s-created').start(job)).toEqual({ type: 'exists' });
    expect((await fields('s-created')).state).toBe('recording');
    expect(await eventTypes('s-created')).toEqual(['queued']);
  });

  it('keeps a cancel written as the record’s fields before any worker took the job', async () => {
    const key = recordingRedisKeys(PREFIX, 's-control').record;
    await bed.redis.hset(key, 'control', 'cancel', 'controlAt', 1234);
    expect(await record('s-control').start(spec('s-control', 2))).toEqual({ type: 'created' });
    expect(await fields('s-control')).toMatchObject({
      recordingId: 's-control',
      state: 'queued',
      control: 'cancel',
      controlAt: '1234',
    });
    expect(await record('s-control').controlRequest()).toBe('cancel');
  });

  it('completes a record a worker wrote without a start, keeping its state and creation time', async () => {
    const key = recordingRedisKeys(PREFIX, 's-older').record;
    await bed.redis.hset(key, 'state', 'recording', 'createdAt', 1000, 'owner', 'h:1');
    expect(await record('s-older').start(spec('s-older', 3))).toEqual({ type: 'created' });
    expect(await fields('s-older')).toMatchObject({
      recordingId: 's-older',
      state: 'recording',
      createdAt: '1000',
    });
    expect(await bed.redis.zscore(recordingsIndexKey(PREFIX), 's-older')).toBe('1000');
    expect(await eventTypes('s-older')).toEqual([]);
  });

  it('frees an identity held by an ended recording, and refuses one an active recording holds', async () => {
    await record('s-ended').start(spec('s-ended', 4));
    await bed.redis.hset(recordingRedisKeys(PREFIX, 's-ended').record, 'state', 'uploaded');
    expect(await record('s-next').start(spec('s-next', 4))).toEqual({ type: 'created' });
    expect(await bed.redis.get(activeRecordingKey(PREFIX, 'app', 'room', 4))).toBe('s-next');

    const refused = spec('s-refused', 4, 'https://hooks.example/refused');
    expect(await record('s-refused').start(refused)).toEqual({ type: 'active', otherId: 's-next' });
    expect(await fields('s-refused')).toEqual({});
    const failure = { code: 'RECORDING_ACTIVE' as const, message: 'busy', otherId: 's-next' };
    expect(await record('s-refused').refuseStart(refused, failure)).toBe(true);
    expect(await fields('s-refused')).toMatchObject({
      recordingId: 's-refused',
      state: 'failed',
      errorCode: 'RECORDING_ACTIVE',
      terminal: 'fatal_error',
      callbackUrl: 'https://hooks.example/refused',
    });
    expect(await eventTypes('s-refused')).toEqual(['queued', 'fatal_error']);
    expect(await bed.redis.sismember(webhookRecordingsKey(PREFIX), 's-refused')).toBe(1);
    expect(await bed.redis.zscore(recordingsIndexKey(PREFIX), 's-refused')).not.toBeNull();
    // The identity stays the active recording's; a second refusal changes nothing.
    expect(await bed.redis.get(activeRecordingKey(PREFIX, 'app', 'room', 4))).toBe('s-next');
    expect(await record('s-refused').refuseStart(refused, failure)).toBe(false);
    expect(await record('s-refused').start(refused)).toEqual({ type: 'exists' });
    expect(await eventTypes('s-refused')).toEqual(['queued', 'fatal_error']);
  });
});
