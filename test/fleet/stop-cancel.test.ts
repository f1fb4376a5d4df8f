/**
 * Stop and cancel from another process (this test process is the producer; the worker is its own
 * process): durable requests, acted on within 1 s. And jobs that cannot run fail with their code.
 */
import { RECORD_JOB_NAME, RECORDINGS_QUEUE } from '@recfleet/contract';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetFixture } from '../src/harness/fleet-fixture.js';

let fleet: FleetFixture;
beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'control' });
  await fleet.worker('a');
});
afterAll(async () => {
  await fleet?.stop();
});

describe('stop and cancel from another process', () => {
  it('stop finalizes the recording within 1 s of the request', async () => {
    const { recordingId } = await fleet.start();
    const { events, done } = fleet.follow(recordingId);
    await expect
      .poll(() => events.filter((e) => e.type === 'segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    const requestedAt = Date.now();
    await fleet.client.stop(recordingId);
    await done;
    const stopped = events.find((e) => e.type === 'stopped')!;
    expect(stopped.data.reason).toBe('requested');
    expect(stopped.at - requestedAt).toBeLessThanOrEqual(1000);
    expect(events.at(-1)?.type).toBe('uploaded');
    const out = await fleet.verify(recordingId);
    expect(out.ended).toBe(true);
    expect(out.errors).toBe('');
  });

  it('cancel abandons the segment being written within 1 s, keeping finished ones', async () => {
    const { recordingId } = await fleet.start();
    const { events, done } = fleet.follow(recordingId);
    await expect
      .poll(() => events.filter((e) => e.type === 'uploaded_segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    const requestedAt = Date.now();
    await fleet.client.cancel(recordingId);
    await done;
    const stopped = events.find((e) => e.type === 'stopped')!;
    expect(stopped.data.reason).toBe('cancelled');
    expect(stopped.at - requestedAt).toBeLessThanOrEqual(1000);
    const status = await fleet.client.get(recordingId);
    expect(status.result?.stopReason).toBe('cancelled');
    const out = await fleet.verify(recordingId);
    expect(out.listed.length).toBe(events.filter((e) => e.type === 'segment').length);
    expect(out.errors).toBe('');
  });

  it('a stop request made before the worker takes the job is not lost', async () => {
    // The request is a field on the durable record: a job still waiting is removed at once.
    const connection = new Redis(fleet.redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(RECORDINGS_QUEUE, { connection, prefix: 'recfleet' });
    await queue.pause();
    try {
      const { recordingId } = await fleet.start();
      await fleet.client.cancel(recordingId);
      const status = await fleet.client.get(recordingId);
      expect(status.state).toBe('failed');
      expect(status.error?.code).toBe('CANCELLED');
      expect(await queue.getJob(recordingId)).toBeUndefined();
    } finally {
      await queue.resume();
      await queue.close();
    }
  });
});

describe('jobs that cannot run', () => {
  it('an unreachable source fails the job with SOURCE_UNREACHABLE', async () => {
    const { recordingId } = await fleet.client.start({
      appId: 'x',
      channel: 'nowhere',
      uid: 3,
      sourceUrl: 'rtmp://127.0.0.1:1/app/nowhere',
      recordingConfig: { maxIdleSeconds: 5 },
      storage: { profile: 'local' },
    });
    const connection = new Redis(fleet.redis.url, { maxRetriesPerRequest: null });
    const events = new QueueEvents(RECORDINGS_QUEUE, { connection, prefix: 'recfleet' });
    await events.waitUntilReady();
    const queue = new Queue(RECORDINGS_QUEUE, {
      connection: new Redis(fleet.redis.url, { maxRetriesPerRequest: null }),
      prefix: 'recfleet',
    });
    try {
      const job = await queue.getJob(recordingId);
      await expect(job!.waitUntilFinished(events, 30_000)).rejects.toThrow(/^\[SOURCE_UNREACHABLE\] /);
      const status = await fleet.client.get(recordingId);
      expect(status.state).toBe('failed');
      expect(status.error?.code).toBe('SOURCE_UNREACHABLE');
    } finally {
      await events.close();
      await queue.close();
    }
  });

  it('a job added with the bare BullMQ API and an unknown profile fails with STORAGE_PROFILE_UNKNOWN', async () => {
    const queue = new Queue(RECORDINGS_QUEUE, {
      connection: new Redis(fleet.redis.url, { maxRetriesPerRequest: null }),
      prefix: 'recfleet',
    });
    const events = new QueueEvents(RECORDINGS_QUEUE, {
      connection: new Redis(fleet.redis.url, { maxRetriesPerRequest: null }),
      prefix: 'recfleet',
    });
    await events.waitUntilReady();
    try {
      const job = await queue.add(RECORD_JOB_NAME, {
        recordingId: 'bare-1',
        appId: 'x',
        channel: 'c',
        uid: 2,
        storage: { profile: 'nope' },
      });
      await expect(job.waitUntilFinished(events, 30_000)).rejects.toThrow(/^\[STORAGE_PROFILE_UNKNOWN\] /);
    } finally {
      await events.close();
      await queue.close();
    }
  });
});
