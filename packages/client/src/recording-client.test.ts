import {
  activeRecordingKey,
  formatFailure,
  RECORD_JOB_NAME,
  RECORDINGS_QUEUE,
  recordingRedisKeys,
  recordingsIndexKey,
  webhookRecordingsKey,
  type RecordingEvent,
  RedisUnavailableError,
  storageProfilesKey,
} from '@recfleet/contract';
import { freePort, RedisServer } from '@recfleet/embedded';
import { Queue, RedisQueueBackend, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecordingClient, RecordingEndedError, RecordingNotFoundError } from './recording-client.js';

let server: RedisServer;
let redis: Redis;
let client: RecordingClient;
const workers: Worker[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url);
  client = new RecordingClient({ redisUrl: server.url });
});

afterAll(async () => {
  for (const w of workers) await w.close(true);
  await client?.close();
  redis?.disconnect();
  await server?.stop();
});

beforeEach(async () => {
  for (const w of workers.splice(0)) await w.close(true);
  await redis.flushall();
  await redis.sadd(storageProfilesKey('recfleet'), 'local');
});

let uid = 1;
function request(id = uid++) {
  return { appId: 'app', channel: 'room', uid: id, storage: { profile: 'local' } };
}

/** A BullMQ worker on the recordings queue, as a recfleet worker would take jobs (not started yet). */
function worker(processor: ConstructorParameters<typeof Worker>[1]): Worker {
  const w = new Worker(RECORDINGS_QUEUE, processor, {
    connection: new Redis(server.url, { maxRetriesPerRequest: null }),
    prefix: 'recfleet',
    autorun: false,
  });
  w.on('error', () => undefined);
  workers.push(w);
  return w;
}

/** A worker takes the waiting job, reports `progress` on it and keeps it active. */
async function takenWithProgress(progress: Record<string, number>): Promise<void> {
  let progressed!: () => void;
  const reported = new Promise<void>((resolve) => (progressed = resolve));
  void worker(async (job) => {
    await job.updateProgress(progress);
    progressed();
    await new Promise((r) => setTimeout(r, 60_000));
  }).run();
  await reported;
}

describe('stop and cancel', () => {
  it('a stop that loses the race to a worker taking the job reaches the running recording; its record never says failed', async () => {
    const req = request();
    const { recordingId } = await client.start(req);
    const record = recordingRedisKeys('recfleet', recordingId).record;
    let taken!: () => void;
    const takenByWorker = new Promise<void>((resolve) => (taken = resolve));
    let seenByWorker: string | null = null;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const w = worker(async () => {
      taken();
      // Like the recfleet worker: it acts on the durable `control` field of the record.
      while (!seenByWorker) {
        seenByWorker = await redis.hget(record, 'control');
        await new Promise((r) => setTimeout(r, 50));
      }
      await finished;
    });
    // The interleaving: the client reads the job as waiting, and a worker takes it before its next step.
    const getState = RedisQueueBackend.prototype.getState;
    let raced = false;
    const spy = vi.spyOn(RedisQueueBackend.prototype, 'getState').mockImplementation(async function (
      this: RedisQueueBackend,
      jobId: string,
    ) {
      const state = await getState.call(this, jobId);
      if (jobId === recordingId && state === 'waiting' && !raced) {
        raced = true;
        void w.run();
        await takenByWorker;
      }
      return state;
    });
    try {
      await client.stop(recordingId);
    } finally {
      spy.mockRestore();
    }
    expect(raced).toBe(true);
    const status = await client.get(recordingId);
    expect(status.state).toBe('queued');
    expect(status.jobState).toBe('active');
    expect(status.error).toBeUndefined();
    // The identity is still taken: starting it again answers the running recording.
    expect(await redis.get(activeRecordingKey('recfleet', req.appId, req.channel, req.uid))).toBe(
      recordingId,
    );
    expect(await client.start({ ...req, recordingId: 'second-start' })).toEqual({
      recordingId,
      created: false,
    });
    await expect.poll(() => seenByWorker, { timeout: 5000 }).toBe('stop');
    finish();
  });

  it('a recording cancelled while queued ends at once with CANCELLED, and its followers end too', async () => {
    const req = request();
    const { recordingId } = await client.start(req);
    expect(await client.cancel(recordingId)).toEqual({ recordingId, requested: 'cancel', state: 'failed' });
    const status = await client.get(recordingId);
    expect(status).toMatchObject({ state: 'failed', jobState: 'unknown', error: { code: 'CANCELLED' } });
    const events: RecordingEvent[] = [];
    for await (const e of client.follow(recordingId)) events.push(e);
    expect(events.map((e) => e.type)).toEqual(['queued', 'fatal_error']);
    expect(events[1]!.data).toMatchObject({ code: 'CANCELLED' });
    // Over: a new recording of the identity starts.
    expect((await client.start(req)).created).toBe(true);
  });

  it('never takes out of the queue the waiting job of a recording that has started (back after a crash or an outage)', async () => {
    const { recordingId } = await client.start(request());
    // Its worker recorded, then died (or its lock lapsed in a Redis outage): the job waits again.
    await redis.hset(recordingRedisKeys('recfleet', recordingId).record, 'state', 'recording');
    expect(await client.stop(recordingId)).toEqual({ recordingId, requested: 'stop', state: 'recording' });
    // The next worker to take the job finalizes the recording on the stored request.
    expect(await client.get(recordingId)).toMatchObject({ state: 'recording', jobState: 'waiting' });
    expect(await redis.hget(recordingRedisKeys('recfleet', recordingId).record, 'control')).toBe('stop');
  });

  it('refuses to stop or cancel a recording that has ended, saying so', async () => {
    const { recordingId } = await client.start(request());
    await client.cancel(recordingId);
    for (const control of [() => client.stop(recordingId), () => client.cancel(recordingId)]) {
      const err = await control().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RecordingEndedError);
      expect(err).toMatchObject({
        code: 'RECORDING_ENDED',
        category: 'conflict',
        httpStatus: 409,
        exitCode: 6,
      });
    }
    await expect(client.stop('no-such-recording')).rejects.toMatchObject({ code: 'RECORDING_NOT_FOUND' });
  });
});

