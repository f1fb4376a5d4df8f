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
import { RecordingClient } from '@recfleet/client';
import type { IndexedSegment } from '@recfleet/storage';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { decodePlaylist } from '../src/harness/media-check.js';
import { TcpProxy } from '../src/harness/tcp-proxy.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const KEY_PREFIX = '{recfleet}';
const APP = 'ha';
const CHANNEL = 'sentinel failover';
// A ride-through is what is tested here, with the worker's default job lock: a worker never fences
// itself for want of Redis, so a failover longer than the lock (detection 1 s + election + promotion +
// the clients' reconnect backoff, 6–8 s on busy cores) only lets the lock lapse; the job is then held as
// a ticket while its owner records on.
const LOCK_SECONDS = 6;
const available = RedisSentinelTopology.available();
if (!available) {
  process.stderr.write(
    'redis-sentinel-failover: SKIPPED — `redis-sentinel` is not on PATH (Debian package redis-sentinel)\n',
  );
}

let channels: ChannelServer;
let publisher: TestPublisher;
const cleanups: (() => Promise<unknown>)[] = [];
/** The worker's whole log of the running test (ManagedProcess keeps only a short tail). */
let workerLog: string[] = [];

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

/** On failure, what a reader needs to tell a stuck follower from a fenced worker or a stuck recording. */
function explainFailure(topology: RedisSentinelTopology, started: { recordingId?: string }): void {
  onTestFailed(async () => {
    const lines = [`worker log (last 200 lines):`, ...workerLog.slice(-200)];
    for (const node of topology.nodes) {
      const state = node.process.running
        ? (await topology.info(node.port, 'replication').catch((err: unknown) => String(err)))
            .split('\r\n')
            .filter((l) =>
              /^(role|master_port|master_link_status|master_repl_offset|slave_repl_offset)/.test(l),
            )
            .join(' ')
        : 'killed';
      lines.push(`node ${node.port}: ${state}`);
    }
    if (started.recordingId !== undefined) {
      const outcome = await readOutcome(topology, started.recordingId).catch((err: unknown) => String(err));
      lines.push(`as the primary holds it: ${JSON.stringify(outcome)}`);
    }
    process.stderr.write(`redis-sentinel-failover diagnostics:\n${lines.join('\n')}\n`);
  });
}

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
    storageProfiles: { local: { type: 'local', root: storageRoot } },
    spoolDir: join(dir, 'spool'),
    extra: {
      keyPrefix: KEY_PREFIX,
      lockSeconds: LOCK_SECONDS,
      stalledCheckSeconds: 1,
      shutdownGraceSeconds: 2,
    },
  });
  cleanups.push(() => worker.stop('SIGTERM', 5000));
  workerLog = [];
  const keep = (chunk: Buffer): void => {
    workerLog.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== ''),
    );
  };
  worker.child.stdout?.on('data', keep);
  worker.child.stderr?.on('data', keep);
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
    sourceUrl: channels.rtmpUrl(APP, CHANNEL),
    recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
    storage: { profile: 'local' },
  });
  const events: RecordingEvent[] = [];
  const done = (async () => {
    for await (const e of fleet.client.follow(recordingId)) events.push(e);
  })();
  // A follower that fails while an earlier assertion is failing must not surface as an unhandled
  // rejection blamed on the next test; `await done` still throws it.
  done.catch(() => undefined);
  return { recordingId, events, done };
}

function count(events: RecordingEvent[], type: string, after = 0): number {
  return events.filter((e) => e.type === type && e.at > after).length;
}

/** A connection of the test's own, through the sentinels like the fleet's. */
function sentinelConnection(topology: RedisSentinelTopology): Redis {
  const target = parseRedisUrl(topology.url);
  if (target.mode !== 'sentinel') throw new Error('expected a Sentinel URL');
  return new Redis({ ...target.options, maxRetriesPerRequest: null }).on('error', () => undefined);
}

/** A connection to one data node, whatever its role (a replica answers reads). */
function nodeConnection(port: number): Redis {
  return new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: true }).on(
    'error',
    () => undefined,
  );
}

