/**
 * The walking skeleton, end to end with every part real: a producer enqueues a recording on BullMQ
 * (a private redis-server), a worker process claims it, the native recorder pulls the live RTMP channel
 * (node-media-server + an FFmpeg publisher), segments land in local storage with a playlist, and the
 * job completes with a result naming them. The output is judged by ffprobe and ffmpeg.
 */
import { readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  InvalidRecordingJobError,
  RECORD_JOB_NAME,
  RECORDINGS_QUEUE,
  type RecordingEvent,
  type RecordingResult,
} from '@recfleet/contract';
import { ChannelServer, TestPublisher, type ManagedProcess } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePlaylist, probeDuration, probeSegment } from '../src/harness/media-check.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

const APP = 'e2e';
const CHANNEL = 'skeleton room #1';

let redis: TestRedis;
let channels: ChannelServer;
let publisher: TestPublisher;
let worker: ManagedProcess;
let client: RecordingClient;
let storageRoot: string;

beforeAll(async () => {
  redis = await startTestRedis();
  channels = await ChannelServer.start();
  publisher = TestPublisher.start({
    url: channels.rtmpUrl(APP, CHANNEL),
    width: 640,
    height: 360,
    frameRate: 25,
    gop: 25,
  });
  await channels.waitForPublish(APP, CHANNEL);
  storageRoot = await mkdtemp(join(tmpdir(), 'recfleet-e2e-store-'));
  worker = await startWorkerProcess({
    redisUrl: redis.url,
    storageProfiles: { local: { type: 'local', root: storageRoot } },
  });
  client = new RecordingClient({ redisUrl: redis.url });
});

afterAll(async () => {
  await client?.close();
  await worker?.stop('SIGTERM', 10_000);
  await publisher?.stop();
  await channels?.stop();
  await redis?.stop();
  if (storageRoot) await rm(storageRoot, { recursive: true, force: true });
});

async function collect(
  recordingId: string,
  onEvent?: (e: RecordingEvent) => void,
): Promise<RecordingEvent[]> {
  const events: RecordingEvent[] = [];
  for await (const e of client.follow(recordingId)) {
    events.push(e);
    onEvent?.(e);
  }
  return events;
}

describe('walking skeleton: live RTMP channel → worker → local storage', () => {
  it('records a live channel into gapless, keyframe-aligned segments and a playlist', async () => {
    const { recordingId } = await client.start({
      appId: APP,
      channel: CHANNEL,
      uid: 4242,
      sourceUrl: channels.rtmpUrl(APP, CHANNEL),
      recordingConfig: { segmentSeconds: 2, maxIdleSeconds: 5 },
      storage: { profile: 'local', prefix: 'e2e/run-1' },
    });
    // Wall time runs from the moment the recorder joined the channel to its stop. The channel server's
    // GOP cache hands a joining client up to one GOP (0.48 s here) of older media: within tolerance.
    let startedAt = 0;
    const done = collect(recordingId, (e) => {
      if (e.type === 'joined' && startedAt === 0) {
        startedAt = e.at;
        setTimeout(() => void client.stop(recordingId), 9000);
      }
    });
    const events = await done;
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('queued');
    expect(types).toContain('joined');
    expect(types).toContain('started');
    expect(types.at(-1), JSON.stringify(events.at(-1))).toBe('uploaded');
    const stopped = events.find((e) => e.type === 'stopped');
    expect(stopped?.data.reason).toBe('requested');
    const wallSeconds = ((stopped?.at ?? 0) - startedAt) / 1000;

    const status = await client.get(recordingId);
    expect(status.state).toBe('uploaded');
    await expect
      .poll(async () => (await client.get(recordingId)).jobState, { timeout: 10_000 })
      .toBe('completed');
    const result = status.result as RecordingResult;
    expect(result.playlistKey).toBe(`e2e/run-1/${recordingId}_skeleton~20room~20~231.m3u8`);
    expect(result.playlistLocation).toBe(join(storageRoot, result.playlistKey));
    expect(result.stopReason).toBe('requested');

    const dir = dirname(result.playlistLocation);
    const segments = (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort();
    expect(segments.length).toBe(result.segments);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    for (const name of segments) {
      const probe = probeSegment(join(dir, name));
      expect(probe.errors, name).toBe('');
      expect(probe.decodes, name).toBe(true);
      expect(probe.streams, name).toEqual(expect.arrayContaining(['video', 'audio']));
      expect(probe.firstVideoFrameIsKey, name).toBe(true);
    }

    const decoded = decodePlaylist(result.playlistLocation);
    expect(decoded.errors).toBe('');
    expect(decoded.exitCode).toBe(0);
    const duration = probeDuration(result.playlistLocation);
    expect(
      Math.abs(duration - wallSeconds),
      `playlist ${duration} s vs wall ${wallSeconds} s`,
    ).toBeLessThanOrEqual(1.5);
    expect(Math.abs(result.durationSeconds - duration)).toBeLessThanOrEqual(0.5);
  });

  it('refuses invalid fields at enqueue, naming each field', async () => {
    const attempt = client.start({
      appId: APP,
      channel: 'no/slashes',
      uid: 0,
      recordingConfig: { segmentSeconds: 0.5, maxIdleSeconds: 30 },
      storage: { profile: 'local' },
    });
    await expect(attempt).rejects.toBeInstanceOf(InvalidRecordingJobError);
    const err = (await attempt.catch((e: unknown) => e)) as InvalidRecordingJobError;
    expect(err.problems.map((p) => p.field).sort()).toEqual([
      'channel',
      'recordingConfig.segmentSeconds',
      'uid',
    ]);
  });

  it('fails a job it cannot run with a stable code and keeps working', async () => {
    // Jobs added with the bare BullMQ API, bypassing the client's validation.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(RECORDINGS_QUEUE, { connection, prefix: 'recfleet' });
    const events = new QueueEvents(RECORDINGS_QUEUE, {
      connection: new Redis(redis.url, { maxRetriesPerRequest: null }),
      prefix: 'recfleet',
    });
    await events.waitUntilReady();
    try {
      const bad = await queue.add(RECORD_JOB_NAME, {
        recordingId: 'bad-1',
        appId: APP,
        channel: CHANNEL,
        uid: -5,
      });
      await expect(bad.waitUntilFinished(events, 30_000)).rejects.toThrow(/^\[INVALID_JOB\] .*uid/);

      const unknownProfile = await queue.add(RECORD_JOB_NAME, {
        recordingId: 'bad-2',
        appId: APP,
        channel: CHANNEL,
        uid: 7,
        storage: { profile: 'nowhere' },
      });
      await expect(unknownProfile.waitUntilFinished(events, 30_000)).rejects.toThrow(
        /^\[STORAGE_PROFILE_UNKNOWN\] .*nowhere/,
      );
      expect(worker.running).toBe(true);
    } finally {
      await events.close();
      await queue.close();
    }
  });
});
