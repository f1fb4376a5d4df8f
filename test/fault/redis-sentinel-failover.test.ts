/**
 * Fault: the Redis primary dies (kill -9) mid-recording under Redis Sentinel. The sentinels promote the
 * replica, the worker and the producer follow the new primary by themselves (they were given a
 * `redis+sentinel://` URL, not an address), and the recording goes on and completes: one owner from
 * start to end, segment numbers without a gap, a playlist FFmpeg decodes cleanly, and every segment the
 * worker reported is in storage and in the playlist.
 *
 * The second case makes the failover lose writes the old primary had acknowledged (the replication
 * stream is held back by a proxy when the primary dies, as asynchronous replication allows), and checks
 * that no delivered segment drops out of the playlist because of it.
 *
 * The fleet runs with a hash-tagged key prefix (`{recfleet}`), the layout Redis Cluster needs, so this
 * also shows that BullMQ and recfleet's own keys work under it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseRedisUrl,
  RECORDINGS_QUEUE,
  recordingRedisKeys,
  type RecordingEvent,
  type RecordingResult,
} from '@recfleet/contract';
import { ChannelServer, RedisSentinelTopology, TestPublisher, type ManagedProcess } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/producer';
import type { IndexedSegment } from '@recfleet/storage';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodePlaylist } from '../src/harness/media-check.js';
import { TcpProxy } from '../src/harness/tcp-proxy.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const KEY_PREFIX = '{recfleet}';
const APP = 'ha';
const CHANNEL = 'sentinel failover';
const available = RedisSentinelTopology.available();
if (!available) {
  process.stderr.write(
    'redis-sentinel-failover: SKIPPED — `redis-sentinel` is not on PATH (Debian package redis-sentinel)\n',
  );
}

let channels: ChannelServer;
let publisher: TestPublisher;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  if (!available) return;
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

afterEach(async () => {
  // Newest first: clients and the worker before the Redis they talk to.
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
}, 60_000 * scale);

afterAll(async () => {
  await publisher?.stop();
  await channels?.stop();
}, 30_000 * scale);

interface SentinelFleet {
  topology: RedisSentinelTopology;
  client: RecordingClient;
  worker: ManagedProcess;
  storageRoot: string;
}

async function startFleet(topology: RedisSentinelTopology): Promise<SentinelFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'recfleet-sentinel-fleet-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  cleanups.push(() => topology.stop());
  const storageRoot = join(dir, 'storage');
  const worker = await startWorkerProcess({
    redisUrl: topology.url,
    channelUrlTemplate: `rtmp://127.0.0.1:${channels.port}/{appId}/{channelName}`,
    storageProfiles: { local: { type: 'local', root: storageRoot } },
    spoolDir: join(dir, 'spool'),
    // A ride-through is what is tested here: the worker fences itself when its lock has not been
    // renewed for 3/4 of lockSeconds, and renewals come every lockSeconds/2, so a failover (detection
    // 1 s + election + promotion + reconnect, ~2–3 s here) must stay under lockSeconds/4 in the worst case.
    extra: { keyPrefix: KEY_PREFIX, lockSeconds: 20, stalledCheckSeconds: 1, shutdownGraceSeconds: 2 },
  });
  cleanups.push(() => worker.stop('SIGTERM', 5000));
  const client = new RecordingClient({ redisUrl: topology.url, keyPrefix: KEY_PREFIX });
  cleanups.push(() => client.close());
  return { topology, client, worker, storageRoot };
}

/** Starts a recording and collects its events (as the producer sees them) until its terminal event. */
async function record(
  fleet: SentinelFleet,
): Promise<{ recordingId: string; events: RecordingEvent[]; done: Promise<void> }> {
  const { recordingId } = await fleet.client.start({
    appId: APP,
    channel: CHANNEL,
    uid: 1,
    recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
    storage: { profile: 'local' },
  });
  const events: RecordingEvent[] = [];
  const done = (async () => {
    for await (const e of fleet.client.follow(recordingId)) events.push(e);
  })();
  return { recordingId, events, done };
}

function count(events: RecordingEvent[], type: string, after = 0): number {
  return events.filter((e) => e.type === type && e.at > after).length;
}

/** A connection of the test's own, through the sentinels like the fleet's. */
function sentinelConnection(topology: RedisSentinelTopology): Redis {
  const target = parseRedisUrl(topology.url);
  if (target.mode !== 'sentinel') throw new Error('expected a Sentinel URL');
  return new Redis({ ...target.options, maxRetriesPerRequest: null });
}

interface Outcome {
  jobState: string | undefined;
  result: RecordingResult;
  record: Record<string, string>;
  index: IndexedSegment[];
  /** Ids of the events stream as the (new) primary holds it. */
  streamIds: string[];
}