describe('a failed start never leaves a record that blocks its id', () => {
  /** Everything startRecording-5 writes for a recording. */
  async function footprint(recordingId: string, uidOf: number) {
    const keys = recordingRedisKeys('recfleet', recordingId);
    return {
      record: await redis.exists(keys.record),
      events: await redis.exists(keys.events),
      indexed: await redis.zscore('recfleet:recordings', recordingId),
      active: await redis.get(activeRecordingKey('recfleet', 'app', 'room', uidOf)),
    };
  }

  it('Redis refusing the job (NOPERM on the queue keys) undoes the start; the same id then starts', async () => {
    const id = 'refused-add-1';
    const req = { ...request(), recordingId: id, callbackUrl: 'http://127.0.0.1:9/hook' };
    // The record's keys may be written, the queue's may not: the add fails after the record was made.
    await redis.call(
      'ACL',
      'SETUSER',
      'default',
      'resetkeys',
      '~recfleet:rec:*',
      '~recfleet:active:*',
      '~recfleet:recordings',
      '~recfleet:webhooks',
      '~recfleet:storage-profiles',
    );
    try {
      const err = await client.start(req).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RedisUnavailableError);
      expect(err).toMatchObject({ code: 'REDIS_UNAVAILABLE', httpStatus: 503, exitCode: 5 });
      expect((err as Error).message).toMatch(/refused to enqueue recording refused-add-1 \(NOPERM/);
      expect(await footprint(id, req.uid)).toEqual({ record: 0, events: 0, indexed: null, active: null });
      expect(await redis.sismember('recfleet:webhooks', id)).toBe(0);
    } finally {
      await redis.call('ACL', 'SETUSER', 'default', 'allkeys');
    }
    expect(await client.start(req)).toEqual({ recordingId: id, created: true });
    const status = await client.get(id);
    expect(status).toMatchObject({ state: 'queued', jobState: 'waiting' });
    expect(await redis.sismember('recfleet:webhooks', id)).toBe(1);
  });

  it('Redis killed while starts are under way: every id starts again afterwards, none is left failed', async () => {
    const aof = await RedisServer.start({ appendOnly: true });
    const starter = new RecordingClient({ redisUrl: aof.url, redisTimeoutMs: 1000 });
    const direct = new Redis(aof.url, { maxRetriesPerRequest: null });
    direct.on('error', () => undefined);
    try {
      await direct.sadd(storageProfilesKey('recfleet'), 'local');
      await starter.start({ ...request(), recordingId: 'warm-up' });
      const ids = Array.from({ length: 60 }, (_, i) => `killed-start-${i}`);
      const uids = new Map(ids.map((id) => [id, uid++]));
      const attempts = ids.map(async (id, i) => {
        // Spread over the moment of the kill: some finish, some fail before, between or after the steps.
        await new Promise((r) => setTimeout(r, i % 20));
        return starter.start({ ...request(uids.get(id)), recordingId: id }).then(
          () => 'started',
          (e: unknown) => (e instanceof RedisUnavailableError ? 'unavailable' : String(e)),
        );
      });
      await new Promise((r) => setTimeout(r, 8));
      await aof.kill();
      const outcomes = await Promise.all(attempts);
      expect(outcomes.every((o) => o === 'started' || o === 'unavailable')).toBe(true);
      expect(outcomes).toContain('unavailable');
      await aof.restart();

      const after = new RecordingClient({ redisUrl: aof.url });
      try {
        const states = await Promise.all(
          ids.map((id) => direct.hget(recordingRedisKeys('recfleet', id).record, 'state')),
        );
        // A start that failed left nothing, or a record still queued (never one that is failed).
        expect(states.every((s) => s === null || s === 'queued')).toBe(true);
        for (const id of ids) {
          const again = await after.start({ ...request(uids.get(id)), recordingId: id });
          expect(again.recordingId).toBe(id);
          expect(await after.get(id)).toMatchObject({ state: 'queued', jobState: 'waiting' });
        }
      } finally {
        await after.close();
      }
    } finally {
      await starter.close();
      direct.disconnect();
      await aof.stop();
    }
  });
});

