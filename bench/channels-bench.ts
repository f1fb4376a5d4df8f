/**
 * Channels benchmark (`npm run bench:channels`).
 *
 * One run, the same user streams, recorded two ways by the complete worker (a recfleet-worker process,
 * local storage, a private Redis), one phase at a time:
 *   - channel: C channel recordings (jobs without `sourceUrl`, a channel token as the token, maxUsers =
 *     U) of C channels of U users each: the worker's node-media-server channel directory finds the
 *     users and records each into their own playlist;
 *   - single:  C × U single-stream recordings (jobs with `sourceUrl`), one per user stream.
 * So the ratio compares the channel path (directory, one session of many tracks, users hash, manifest)
 * with the single-stream path, on the same media.
 *
 * The users' streams: one pre-encoded 30 fps H.264/AAC clip (360p by default, `--resolution 720p`),
 * published in a loop with `ffmpeg -re -stream_loop -1 -c copy` by a few FFmpeg processes, each writing
 * its demuxed copy to many users' paths with the tee muxer, on one embedded channel server
 * (node-media-server: the worker's channel directory names one server). The publishers start one after
 * another, spread over `--join-spread` seconds, after every recording is waiting, so that every user
 * joins a running recording. The publishers and the channel server are the fan-out: measured, charged to
 * neither side; so are Redis and this driver.
 *
 * Per phase, after a warm-up (at least `--warmup` s after the last publisher started, and until every
 * stream has closed a segment), over a fixed window (bench/engine-support.ts: measureWindow):
 *   - CPU: utime+stime of the worker process, as CPU seconds per stream-minute;
 *   - memory: the worker's PSS per stream (mean of three samples; the figure bench:engine reports and
 *     the target is judged on), and, as a closer look, the anonymous PSS each stream adds beyond the
 *     idle worker (the smallest of its samples over 30 s before its first job), which the worker's
 *     fixed ~40 MB does not dilute;
 *   - real time: per stream, segment k's `segment` event at close_k holding Σ duration_j (j ≤ k); late
 *     when close_k − Σ duration exceeds the stream's smallest such offset by more than 1 s (lateness());
 *     a phase holds real time when no segment in the window is late, every stream closed a segment within
 *     one segment length (+1 s) of both ends of the window and
 *     nothing failed;
 *   - join → first segment: from the channel server's postPublish of a user's stream to the first
 *     `segment` event of that user (channel side also: to `user_joined`).
 * Then every recording is stopped and must end `uploaded`.
 *
 * Flags: --channels C (50)  --users U (4)  --seconds S (window, 60)  --warmup S (15)
 *        --segment-seconds S (6)  --publishers P (8)  --join-spread S (8)  --resolution 360p|720p
 *        --source file.flv  --sides channel,single  --repeats R (1)  --no-retry
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { recordingRedisKeys, userStreamName, DEFAULT_KEY_PREFIX } from '@recfleet/contract';
import { ChannelServer, freePort, RedisServer } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import { Redis } from 'ioredis';
import { EventTap, startTeePublisher, sweepSegments, type TappedEvent } from './channels-support.js';
import {
  CLK_TCK,
  channelServerPid,
  Cleanup,
  coresBetween,
  describeSource,
  encodeSource,
  fixed,
  LATE_LIMIT_SECONDS,
  lateness,
  markdownTable,
  measureWindow,
  positiveFlag,
  pssOf,
  RETRY_OTHERS_CORES,
  sampleCpu,
  sleep,
  total,
  type CoresUsed,
  type SegmentClose,
  type SourceSpec,
} from './engine-support.js';
import { machineInfo, percentile, startFleetWorker, type FleetWorker } from './fleet-support.js';

const APP = 'bench';
const RECORDER_UID = 1;
const FIRST_USER_UID = 101;
const TARGET_CPU_RATIO = 1.1;
const TARGET_PSS_RATIO = 1.1;
const IDLE_SECONDS = 30;
const API_SECRET_ENV = 'RECFLEET_BENCH_CHANNEL_API_SECRET';
const SOURCES: Record<string, Omit<SourceSpec, 'seconds'>> = {
  '360p': { width: 640, height: 360, videoBitrate: '800k' },
  '720p': { width: 1280, height: 720, videoBitrate: '3M' },
};

// ---------------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    channels: { type: 'string' },
    users: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    'segment-seconds': { type: 'string' },
    publishers: { type: 'string' },
    'join-spread': { type: 'string' },
    resolution: { type: 'string' },
    source: { type: 'string' },
    sides: { type: 'string' },
    repeats: { type: 'string' },
    'no-retry': { type: 'boolean', default: false },
  },
});
const CHANNELS = positiveFlag('channels', flags.channels, 50, true);
const USERS = positiveFlag('users', flags.users, 4, true);
const STREAMS = CHANNELS * USERS;
const WINDOW_S = positiveFlag('seconds', flags.seconds, 60);
const WARMUP_S = positiveFlag('warmup', flags.warmup, 15);
const SEGMENT_S = positiveFlag('segment-seconds', flags['segment-seconds'], 6);
const PUBLISHERS = Math.min(STREAMS, positiveFlag('publishers', flags.publishers, 8, true));
const JOIN_SPREAD_S = positiveFlag('join-spread', flags['join-spread'], 8);
const REPEATS = positiveFlag('repeats', flags.repeats, 1, true);
const RETRY = !flags['no-retry'];
const RESOLUTION = flags.resolution ?? '360p';
if (!SOURCES[RESOLUTION]) {
  throw new Error(`Expected 360p or 720p for --resolution but received ${RESOLUTION}`);
}
type Side = 'channel' | 'single';
const SIDES = (flags.sides ?? 'channel,single').split(',').map((s) => s.trim());
for (const s of SIDES) {
  if (s !== 'channel' && s !== 'single') {
    throw new Error(`Expected channel and/or single for --sides but received ${s}`);
  }
}
if (USERS > 64) throw new Error('--users: a channel recording records at most 64 users at once (maxUsers)');

const log = (line: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

// ---------------------------------------------------------------------------------------------
// The users' streams

interface UserStream {
  /** `<channel>/<uid>`: the stream on both sides. */
  key: string;
  channel: string;
  uid: number;
  /** `/<app>/<userStreamName(channel, uid)>`: what the channel server reports. */
  path: string;
  publishUrl: string;
  /** The single-stream side's sourceUrl: the user's stream with the channel's token. */
  playUrl: string;
}