/** What the new primary holds about the recording: BullMQ's job, the record, the segment index. */
async function readOutcome(topology: RedisSentinelTopology, recordingId: string): Promise<Outcome> {
  const redis = sentinelConnection(topology);
  const queue = new Queue(RECORDINGS_QUEUE, { connection: redis, prefix: KEY_PREFIX });
  try {
    const job = await queue.getJob(recordingId);
    const keys = recordingRedisKeys(KEY_PREFIX, recordingId);
    return {
      jobState: await job?.getState(),
      result: job?.returnvalue as RecordingResult,
      record: await redis.hgetall(keys.record),
      index: (await redis.hvals(keys.segments))
        .map((v) => JSON.parse(v) as IndexedSegment)
        .sort((a, b) => a.sequence - b.sequence),
      streamIds: (await redis.xrange(keys.events, '-', '+')).map(([id]) => id),
    };
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

/** The recording as stored: the job's result matches, every segment is listed once, FFmpeg decodes it. */
async function expectCompleteRecording(
  fleet: SentinelFleet,
  recordingId: string,
  outcome: Outcome,
): Promise<void> {
  const { result, record, index } = outcome;
  expect(outcome.jobState).toBe('completed');
  expect(record.state).toBe('uploaded');
  // One owner throughout: a fenced-and-resumed recording would have claimed epoch 2.
  expect(record.epoch).toBe('1');
  expect(result).toMatchObject({
    recordingId,
    outcome: 'uploaded',
    stopReason: 'requested',
    storageProfile: 'local',
  });
  expect(JSON.parse(record.result ?? '{}')).toEqual(result);
  // Contiguous from 0, every entry delivered to the primary store, as many as the worker recorded.
  expect(index.map((s) => s.sequence)).toEqual([...Array(result.segments).keys()]);
  expect(index.every((s) => s.location === 'primary')).toBe(true);

  const playlistPath = join(fleet.storageRoot, result.playlistKey);
  const playlist = await readFile(playlistPath, 'utf8');
  const listed = playlist.split('\n').filter((l) => l.endsWith('.ts'));
  const stored = (await readdir(fleet.storageRoot)).filter((f) => f.endsWith('.ts')).sort();
  expect(listed).toEqual(stored);
  expect(listed).toHaveLength(result.segments);
  expect(playlist.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
  expect(playlist).not.toContain('#EXT-X-DISCONTINUITY');
  const decoded = decodePlaylist(playlistPath);
  expect(decoded.errors).toBe('');
  expect(decoded.exitCode).toBe(0);
}

describe.skipIf(!available)('Redis primary killed under Sentinel mid-recording', () => {
  it(
    'promotes the replica; the recording goes on with the same owner and completes with every segment',
    async () => {
      const topology = await RedisSentinelTopology.start({ downAfterMs: 1000, failoverTimeoutMs: 5000 });
      const fleet = await startFleet(topology);
      const { recordingId, events, done } = await record(fleet);
      await expect
        .poll(() => count(events, 'uploaded_segment'), { timeout: 30_000 * scale, interval: 200 })
        .toBeGreaterThanOrEqual(3);

      const killedAt = Date.now();
      const former = await topology.killPrimary();
      const promoted = await topology.waitForFailover(former, 30_000 * scale);
      const failedOverAt = Date.now();
      expect(promoted).not.toBe(former);
      expect(await topology.info(promoted, 'replication')).toContain('role:master');

      // Segments finished after the promotion reached the new primary (their events are read from it).
      await expect
        .poll(() => count(events, 'uploaded_segment', failedOverAt), {
          timeout: 30_000 * scale,
          interval: 200,
        })
        .toBeGreaterThanOrEqual(3);
      await fleet.client.stop(recordingId);
      await done;
      expect(events.at(-1)?.type).toBe('uploaded');

      expect(count(events, 'handoff')).toBe(0);
      expect(count(events, 'joined')).toBe(1);
      expect(count(events, 'fatal_error')).toBe(0);
      const segments = events.filter((e) => e.type === 'segment');
      // Segments were cut while the primary was dead or being replaced, and none starts a discontinuity.
      expect(segments.some((e) => e.at >= killedAt && e.at <= failedOverAt)).toBe(true);
      expect(segments.filter((e) => e.data.discontinuity === true)).toEqual([]);

      const outcome = await readOutcome(topology, recordingId);
      await expectCompleteRecording(fleet, recordingId, outcome);
      // Every segment the worker reported is in the index, the playlist and storage.
      expect(segments.map((e) => e.data.sequence)).toEqual(outcome.index.map((s) => s.sequence));
    },
    180_000 * scale,
  );

  it(
    'loses the writes the old primary acknowledged but never replicated, and still lists every segment',
    async () => {
      let link: TcpProxy | undefined;
      const topology = await RedisSentinelTopology.start({
        downAfterMs: 1000,
        failoverTimeoutMs: 5000,
        replicaLink: async (primaryPort) => {
          link = await TcpProxy.start(primaryPort);
          return link.port;
        },
      });
      cleanups.push(async () => link?.close());
      const fleet = await startFleet(topology);
      const { recordingId, events, done } = await record(fleet);
      await expect
        .poll(() => count(events, 'uploaded_segment'), { timeout: 30_000 * scale, interval: 200 })
        .toBeGreaterThanOrEqual(2);

      // Hold the replication stream back: the primary goes on acknowledging writes the replica never
      // gets. Let at least two segments be delivered and indexed that way, then the primary dies.
      link!.cut();
      const cutAt = Date.now();
      await expect
        .poll(() => count(events, 'uploaded_segment', cutAt), { timeout: 30_000 * scale, interval: 100 })
        .toBeGreaterThanOrEqual(2);
      const seenBeforeKill = events.map((e) => e.id);
      const former = await topology.killPrimary();
      // What the proxy held is dropped with the link: those writes existed only on the dead primary.
      await link!.close();
      await topology.waitForFailover(former, 30_000 * scale);
      const failedOverAt = Date.now();

      await expect
        .poll(() => count(events, 'uploaded_segment', failedOverAt), {
          timeout: 30_000 * scale,
          interval: 200,
        })
        .toBeGreaterThanOrEqual(3);
      await fleet.client.stop(recordingId);
      await done;
      expect(events.at(-1)?.type).toBe('uploaded');

      const outcome = await readOutcome(topology, recordingId);
      // The fault was real: events the producer read from the old primary are gone from the new one.
      const lost = seenBeforeKill.filter((id) => !outcome.streamIds.includes(id));
      expect(lost.length).toBeGreaterThanOrEqual(2);
      // Yet the segment index, rebuilt by the worker from what it wrote, misses nothing.
      await expectCompleteRecording(fleet, recordingId, outcome);
    },
    180_000 * scale,
  );
});