/** Ids of the recording's events stream as one data node holds it. */
async function streamIdsOn(port: number, recordingId: string): Promise<string[]> {
  const redis = nodeConnection(port);
  try {
    const entries = await redis.xrange(recordingRedisKeys(KEY_PREFIX, recordingId).events, '-', '+');
    return entries.map(([id]) => id);
  } finally {
    redis.disconnect();
  }
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
    // The job ends just after the record's terminal event (its holder completes it from the record; after
    // the outage's lapsed lock, that holder is a ticket): wait for it rather than race it.
    const deadline = Date.now() + 15_000 * scale;
    let job = await queue.getJob(recordingId);
    while (Date.now() < deadline && !['completed', 'failed'].includes((await job?.getState()) ?? '')) {
      await new Promise((r) => setTimeout(r, 200));
      job = await queue.getJob(recordingId);
    }
    // Read again: the job read before its state was asked holds no result if it completed in between.
    job = await queue.getJob(recordingId);
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
      const started: { recordingId?: string } = {};
      explainFailure(topology, started);
      const fleet = await startFleet(topology);
      const { recordingId, events, done } = await record(fleet);
      started.recordingId = recordingId;
      await expect
        .poll(() => count(events, 'uploaded_segment'), { timeout: 30_000 * scale, interval: 200 })
        .toBeGreaterThanOrEqual(3);

      const killedAt = Date.now();
      const former = await topology.killPrimary();
      const promoted = await topology.waitForFailover(former, 30_000 * scale);
      const failedOverAt = Date.now();
      workerLog.push(
        `-- test: primary ${former} killed, ${promoted} promoted ${failedOverAt - killedAt} ms later`,
      );
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
      const started: { recordingId?: string } = {};
      explainFailure(topology, started);
      const [primary, replica] = topology.nodes.map((n) => n.port) as [number, number];
      const fleet = await startFleet(topology);
      const { recordingId, events, done } = await record(fleet);
      started.recordingId = recordingId;
      await expect
        .poll(() => count(events, 'uploaded_segment'), { timeout: 30_000 * scale, interval: 200 })
        .toBeGreaterThanOrEqual(2);

      // The fault needs the topology as it started: the replica still following the primary through
      // the proxy (a spurious failover on a starved host would have swapped their roles).
      expect(await topology.primaryPort()).toBe(primary);
      const replicaState = await topology.info(replica, 'replication');
      expect(replicaState).toContain(`master_port:${link!.port}`);
      expect(replicaState).toContain('master_link_status:up');

      // Hold the replication stream back: the primary goes on acknowledging writes the replica never
      // gets. Let at least two segments be delivered and indexed that way, and check on the nodes
      // themselves that the replica lacks events the primary holds, then the primary dies.
      link!.cut();
      const cutAt = Date.now();
      await expect
        .poll(() => count(events, 'uploaded_segment', cutAt), { timeout: 30_000 * scale, interval: 100 })
        .toBeGreaterThanOrEqual(2);
      let unreplicated: string[] = [];
      await expect
        .poll(
          async () => {
            const onReplica = new Set(await streamIdsOn(replica, recordingId));
            unreplicated = (await streamIdsOn(primary, recordingId)).filter((e) => !onReplica.has(e));
            return unreplicated.length;
          },
          { timeout: 10_000 * scale, interval: 200 },
        )
        .toBeGreaterThanOrEqual(2);
      // The producer has read some of them: those are the ones the failover must visibly lose.
      await expect
        .poll(() => events.filter((e) => unreplicated.includes(e.id)).length, {
          timeout: 10_000 * scale,
          interval: 100,
        })
        .toBeGreaterThanOrEqual(2);
      const seenBeforeKill = events.map((e) => e.id);
      const former = await topology.killPrimary();
      expect(former).toBe(primary);
      // What the proxy held is dropped with the link: those writes existed only on the dead primary.
      await link!.close();
      expect(await topology.waitForFailover(former, 30_000 * scale)).toBe(replica);
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