describe('the read model', () => {
  it("reports the code a recording failed with, as its record and its job's reason both say", async () => {
    const { recordingId } = await client.start(request());
    const record = recordingRedisKeys('recfleet', recordingId).record;
    const message = 'the store refused the credentials';
    void worker(async () => {
      await redis.hset(record, { state: 'failed', errorCode: 'STORAGE_AUTH_FAILED', errorMessage: message });
      throw new Error(formatFailure('STORAGE_AUTH_FAILED', message));
    }).run();
    await expect.poll(async () => (await client.get(recordingId)).jobState, { timeout: 5000 }).toBe('failed');
    const status = await client.get(recordingId);
    expect(status.error).toEqual({ code: 'STORAGE_AUTH_FAILED', message });
    // The record's code wins when a bare consumer failed the job with a reason in another form.
    await redis.hset(record, { errorCode: 'STORAGE_BUCKET_NOT_FOUND' });
    expect((await client.get(recordingId)).error?.code).toBe('STORAGE_BUCKET_NOT_FOUND');
    await redis.hdel(record, 'errorCode');
    expect((await client.get(recordingId)).error?.code).toBe('STORAGE_AUTH_FAILED');
  });

  it('reads segments indexed, progress, storage and the callback URL without its secret', async () => {
    const { recordingId } = await client.start({
      ...request(),
      callbackUrl: 'https://hooks.example.com/cb?sig=SECRET',
    });
    const keys = recordingRedisKeys('recfleet', recordingId);
    await redis.hset(keys.record, {
      state: 'recording',
      storageProfile: 'local',
      storagePrefix: 'p',
      startedAt: 5,
    });
    await redis.hset(keys.segments, {
      0: JSON.stringify({ sequence: 0, location: 'spool' }),
      1: JSON.stringify({ sequence: 1, location: 'spool' }),
    });
    await takenWithProgress({
      durationSeconds: 2,
      segments: 2,
      bytes: 1000,
      segmentsUploaded: 1,
      bytesUploaded: 250,
    });
    const [listed] = (await client.list()).recordings;
    const got = await client.get(recordingId);
    for (const r of [listed!, got]) {
      expect(r).toMatchObject({
        recordingId,
        state: 'recording',
        storageProfile: 'local',
        storagePrefix: 'p',
        startedAt: 5,
        segmentsIndexed: 2,
        callbackUrl: 'https://hooks.example.com/cb?[redacted]',
        progress: { segments: 2, bytes: 1000, segmentsUploaded: 1, uploadPercent: 25 },
      });
    }
    expect(await client.hasSegmentInPrimary(recordingId)).toBe(false);
    await redis.hset(keys.segments, 1, JSON.stringify({ sequence: 1, location: 'primary' }));
    expect(await client.hasSegmentInPrimary(recordingId)).toBe(true);
  });

  it('shows 0 % uploaded while nothing is recorded, whatever the worker says', async () => {
    const { recordingId } = await client.start(request());
    // What workers report before their first segment (the uploader's "nothing pending" 100 %).
    await takenWithProgress({
      durationSeconds: 0,
      segments: 0,
      bytes: 0,
      segmentsUploaded: 0,
      uploadPercent: 100,
    });
    expect((await client.get(recordingId)).progress?.uploadPercent).toBe(0);
  });
});