function userStreams(server: ChannelServer, ttlSeconds: number): UserStream[] {
  const streams: UserStream[] = [];
  // User-major order: the publishers take consecutive slices, so each channel's users join at
  // different times (the first users of every channel first, then the second ones, …).
  for (let u = 0; u < USERS; u++) {
    for (let c = 0; c < CHANNELS; c++) {
      const channel = `ch${String(c).padStart(3, '0')}`;
      const uid = FIRST_USER_UID + u;
      const path = `/${APP}/${userStreamName(channel, uid)}`;
      const token = server.channelToken(APP, channel, ttlSeconds);
      streams.push({
        key: `${channel}/${uid}`,
        channel,
        uid,
        path,
        publishUrl: server.userRtmpUrl(APP, channel, uid),
        playUrl: `${server.rtmpBaseUrl}${path}?sign=${token}`,
      });
    }
  }
  return streams;
}

// ---------------------------------------------------------------------------------------------
// One phase

interface Fleet {
  source: string;
  server: ChannelServer;
  serverPid: number;
  redis: RedisServer;
  redisPid: number;
  client: RecordingClient;
  reader: Redis;
  streams: UserStream[];
  work: string;
  runId: string;
}

interface PhaseResult {
  side: Side;
  attempt: number;
  /** Run again (a miss while the host was busy): the later attempt counts. */
  superseded?: boolean;
  recordings: number;
  streams: number;
  cpuPerStreamMinute: number;
  pssPerStreamMB: number;
  /** Anonymous (heap, buffers) PSS added per stream beyond the idle worker's. */
  addedAnonPerStreamMB: number;
  idlePssMB: number;
  idleAnonMB: number;
  /**
   * Where the added memory is, per stream beyond the idle worker, from the worker's /metrics (Node's
   * own figures): V8's heap in use, and memory outside it that V8 tracks (Buffers, ArrayBuffers).
   * What is left of the added anonymous memory is native: the recorders and the allocator.
   */
  addedHeapPerStreamMB: number;
  addedExternalPerStreamMB: number;
  late: number;
  maxLateSeconds: number;
  segments: number;
  expectedSegments: number;
  shortStreams: number;
  /** Publish → first segment, ms, per stream. */
  firstSegmentMs: number[];
  /** Channel side: publish → user_joined, ms, per stream. */
  userJoinedMs: number[];
  failures: string[];
  notUploaded: number;
  cores: CoresUsed;
  realTime: boolean;
}

