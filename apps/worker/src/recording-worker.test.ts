/**
 * A worker in this process, with the real recorder and a private redis-server: a source URL that
 * carries credentials and points at a closed port fails SOURCE_UNREACHABLE without the password
 * reaching the worker's log, the record, any event or the job; a storage profile that cannot be opened
 * fails the job with the storage error's own code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseFailure, RECORD_JOB_NAME, recordingRedisKeys, RECORDINGS_QUEUE } from '@recfleet/contract';
import { freePort, RedisServer } from '@recfleet/embedded';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerConfigSchema } from './config.js';
import { createLogger } from './logger.js';
import { RecordingWorker } from './recording-worker.js';

const SECRET = 'secretpw';
let server: RedisServer;
let redis: Redis;
let queue: Queue;
let worker: RecordingWorker;
let dir: string;
const logs: string[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  dir = await mkdtemp(join(tmpdir(), 'recfleet-worker-'));
  const config = WorkerConfigSchema.parse({
    redisUrl: server.url,
    spoolDir: join(dir, 'spool'),
    storageProfiles: {
      local: { type: 'local', root: join(dir, 'store') },
      // Its secret file is gone by the time a job uses the profile (profiles open at their first job).
      vault: {
        type: 's3',
        bucket: 'recordings',
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9',
        accessKeyId: 'key',
        secretAccessKey: { file: join(dir, 'removed-secret') },
      },
    },
    progressIntervalSeconds: 1,
    drainIntervalSeconds: 600,
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  worker = new RecordingWorker(config, createLogger('debug', sink));
  await worker.start();
  queue = new Queue(RECORDINGS_QUEUE, { connection: { url: server.url }, prefix: config.keyPrefix });
});
afterAll(async () => {
  await worker?.close();
  await queue?.close();
  redis?.disconnect();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('recording worker', () => {
  it('keeps the credentials of a source URL out of its log, the record, the events and the job', async () => {
    const port = await freePort();
    const recordingId = 'rec-credentials';
    await queue.add(
      RECORD_JOB_NAME,
      {
        recordingId,
        appId: 'app',
        channel: 'room',
        uid: 1,
        sourceUrl: `rtsp://user:${SECRET}@127.0.0.1:${port}/live?token=${SECRET}`,
        recordingConfig: { maxIdleSeconds: 5 },
        storage: { profile: 'local' },
      },
      { jobId: recordingId },
    );
    const keys = recordingRedisKeys('recfleet', recordingId);
    await expect
      .poll(() => redis.hget(keys.record, 'state'), { timeout: 30_000, interval: 200 })
      .toBe('failed');
    const job = (await queue.getJob(recordingId))!;
    await expect
      .poll(async () => (await queue.getJob(recordingId))?.failedReason, { timeout: 5000 })
      .toBeDefined();
    const failedReason = (await queue.getJob(recordingId))!.failedReason;

    const record = await redis.hgetall(keys.record);
    expect(record.errorCode).toBe('SOURCE_UNREACHABLE');
    expect(record.errorMessage).toBe(
      `could not reach rtsp://[redacted]@127.0.0.1:${port}/live?[redacted] within 5 s`,
    );
    expect(parseFailure(failedReason)).toEqual({ code: 'SOURCE_UNREACHABLE', message: record.errorMessage });

    const events = await redis.xrange(keys.events, '-', '+');
    expect(events.map(([, f]) => f[f.indexOf('type') + 1])).toContain('fatal_error');
    const { logs: jobLogs } = await queue.getJobLogs(job.id!);
    const log = logs.join('');
    expect(log).toContain('recorder started');
    expect(log).toContain('recording failed');
    for (const [where, text] of Object.entries({
      log,
      record: JSON.stringify(record),
      events: JSON.stringify(events),
      failedReason,
      jobLogs: jobLogs.join('\n'),
    })) {
      expect(text, where).not.toContain(SECRET);
    }
  });

  it("fails a job whose storage profile cannot be opened with that error's own code", async () => {
    const recordingId = 'rec-vault';
    await queue.add(
      RECORD_JOB_NAME,
      { recordingId, appId: 'app', channel: 'vault', uid: 1, storage: { profile: 'vault' } },
      { jobId: recordingId },
    );
    const keys = recordingRedisKeys('recfleet', recordingId);
    await expect.poll(() => redis.hget(keys.record, 'state'), { timeout: 10_000 }).toBe('failed');
    expect(await redis.hget(keys.record, 'errorCode')).toBe('STORAGE_CONFIG_INVALID');
    expect(await redis.hget(keys.record, 'errorMessage')).toMatch(
      /vault\.secretAccessKey: cannot read secret file/,
    );
    await expect
      .poll(async () => (await queue.getJob(recordingId))?.failedReason, { timeout: 5000 })
      .toMatch(/^\[STORAGE_CONFIG_INVALID\] /);
  });
});