describe('Redis unavailable', () => {
  it('fails every call with RedisUnavailableError within the bound, and waits for Redis with one listener', async () => {
    const down = new RecordingClient({
      redisUrl: `redis://127.0.0.1:${await freePort()}`,
      redisTimeoutMs: 200,
    });
    // The client's own connection (private): what ready() listens on.
    const connection = (down as unknown as { redis: Redis }).redis;
    const before = connection.listenerCount('ready');
    try {
      for (let round = 0; round < 5; round++) {
        const startedAt = Date.now();
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => down.get('some-id')));
        expect(Date.now() - startedAt).toBeLessThan(2000);
        for (const r of results) {
          expect(r.status).toBe('rejected');
          expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RedisUnavailableError);
        }
        expect(connection.listenerCount('ready')).toBeLessThanOrEqual(before + 1);
      }
      // ioredis adds a listener of its own while a reconnect attempt is under way: polled past one.
      await expect.poll(() => connection.listenerCount('ready'), { interval: 5 }).toBe(before);
      const err = (await down.list().catch((e: unknown) => e)) as RedisUnavailableError;
      expect(err).toMatchObject({
        code: 'REDIS_UNAVAILABLE',
        category: 'unavailable',
        httpStatus: 503,
        exitCode: 5,
      });
      expect(err.message).toMatch(/not reachable/);
      expect(await down.ping()).toBe(false);
    } finally {
      await down.close();
    }
  });
});

describe('a job added with BullMQ directly, before any worker took it', () => {
  /** Adds the job as a service in another language does: the queue, job name, prefix and id alone. */
  async function addRaw(recordingId: string, data: Record<string, unknown>): Promise<void> {
    const queue = new Queue(RECORDINGS_QUEUE, { connection: { url: server.url }, prefix: 'recfleet' });
    try {
      await queue.add(RECORD_JOB_NAME, { recordingId, ...data }, { jobId: recordingId });
    } finally {
      await queue.close();
    }
  }

  it('reads as queued, is listed and registered for webhooks, as a started recording is', async () => {
    await addRaw('raw-read', { ...request(), callbackUrl: 'http://127.0.0.1:9/hook' });
    expect(await client.get('raw-read')).toMatchObject({ state: 'queued', jobState: 'waiting' });
    expect(await redis.zscore(recordingsIndexKey('recfleet'), 'raw-read')).not.toBeNull();
    expect(await redis.sismember(webhookRecordingsKey('recfleet'), 'raw-read')).toBe(1);
    const events: RecordingEvent[] = [];
    await client.cancel('raw-read');
    for await (const e of client.follow('raw-read')) events.push(e);
    // Cancelled while queued, exactly as a RecordingClient.start recording: failed, CANCELLED, off the queue.
    expect(events.map((e) => e.type)).toEqual(['queued', 'fatal_error']);
    expect(await client.get('raw-read')).toMatchObject({
      state: 'failed',
      jobState: 'unknown',
      error: { code: 'CANCELLED' },
    });
  });

  it('stops like a started recording, and a job whose data breaks the contract stays unknown', async () => {
    await addRaw('raw-stop', request());
    expect(await client.stop('raw-stop')).toMatchObject({ requested: 'stop', state: 'failed' });
    await addRaw('raw-bad', { ...request(), uid: -1 });
    await expect(client.get('raw-bad')).rejects.toBeInstanceOf(RecordingNotFoundError);
    expect(await redis.exists(recordingRedisKeys('recfleet', 'raw-bad').record)).toBe(0);
  });
});
