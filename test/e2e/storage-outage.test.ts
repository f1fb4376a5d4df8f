/**
 * Fault: the primary store (a real S3 server, s3rver) goes down mid-recording. Segments must go to the
 * backup store, the recording must end `backed_up`, and once the primary is back the drain (a BullMQ
 * job scheduler in the worker) must deliver everything: the final playlist in the primary lists every
 * segment and plays without a single ffmpeg error. Zero segments lost.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { RecordingEvent, RecordingResult } from '@recfleet/contract';
import { ChannelServer, freePort, TestPublisher, type ManagedProcess } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import { S3Storage } from '@recfleet/storage';
// @ts-expect-error m3u8-parser ships no type declarations
import { Parser } from 'm3u8-parser';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePlaylist } from '../src/harness/media-check.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

type S3rverInstance = { run(): Promise<{ port: number }>; close(): Promise<void> };

const APP = 'outage';
const CHANNEL = 'room .. [1]';
const BUCKET = 'recordings';

let redis: TestRedis;
let channels: ChannelServer;
let publisher: TestPublisher;
let worker: ManagedProcess;
let client: RecordingClient;
let dir: string;
let s3: S3rverInstance | undefined;
let s3Port: number;

async function startS3(): Promise<void> {
  s3 = new S3rver({
    address: '127.0.0.1',
    port: s3Port,
    directory: join(dir, 's3'),
    silent: true,
  }) as S3rverInstance;
  await s3.run();
}

function primary(): S3Storage {
  return new S3Storage({
    bucket: BUCKET,
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${s3Port}`,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestTimeoutMs: 5000,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-outage-'));
  s3Port = await freePort();
  await startS3();
  await primary().client.send(new CreateBucketCommand({ Bucket: BUCKET }));
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
  worker = await startWorkerProcess({
    redisUrl: redis.url,
    storageProfiles: {
      primary: {
        type: 's3',
        bucket: BUCKET,
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${s3Port}`,
        forcePathStyle: true,
        checksumMode: 'WHEN_REQUIRED',
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
        requestTimeoutMs: 2000,
      },
      backup: { type: 'local', root: join(dir, 'backup') },
    },
    extra: {
      backup: { profile: 'backup', afterAttempts: 2, afterSeconds: 3 },
      drainIntervalSeconds: 1,
      uploadAttemptTimeoutSeconds: 3,
    },
  });
  client = new RecordingClient({ redisUrl: redis.url });
});

afterAll(async () => {
  await client?.close();
  await worker?.stop('SIGTERM', 10_000);
  await publisher?.stop();
  await channels?.stop();
  await redis?.stop();
  await s3?.close().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('primary storage outage', () => {
  it('backs segments up while the primary is down and drains them once it is back, losing none', async () => {
    const { recordingId } = await client.start({
      appId: APP,
      channel: CHANNEL,
      uid: 9,
      sourceUrl: channels.rtmpUrl(APP, CHANNEL),
      recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 5 },
      storage: { profile: 'primary', prefix: 'tenant-a' },
    });

    // Phase 1: record until one segment is in the primary, then take the primary down; stop once two
    // segments have gone to the backup.
    const events: RecordingEvent[] = [];
    let backedUpSegments = 0;
    let outage = false;
    for await (const e of client.follow(recordingId)) {
      events.push(e);
      if (e.type === 'uploaded_segment' && !outage) {
        outage = true;
        await s3!.close();
      }
      if (e.type === 'backed_up_segment' && ++backedUpSegments === 2) void client.stop(recordingId);
    }
    const last = events.at(-1)!;
    expect(last.type, JSON.stringify(last.data)).toBe('backed_up');
    const backedUp = last.data.backedUp as number[];
    expect(backedUp.length).toBeGreaterThanOrEqual(2);
    const status = await client.get(recordingId);
    expect(status.state).toBe('backed_up');
    expect((status.result as RecordingResult).outcome).toBe('backed_up');
    const segments = (status.result as RecordingResult).segments;
    expect((await readdir(join(dir, 'backup', 'tenant-a'))).filter((f) => f.endsWith('.ts')).length).toBe(
      backedUp.length,
    );

    // Phase 2: the primary returns; the drain delivers, and the recording — whose one terminal event was
    // `backed_up` — gets `drained` (not a second outcome) and reads uploaded.
    await startS3();
    let drained: RecordingEvent | undefined;
    const after: string[] = [];
    for await (const e of client.follow(recordingId, { afterId: last.id })) {
      after.push(e.type);
      if (e.type === 'drained') {
        drained = e;
        break;
      }
    }
    expect(after).toEqual(['drained']);
    expect(drained?.data.playlistKey).toBe(status.result!.playlistKey);
    expect((await client.get(recordingId)).state).toBe('uploaded');
    expect((await readdir(join(dir, 'backup', 'tenant-a'))).filter((f) => f.endsWith('.ts'))).toEqual([]);

    // The primary now holds every segment and a playlist listing all of them, which plays cleanly.
    const store = primary();
    const objects = await store.list('tenant-a/');
    const local = join(dir, 'downloaded');
    await mkdir(local, { recursive: true });
    for (const o of objects)
      await writeFile(join(local, o.key.slice('tenant-a/'.length)), (await store.get(o.key))!);
    const playlistKey = `tenant-a/${recordingId}_room~20~2E~2E~20~5B1~5D.m3u8`;
    expect(objects.map((o) => o.key)).toContain(playlistKey);
    expect(objects.filter((o) => o.key.endsWith('.ts')).length).toBe(segments);

    const parser = new Parser();
    parser.push((await store.get(playlistKey))!.toString('utf8'));
    parser.end();
    const manifest = parser.manifest as {
      segments: { uri: string; duration: number }[];
      endList: boolean;
      targetDuration: number;
    };
    expect(manifest.endList).toBe(true);
    expect(manifest.segments.length).toBe(segments);
    for (const s of manifest.segments)
      expect(Math.round(s.duration)).toBeLessThanOrEqual(manifest.targetDuration);

    const decoded = decodePlaylist(join(local, playlistKey.slice('tenant-a/'.length)));
    expect(decoded.errors).toBe('');
    expect(decoded.exitCode).toBe(0);
  });
});
