/**
 * Fault: `kill -9` of the worker holding a recording, while segments it finished are still waiting in
 * its spool (its store is throttling). Another worker must resume the same recording within 10 s, with
 * the next sequence numbers and a discontinuity, in the same playlist; when the killed worker's host
 * starts again, spool recovery delivers its leftover segments into their place. Nothing finished is
 * lost, and the final playlist plays without a single ffmpeg error.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { recordingRedisKeys, type RecordingEvent } from '@recfleet/contract';
import { ChannelServer, TestPublisher, type ManagedProcess } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import type { IndexedSegment } from '@recfleet/storage';
import { Redis } from 'ioredis';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCorruptingProxy, type CorruptingProxy } from '../src/fakes/corrupting-proxy.js';
import { decodePlaylist, packetTimes } from '../src/harness/media-check.js';
import { s3rverProfile, s3rverStorage } from '../src/harness/s3rver-bucket.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

const APP = 'crash';
const CHANNEL = 'kill nine';
let redis: TestRedis;
let channels: ChannelServer;
let publisher: TestPublisher;
let s3: { run(): Promise<{ port: number }>; close(): Promise<void> };
let s3Url: string;
let throttling: CorruptingProxy;
let clean: CorruptingProxy;
let dir: string;
let client: RecordingClient;
const workers: ManagedProcess[] = [];

async function worker(name: string, endpoint: string): Promise<ManagedProcess> {
  const w = await startWorkerProcess({
    redisUrl: redis.url,
    storageProfiles: { s3: s3rverProfile(endpoint) },
    spoolDir: join(dir, `spool-${name}`),
    extra: {
      lockSeconds: 4,
      stalledCheckSeconds: 1,
      shutdownGraceSeconds: 2,
      uploadAttemptTimeoutSeconds: 3,
    },
  });
  workers.push(w);
  return w;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-kill9-'));
  s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: join(dir, 's3'), silent: true });
  const { port } = await s3.run();
  s3Url = `http://127.0.0.1:${port}`;
  await s3rverStorage(s3Url).client.send(new CreateBucketCommand({ Bucket: 'rec' }));
  throttling = await startCorruptingProxy(s3Url);
  clean = await startCorruptingProxy(s3Url);
  redis = await startTestRedis();
  channels = await ChannelServer.start();
  publisher = TestPublisher.start({
    url: channels.rtmpUrl(APP, CHANNEL),
    width: 480,
    height: 270,
    frameRate: 25,
    gop: 25,
  });
  await channels.waitForPublish(APP, CHANNEL);
  client = new RecordingClient({ redisUrl: redis.url });
});

afterAll(async () => {
  await client?.close();
  for (const w of workers) await w.stop('SIGTERM', 5000);
  await publisher?.stop();
  await channels?.stop();
  await redis?.stop();
  await throttling?.close();
  await clean?.close();
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kill -9 of the worker holding a recording', () => {
  it('resumes elsewhere within 10 s, and spool recovery delivers every finished segment', async () => {
    // Host A's store throttles every request, so its finished segments wait in its spool.
    throttling.faults.throttleNext = 1_000_000;
    const a = await worker('a', throttling.url);
    const { recordingId } = await client.start({
      appId: APP,
      channel: CHANNEL,
      uid: 1,
      sourceUrl: channels.rtmpUrl(APP, CHANNEL),
      recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
      storage: { profile: 's3' },
    });
    const events: RecordingEvent[] = [];
    const follower = (async () => {
      for await (const e of client.follow(recordingId)) events.push(e);
    })();
    await expect
      .poll(() => events.filter((e) => e.type === 'segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);

    // Host B joins the fleet; then A dies without any chance to clean up.
    await worker('b', clean.url);
    const killedAt = Date.now();
    const segmentsBeforeKill = events.filter((e) => e.type === 'segment').length;
    await a.kill();

    await expect
      .poll(() => events.some((e) => e.type === 'joined' && e.at > killedAt), {
        timeout: 15_000,
        interval: 100,
      })
      .toBe(true);
    const resumedAt = events.find((e) => e.type === 'joined' && e.at > killedAt)!.at;
    expect(resumedAt - killedAt, 'kill-to-resumed').toBeLessThanOrEqual(10_000);

    await expect
      .poll(() => events.filter((e) => e.type === 'uploaded_segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    await client.stop(recordingId);
    await follower;
    expect(events.at(-1)?.type).toBe('uploaded');

    // A's host starts again (its store fixed): its spool is delivered into the same recording.
    const spoolA = join(dir, 'spool-a', recordingId);
    const leftovers = (await readdir(spoolA)).filter((f) => f.endsWith('.ts'));
    expect(leftovers.length).toBeGreaterThanOrEqual(segmentsBeforeKill - 1);
    throttling.faults.throttleNext = 0;
    const restarted = await startWorkerProcess({
      redisUrl: redis.url,
      storageProfiles: { s3: s3rverProfile(clean.url) },
      spoolDir: join(dir, 'spool-a'),
      extra: { lockSeconds: 4, stalledCheckSeconds: 1 },
    });
    workers.push(restarted);

    const keys = recordingRedisKeys('recfleet', recordingId);
    const r = new Redis(redis.url);
    const index = async (): Promise<IndexedSegment[]> =>
      (await r.hvals(keys.segments))
        .map((v) => JSON.parse(v) as IndexedSegment)
        .sort((x, y) => x.sequence - y.sequence);
    await expect
      .poll(async () => (await index()).every((s) => s.location === 'primary'), { timeout: 30_000 })
      .toBe(true);
    const indexed = await index();
    r.disconnect();
    await expect.poll(async () => readdir(spoolA).catch(() => []), { timeout: 10_000 }).toEqual([]);

    // Every indexed segment is in the store and listed, in order, in a playlist that plays cleanly.
    const s = s3rverStorage(s3Url);
    const objects = await s.list('');
    const local = join(dir, 'download');
    await mkdir(local);
    for (const o of objects) await writeFile(join(local, o.key), (await s.get(o.key))!);
    const playlistName = `${recordingId}_kill~20nine.m3u8`;
    const playlist = (await s.get(playlistName))!.toString('utf8');
    const listed = playlist.split('\n').filter((l) => l.endsWith('.ts'));
    expect(listed).toEqual(
      indexed.map((x) => `${recordingId}_kill~20nine_${String(x.sequence).padStart(6, '0')}.ts`),
    );
    expect(playlist).toContain('#EXT-X-DISCONTINUITY');
    expect(playlist.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    const sequences = indexed.map((x) => x.sequence);
    expect(sequences.slice(0, segmentsBeforeKill)).toEqual([...Array(segmentsBeforeKill).keys()]);
    const decoded = decodePlaylist(join(local, playlistName));
    expect(decoded.errors).toBe('');
    // The resumed recorder's timeline goes on after the killed one's: time never goes back across the
    // discontinuity (a reader that ignores it, as FFmpeg's HLS demuxer does, would guess otherwise).
    const seam = indexed.findIndex((x) => x.discontinuity);
    const file = (x: IndexedSegment): string =>
      join(local, `${recordingId}_kill~20nine_${String(x.sequence).padStart(6, '0')}.ts`);
    const before = packetTimes(file(indexed[seam - 1]!));
    const after = packetTimes(file(indexed[seam]!));
    expect(after.firstSeconds, 'timeline after the seam').toBeGreaterThan(before.lastSeconds);
    // Exactly where the killed recorder's last segment ended: on the frame grid of the frames before.
    expect(after.firstSeconds - indexed[seam - 1]!.timelineEndSeconds!, 'gap at the seam').toBeCloseTo(0, 2);
  });
});