/** What the events of one phase say, per stream. */
class PhaseEvents {
  readonly segments = new Map<string, SegmentClose[]>();
  readonly userJoinedAt = new Map<string, number>();
  readonly failures: string[] = [];
  readonly finals = new Map<string, string>();

  constructor(private readonly streamOf: (e: TappedEvent) => string | undefined) {}

  note(e: TappedEvent): void {
    const key = this.streamOf(e);
    switch (e.type) {
      case 'segment':
        if (key) {
          const list = this.segments.get(key) ?? [];
          list.push({ closedAt: e.at, durationSeconds: Number(e.data.durationSeconds) });
          this.segments.set(key, list);
        }
        break;
      case 'user_joined':
        if (key && e.data.recorded === true && !this.userJoinedAt.has(key)) this.userJoinedAt.set(key, e.at);
        break;
      case 'user_not_recorded':
        this.failures.push(
          `${e.recordingId}: user ${String(e.data.uid)} not recorded (${String(e.data.reason)})`,
        );
        break;
      case 'user_left':
        if (e.data.reason === 'failed') {
          this.failures.push(`${e.recordingId}: user ${String(e.data.uid)} failed: ${String(e.data.code)}`);
        }
        break;
      case 'recorder_failure':
        // A single-stream recording is started before its user publishes (so that its join is timed as
        // the channel's is): until the stream appears, its opens time out and are retried. That is the
        // wait, not a failure — once the stream has had a segment, any report is one.
        if (e.data.code === 'SOURCE_UNREACHABLE' && key && !this.segments.has(key)) break;
        this.failures.push(
          `${e.recordingId}: ${e.type} ${String(e.data.code)} ${String(e.data.message ?? '')}`,
        );
        break;
      case 'fatal_error':
        this.failures.push(
          `${e.recordingId}: ${e.type} ${String(e.data.code)} ${String(e.data.message ?? '')}`,
        );
        break;
      case 'stopped':
        if (e.data.reason !== 'requested') {
          this.failures.push(`${e.recordingId}: stopped (${String(e.data.reason)})`);
        }
        break;
    }
    if (e.type === 'uploaded' || e.type === 'backed_up' || e.type === 'fatal_error') {
      this.finals.set(e.recordingId, e.type);
    }
  }

  withSegments(): number {
    return this.segments.size;
  }
}

async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** The recordings' states, read in one pipelined round trip. */
async function states(reader: Redis, ids: readonly string[]): Promise<(string | null)[]> {
  const pipeline = reader.pipeline();
  for (const id of ids) pipeline.hget(recordingRedisKeys(DEFAULT_KEY_PREFIX, id).record, 'state');
  return ((await pipeline.exec()) ?? []).map(([, v]) => (typeof v === 'string' ? v : null));
}

/**
 * The idle worker's PSS and its anonymous part: the smallest of its samples over IDLE_SECONDS. V8's
 * memory reducer gives back the start-up heap (~35 MB) some 9 s after the worker went quiet (later on a
 * busy host). What streams add is judged on anonymous memory: the file-backed share of the shared
 * libraries (libav*, which the publishers map too) shrinks as more processes map them.
 */
async function idleMemory(pid: number): Promise<{ pss: number; anon: number }> {
  const idle = { pss: Infinity, anon: Infinity };
  for (let k = 0; k < IDLE_SECONDS; k++) {
    await sleep(1000);
    const p = await pssOf([pid]);
    idle.pss = Math.min(idle.pss, p.total);
    idle.anon = Math.min(idle.anon, p.anon);
  }
  return idle;
}

/** Node's memory figures of a worker process, from its /metrics (prom-client's default metrics). */
interface RuntimeMemory {
  heapUsed: number;
  external: number;
}

async function runtimeMemory(httpPort: number): Promise<RuntimeMemory> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const value = (name: string): number => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  return { heapUsed: value('nodejs_heap_size_used_bytes'), external: value('nodejs_external_memory_bytes') };
}

