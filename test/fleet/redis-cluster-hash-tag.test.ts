/**
 * The key layout Redis Cluster needs, checked on a real cluster-mode redis-server (one node owning all
 * 16384 slots: it refuses a script or transaction across slots exactly as a many-node cluster does).
 *
 * With the default key prefix, BullMQ's scripts and the producer's start script span several slots and
 * are refused (CROSSSLOT). With a hash-tagged prefix (`{recfleet}`) every key of the fleet — BullMQ's
 * queues and recfleet's own records, events, segment indexes and sets — lands in one slot, and a whole
 * recording runs.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORD_JOB_NAME, RECORDINGS_QUEUE, type RecordingEvent } from '@recfleet/contract';
import { ChannelServer, freePort, ManagedProcess, TestPublisher } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePlaylist } from '../src/harness/media-check.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const APP = 'cluster';
const CHANNEL = 'hash tag';

let dir: string;
let server: ManagedProcess;
let url: string;
let admin: Redis;
let channels: ChannelServer;
let publisher: TestPublisher;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-cluster-'));
  const port = await freePort();
  server = new ManagedProcess('redis-cluster-node', 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, 'nodes.conf'),
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
  ]);
  url = `redis://127.0.0.1:${port}`;
  admin = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 50, 500) });
  admin.on('error', () => undefined);
  await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  const deadline = Date.now() + 15_000 * scale;
  while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
    if (Date.now() > deadline) throw new Error(`cluster did not become ok:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  channels = await ChannelServer.start();
  publisher = TestPublisher.start({
    url: channels.rtmpUrl(APP, CHANNEL),
    width: 480,
    height: 270,
    frameRate: 25,
    gop: 25,
  });
  await channels.waitForPublish(APP, CHANNEL);
}, 60_000 * scale);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  admin?.disconnect();
  await publisher?.stop();
  await channels?.stop();
  await server?.stop('SIGTERM', 3000);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000 * scale);

const start = (client: RecordingClient, uid: number): ReturnType<RecordingClient['start']> =>
  client.start({
    appId: APP,
    channel: CHANNEL,
    uid,
    sourceUrl: channels.rtmpUrl(APP, CHANNEL),
    recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
    storage: { profile: 'local' },
  });

describe('Redis Cluster key layout', () => {
  it('refuses the default prefix: BullMQ and the start script span slots', async () => {
    const queue = new Queue(RECORDINGS_QUEUE, {
      connection: new Redis(url, { maxRetriesPerRequest: 1 }),
      prefix: 'recfleet',
    });
    const client = new RecordingClient({ redisUrl: url, keyPrefix: 'recfleet', checkStorageProfiles: false });
    try {
      await expect(queue.add(RECORD_JOB_NAME, {})).rejects.toThrow(/CROSSSLOT/);
      await expect(start(client, 1)).rejects.toThrow(/CROSSSLOT/);
    } finally {
      await queue.close();
      await client.close();
    }
  });

  it(
    'runs a whole recording with a hash-tagged prefix, every key in one slot',
    async () => {
      const prefix = '{recfleet}';
      await admin.flushall();
      const storageRoot = join(dir, 'storage');
      const worker = await startWorkerProcess({
        redisUrl: url,
        storageProfiles: { local: { type: 'local', root: storageRoot } },
        spoolDir: join(dir, 'spool'),
        extra: { keyPrefix: prefix, lockSeconds: 6, stalledCheckSeconds: 1, shutdownGraceSeconds: 2 },
      });
      closers.push(() => worker.stop('SIGTERM', 5000));
      const client = new RecordingClient({ redisUrl: url, keyPrefix: prefix });
      closers.push(() => client.close());

      const { recordingId } = await start(client, 2);
      const events: RecordingEvent[] = [];
      const done = (async () => {
        for await (const e of client.follow(recordingId)) events.push(e);
      })();
      await expect
        .poll(() => events.filter((e) => e.type === 'uploaded_segment').length, {
          timeout: 30_000 * scale,
          interval: 200,
        })
        .toBeGreaterThanOrEqual(3);
      await client.stop(recordingId);
      await done;
      expect(events.at(-1)?.type).toBe('uploaded');
      // The job completes right after the terminal event (its worker writes the record first).
      await expect
        .poll(async () => (await client.get(recordingId)).jobState, { timeout: 10_000 * scale })
        .toBe('completed');
      const status = await client.get(recordingId);
      expect(status.result?.outcome).toBe('uploaded');
      expect((await client.list()).recordings.map((r) => r.recordingId)).toContain(recordingId);

      const stored = (await readdir(storageRoot)).filter((f) => f.endsWith('.ts'));
      expect(stored).toHaveLength(status.result?.segments ?? -1);
      expect(decodePlaylist(join(storageRoot, status.result!.playlistKey)).errors).toBe('');

      // Every key the fleet wrote — BullMQ's and ours — is in the prefix's slot.
      const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', prefix));
      const keys = await admin.keys('*');
      expect(keys.length).toBeGreaterThan(10);
      expect(keys.filter((k) => k.startsWith(`${prefix}:rec:`)).length).toBeGreaterThanOrEqual(3);
      const elsewhere: string[] = [];
      for (const k of keys) if (Number(await admin.call('CLUSTER', 'KEYSLOT', k)) !== slot) elsewhere.push(k);
      expect(elsewhere).toEqual([]);
      expect(Number(await admin.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)))).toBe(keys.length);
    },
    120_000 * scale,
  );
});