/** The mean of a few samples a second apart: the heap in use moves with every collection. */
async function meanRuntimeMemory(httpPort: number, samples = 5): Promise<RuntimeMemory> {
  const sum = { heapUsed: 0, external: 0 };
  for (let k = 0; k < samples; k++) {
    if (k > 0) await sleep(1000);
    const m = await runtimeMemory(httpPort);
    sum.heapUsed += m.heapUsed / samples;
    sum.external += m.external / samples;
  }
  return sum;
}

function startPhaseWorker(
  side: Side,
  attempt: number,
  dir: string,
  storageRoot: string,
  fleet: Fleet,
  httpPort: number,
  cleanup: Cleanup,
): Promise<FleetWorker> {
  const { server } = fleet;
  return startFleetWorker(
    {
      name: `${side}-${attempt}`,
      redisUrl: fleet.redis.url,
      storageRoot,
      spoolDir: join(dir, 'spool'),
      env: { [API_SECRET_ENV]: server.apiSecret },
      extra: {
        channelDirectory: {
          type: 'node-media-server',
          rtmpUrl: server.rtmpBaseUrl,
          apiUrl: server.apiUrl,
          apiSecret: { env: API_SECRET_ENV },
        },
        maxRecordings: side === 'channel' ? CHANNELS : STREAMS,
        httpPort,
        // The benchmark measures what streams cost: the admission estimates (which would stop a 2-core
        // host at 160 streams) must not be the limit.
        admission: { cpuCoresPerStream: 0.001, memoryMbPerStream: 1 },
      },
    },
    cleanup,
  );
}

/**
 * Starts the side's recordings; returns, by recording id, the stream it records (single) or its
 * channel (channel: the events' uid names the user).
 */
/**
 * A start answers the identity's active recording when there is one: an earlier phase's recording of the
 * same (app, channel, uid) that had not ended (handed back to the queue when its worker stopped) would
 * be measured instead of this phase's. Say so rather than wait for an id that never records.
 */
function expectStarted(started: { recordingId: string; created: boolean }, recordingId: string): void {
  if (!started.created || started.recordingId !== recordingId) {
    throw new Error(
      `${recordingId} was not started: ${started.recordingId} of an earlier phase still holds its identity ` +
        '(run one phase per side, or wait for the earlier recordings to end)',
    );
  }
}

async function enqueue(side: Side, fleet: Fleet, prefix: string): Promise<Map<string, string | UserStream>> {
  const { client, server, streams } = fleet;
  const recordings = new Map<string, string | UserStream>();
  if (side === 'channel') {
    for (const channel of [...new Set(streams.map((s) => s.channel))]) {
      const recordingId = `${prefix}-${channel}`;
      const started = await client.start({
        recordingId,
        appId: APP,
        channel,
        uid: RECORDER_UID,
        token: server.channelToken(APP, channel, 3600),
        recordingConfig: { segmentSeconds: SEGMENT_S, maxIdleSeconds: 120, maxUsers: USERS },
        storage: { profile: 'local' },
      });
      expectStarted(started, recordingId);
      recordings.set(recordingId, channel);
    }
    return recordings;
  }
  for (const s of streams) {
    const recordingId = `${prefix}-${s.channel}-u${s.uid}`;
    const started = await client.start({
      recordingId,
      appId: APP,
      channel: s.channel,
      uid: s.uid,
      sourceUrl: s.playUrl,
      recordingConfig: { segmentSeconds: SEGMENT_S, maxIdleSeconds: 120 },
      storage: { profile: 'local' },
    });
    expectStarted(started, recordingId);
    recordings.set(recordingId, s);
  }
  return recordings;
}

/** The users join: one tee publisher after another, spread over JOIN_SPREAD_S. */
async function publishUsers(
  fleet: Fleet,
  cleanup: Cleanup,
): Promise<{ pid: number; stop: () => Promise<void> }[]> {
  const { streams } = fleet;
  const publishers: { pid: number; stop: () => Promise<void> }[] = [];
  const per = Math.ceil(streams.length / PUBLISHERS);
  const began = Date.now();
  for (let p = 0; p * per < streams.length; p++) {
    await sleep(Math.max(0, began + (p * JOIN_SPREAD_S * 1000) / PUBLISHERS - Date.now()));
    const urls = streams.slice(p * per, (p + 1) * per).map((s) => s.publishUrl);
    const pub = startTeePublisher(`publisher ${p}`, fleet.source, urls, cleanup);
    publishers.push({ pid: pub.proc.pid!, stop: pub.stop });
  }
  return publishers;
}

/** Per stream, the time from `from` to `to` (ms), where both are known. */
function delays(
  streams: readonly UserStream[],
  from: Map<string, number>,
  to: Map<string, number>,
): number[] {
  return streams.flatMap((s) => {
    const a = from.get(s.key);
    const b = to.get(s.key);
    return a === undefined || b === undefined ? [] : [b - a];
  });
}

let phasesStarted = 0;

async function runPhase(side: Side, attempt: number, fleet: Fleet, cleanup: Cleanup): Promise<PhaseResult> {
  const { server, client, streams } = fleet;
  const tag = `${side}${attempt > 1 ? ` (attempt ${attempt})` : ''}`;
  const dir = await mkdtemp(join(fleet.work, `${side}-${attempt}-`));
  const undoDir = cleanup.dir(dir);
  const storageRoot = join(dir, 'storage');
  await mkdir(storageRoot, { recursive: true });
  const stopSweeping = sweepSegments(storageRoot, 10_000);
  const httpPort = await freePort();
  const worker = await startPhaseWorker(side, attempt, dir, storageRoot, fleet, httpPort, cleanup);
  const workerPid = worker.pid!;
  let publishers: { pid: number; stop: () => Promise<void> }[] = [];
  const published = new Map<string, number>();
  const byPath = new Map(streams.map((s) => [s.path, s]));
  const offPublish = server.onEvent((e) => {
    const s = e.streamPath === undefined ? undefined : byPath.get(e.streamPath);
    if (e.event === 'postPublish' && s && !published.has(s.key)) published.set(s.key, e.at);
  });
  let recordings = new Map<string, string | UserStream>();
  const events = new PhaseEvents((e) => {
    const r = recordings.get(e.recordingId);
    if (typeof r !== 'string') return r?.key;
    const uid = Number(e.data.uid);
    return Number.isInteger(uid) ? `${r}/${uid}` : undefined;
  });
  const tap = new EventTap(fleet.reader, DEFAULT_KEY_PREFIX);
  tap.onEvent((e) => events.note(e));
  try {
    const idle = await idleMemory(workerPid);
    const idleRuntime = await meanRuntimeMemory(httpPort);
    const count = side === 'channel' ? CHANNELS : STREAMS;
    log(
      `${tag}: worker pid ${workerPid} ready (idle PSS ${fixed(idle.pss / 2 ** 20, 1)} MB, ` +
        `${fixed(idle.anon / 2 ** 20, 1)} MB anon); starting ${count} recordings…`,
    );
    // Every phase its own ids: a repeat that reused an earlier phase's ids would be answered with that
    // (ended) recording instead of starting its own.
    recordings = await enqueue(side, fleet, `${fleet.runId}-p${++phasesStarted}-${side}${attempt}`);
    const ids = [...recordings.keys()];
    for (const id of ids) tap.add(id);
    tap.start(1000);
    // Every recording waits for its users (channel: joined the channel; single: playing the stream).
    const waiting = side === 'channel' ? ['recording'] : ['joining', 'recording'];
    await waitUntil(
      'every recording to be taken by the worker',
      async () => (await states(fleet.reader, ids)).every((s) => s !== null && waiting.includes(s)),
      120_000,
    );
    await sleep(1000);

    publishers = await publishUsers(fleet, cleanup);
    await waitUntil('every user stream to be published', () => published.size === streams.length, 30_000);
    const lastJoin = Date.now();
    log(`${tag}: ${streams.length} user streams published by ${publishers.length} publishers; warming up…`);
    const cap = lastJoin + (WARMUP_S + 60) * 1000;
    while (
      Date.now() < lastJoin + WARMUP_S * 1000 ||
      (events.withSegments() < streams.length && Date.now() < cap)
    ) {
      await sleep(250);
    }
    log(`${tag}: ${events.withSegments()}/${streams.length} streams have segments; measuring ${WINDOW_S} s…`);

    const groups = {
      worker: [workerPid],
      server: [fleet.serverPid],
      publishers: publishers.map((p) => p.pid),
      redis: [fleet.redisPid],
      driver: [process.pid],
    };
    const window = await measureWindow(
      WINDOW_S,
      () => [workerPid],
      () => sampleCpu(groups),
    );
    const runtime = await meanRuntimeMemory(httpPort);
    await tap.poll();
    const cores = coresBetween(window.s0, window.s1);
    const n = streams.length;
    const l = lateness(
      streams.map((s) => events.segments.get(s.key) ?? []),
      window.windowStart,
      window.windowEnd,
      SEGMENT_S,
      LATE_LIMIT_SECONDS,
    );
    const firstSegmentAt = new Map(
      [...events.segments].flatMap(([key, list]) => (list[0] ? [[key, list[0].closedAt] as const] : [])),
    );
    const failures = [...events.failures, ...(worker.running ? [] : [`worker exited: ${worker.output()}`])];
    const result: PhaseResult = {
      side,
      attempt,
      recordings: ids.length,
      streams: n,
      cpuPerStreamMinute: total(cores.ticks.worker!) / CLK_TCK / ((n * cores.seconds) / 60),
      pssPerStreamMB: window.pss.total / n / 2 ** 20,
      addedAnonPerStreamMB: (window.pss.anon - idle.anon) / n / 2 ** 20,
      idlePssMB: idle.pss / 2 ** 20,
      idleAnonMB: idle.anon / 2 ** 20,
      addedHeapPerStreamMB: (runtime.heapUsed - idleRuntime.heapUsed) / n / 2 ** 20,
      addedExternalPerStreamMB: (runtime.external - idleRuntime.external) / n / 2 ** 20,
      late: l.late,
      maxLateSeconds: l.maxLateSeconds,
      segments: l.inWindow,
      expectedSegments: n * Math.floor((window.windowEnd - window.windowStart) / 1000 / SEGMENT_S),
      shortStreams: l.shortRecordings,
      firstSegmentMs: delays(streams, published, firstSegmentAt),
      userJoinedMs: delays(streams, published, events.userJoinedAt),
      failures,
      notUploaded: 0,
      cores,
      realTime: l.late === 0 && l.shortRecordings === 0 && failures.length === 0,
    };
    log(
      `${tag}: ${fixed(result.cpuPerStreamMinute, 3)} CPU s/stream-min, ${fixed(result.pssPerStreamMB, 2)} MB PSS/stream ` +
        `(${fixed(result.addedAnonPerStreamMB, 2)} MB anon added), late ${l.late} (max ${fixed(l.maxLateSeconds, 2)} s), ` +
        `segments ${l.inWindow} (≥ ${result.expectedSegments}), short ${l.shortRecordings}, failures ${failures.length}; ` +
        `cores: ${coresText(cores)}`,
    );
    for (const f of failures.slice(0, 5)) log(`  failure: ${f}`);

    log(`${tag}: stopping ${ids.length} recordings…`);
    for (const id of ids) {
      await client.stop(id).catch((err: unknown) => log(`stop ${id}: ${(err as Error).message}`));
    }
    await waitUntil('every recording to end', () => events.finals.size === ids.length, 120_000).catch(
      (err: unknown) => log(`${tag}: ${(err as Error).message}`),
    );
    result.notUploaded = ids.filter((id) => events.finals.get(id) !== 'uploaded').length;
    if (result.notUploaded > 0) {
      result.failures.push(`${result.notUploaded} of ${ids.length} recordings did not end uploaded`);
      result.realTime = false;
    }
    return result;
  } finally {
    offPublish();
    await tap.stop();
    await Promise.all(publishers.map((p) => p.stop()));
    await worker.stop('SIGTERM', 30_000);
    await stopSweeping();
    await undoDir();
  }
}

function coresText(c: CoresUsed): string {
  const g = c.groups;
  return [g.worker, g.server, g.publishers, g.redis, g.driver, c.others]
    .map((v) => fixed(v ?? Number.NaN, 2))
    .join(' / ');
}

// ---------------------------------------------------------------------------------------------
// Report

const median = (values: number[]): number => percentile(values, 50);
const seconds = (ms: number): string => (Number.isFinite(ms) ? fixed(ms / 1000, 2) : 'n/a');

function report(results: PhaseResult[], header: string[]): string {
  const rows = results.map((r) => [
    r.side + (r.attempt > 1 ? ` (${r.attempt})` : ''),
    String(r.recordings),
    String(r.streams),
    fixed(r.cpuPerStreamMinute, 3),
    fixed(r.pssPerStreamMB, 2),
    fixed(r.addedAnonPerStreamMB, 2),
    `${r.late} / ${fixed(r.maxLateSeconds, 2)}`,
    `${r.segments} / ${r.expectedSegments}`,
    String(r.failures.length),
    r.realTime ? 'yes' : 'NO',
    `${seconds(percentile(r.firstSegmentMs, 50))} / ${seconds(percentile(r.firstSegmentMs, 99))}`,
    r.side === 'channel'
      ? `${seconds(percentile(r.userJoinedMs, 50))} / ${seconds(percentile(r.userJoinedMs, 99))}`
      : '—',
    coresText(r.cores),
  ]);
  const lines = [
    ...header,
    '',
    markdownTable(
      [
        'side',
        'recordings',
        'streams',
        'CPU s / stream-min',
        'PSS MB / stream',
        'added anon MB / stream',
        'late segs / max s',
        'segments / due',
        'failed',
        'real time',
        'join → 1st segment p50 / p99 s',
        'join → user_joined p50 / p99 s',
        'cores: worker / channel server / publishers / redis / driver / others',
      ],
      rows,
      new Set([1, 2, 3, 4, 5, 6, 7, 8]),
    ),
    '',
  ];
  // The last attempt of each repeat counts; a side's figure is the median over its repeats.
  const counted = (side: Side): PhaseResult[] => results.filter((r) => r.side === side && !r.superseded);
  const figure = (side: Side, f: (r: PhaseResult) => number): number => median(counted(side).map(f));
  const ch = counted('channel');
  const si = counted('single');
  if (ch.length > 0 && si.length > 0) {
    const cpu =
      figure('channel', (r) => r.cpuPerStreamMinute) / figure('single', (r) => r.cpuPerStreamMinute);
    const pss = figure('channel', (r) => r.pssPerStreamMB) / figure('single', (r) => r.pssPerStreamMB);
    const added =
      figure('channel', (r) => r.addedAnonPerStreamMB) / figure('single', (r) => r.addedAnonPerStreamMB);
    const rt = (rs: PhaseResult[]): string => (rs.every((r) => r.realTime) ? 'yes' : 'NO');
    const joins = ch.flatMap((r) => r.firstSegmentMs);
    lines.push(
      markdownTable(
        [
          'streams',
          'CPU channel / single',
          'PSS channel / single',
          'added anon channel / single',
          'real time (channel / single)',
          'channel join → 1st segment p50 / p99 s',
        ],
        [
          [
            String(STREAMS),
            `${fixed(cpu, 3)}×`,
            `${fixed(pss, 3)}×`,
            `${fixed(added, 3)}×`,
            `${rt(ch)} / ${rt(si)}`,
            `${seconds(percentile(joins, 50))} / ${seconds(percentile(joins, 99))}`,
          ],
        ],
        new Set([0, 1, 2, 3]),
      ),
      '',
    );
    const pass = (ok: boolean): string =>
      Number.isFinite(cpu) && Number.isFinite(pss) ? (ok ? 'PASS' : 'MISS') : 'n/a ';
    lines.push(
      `- ${pass(cpu <= TARGET_CPU_RATIO)} CPU per stream: channel ${fixed(cpu, 3)}× single (target ≤ ${TARGET_CPU_RATIO}×)`,
      `- ${pass(pss <= TARGET_PSS_RATIO)} memory per stream: channel ${fixed(pss, 3)}× single, worker PSS per stream (the anonymous memory each stream adds beyond the idle worker: ${fixed(added, 3)}×; target ≤ ${TARGET_PSS_RATIO}×)`,
      `- ${pass(ch.every((r) => r.realTime) && si.every((r) => r.realTime))} real time: channel ${rt(ch)}, single ${rt(si)} (${STREAMS} streams on one worker)`,
      `- user joined → first segment (publish → the user's first \`segment\` event, ${SEGMENT_S} s segments): p50 ${seconds(percentile(joins, 50))} s, p99 ${seconds(percentile(joins, 99))} s`,
    );
  }
  lines.push(
    '',
    'Where it goes:',
    '',
    ...results.map(
      (r) =>
        `- ${r.side}${r.attempt > 1 ? ` (${r.attempt})` : ''}: idle worker ${fixed(r.idlePssMB, 1)} MB PSS ` +
        `(${fixed(r.idleAnonMB, 1)} MB anon); per stream added ${fixed(r.addedAnonPerStreamMB, 2)} MB anon, of it ` +
        `${fixed(r.addedHeapPerStreamMB, 2)} MB V8 heap in use, ${fixed(r.addedExternalPerStreamMB, 2)} MB external ` +
        `(Buffers), ${fixed(r.addedAnonPerStreamMB - r.addedHeapPerStreamMB - r.addedExternalPerStreamMB, 2)} MB ` +
        `the rest (native, allocator, V8's free space); worker ${fixed(r.cores.groups.worker ?? Number.NaN, 2)} cores, ` +
        `channel server ${fixed(r.cores.groups.server ?? Number.NaN, 2)} (fan-out, and the directory's API ` +
        `polls on the channel side), publishers ${fixed(r.cores.groups.publishers ?? Number.NaN, 2)}, ` +
        `machine ${fixed(r.cores.machine, 2)}; kernel share of the worker's CPU ` +
        `${Math.round((r.cores.ticks.worker!.system / Math.max(1, total(r.cores.ticks.worker!))) * 100)}%`,
    ),
  );
  const failed = results.flatMap((r) => r.failures.map((f) => `${r.side}: ${f}`));
  if (failed.length > 0) lines.push('', 'Failures (first 10):', ...failed.slice(0, 10).map((f) => `- ${f}`));
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.onSignals();
  const began = Date.now();
  const loadBefore = loadavg();
  try {
    const work = await mkdtemp(join(tmpdir(), 'recfleet-channels-bench-'));
    cleanup.dir(work);
    const spec = { ...SOURCES[RESOLUTION]!, seconds: 30 };
    const source = flags.source ?? (await encodeSource(work, spec, cleanup, log));
    const sourceText = describeSource(source);
    log(`source: ${sourceText}`);
    const redis = await RedisServer.start();
    cleanup.add('redis-server', () => redis.stop());
    const server = await ChannelServer.start();
    cleanup.add('channel server', () => server.stop());
    const serverPid = await channelServerPid(server, cleanup);
    const client = new RecordingClient({ redisUrl: redis.url });
    cleanup.add('recording client', () => client.close());
    const reader = new Redis(redis.url, { maxRetriesPerRequest: null });
    cleanup.add('redis reader', async () => reader.disconnect());
    const fleet: Fleet = {
      source,
      server,
      serverPid,
      redis,
      redisPid: redis.process!.pid!,
      client,
      reader,
      streams: userStreams(server, 6 * 3600),
      work,
      runId: `b${Date.now().toString(36)}`,
    };

    const results: PhaseResult[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const side of SIDES as Side[]) {
        let r = await runPhase(side, 1, fleet, cleanup);
        results.push(r);
        if (!r.realTime && RETRY && r.cores.others >= RETRY_OTHERS_CORES) {
          log(`${side}: missed real time while others used ${fixed(r.cores.others, 2)} cores; once more`);
          r.superseded = true;
          r = await runPhase(side, 2, fleet, cleanup);
          results.push(r);
        }
      }
    }

    const m = machineInfo();
    const command = `npm run bench:channels${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const header = [
      `- Command: \`${command}\` (${fixed((Date.now() - began) / 60_000, 1)} min)`,
      `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.ramGiB} GiB RAM, ${m.kernel}; Node ${m.node}`,
      `- Streams: ${CHANNELS} channels × ${USERS} users = ${STREAMS}; source: ${sourceText}; published by ` +
        `${PUBLISHERS} \`ffmpeg -re -stream_loop -1 -c copy -f tee\` processes (up to ${Math.ceil(STREAMS / PUBLISHERS)} ` +
        `user streams each, started over ${JOIN_SPREAD_S} s) to one node-media-server`,
      `- Segments: ${SEGMENT_S} s; warm-up ≥ ${WARMUP_S} s after the last user joined (until every stream closed ` +
        `a segment), then a ${WINDOW_S} s window per phase; one recfleet-worker process per phase`,
      `- Load average (1/5/15 min): ${loadBefore.map((v) => v.toFixed(2)).join(' / ')} before, ` +
        `${loadavg()
          .map((v) => v.toFixed(2))
          .join(' / ')} after`,
    ];
    process.stdout.write(`\n${report(results, header)}\n`);
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
