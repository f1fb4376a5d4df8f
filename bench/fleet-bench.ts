/**
 * Worker fleet benchmark (`npm run bench:fleet`).
 *
 * Everything runs on this machine, in one run: a private redis-server, an RTMP channel server with a
 * live FFmpeg test publisher, local storage, real worker processes (apps/worker) with the worker's
 * default config, and the producer client (packages/client).
 *
 * 1. Join latency — enqueue-to-joined (the `joined` event's `at` minus the time just before the
 *    enqueue) of short recordings, alternating between
 *      - recfleet:  RecordingClient.start() → recfleet worker → RecordingSession → native Recorder
 *                   opens the channel → `joined` event in the recording's record;
 *      - reference: Queue.add() with the same job options → a bare BullMQ Worker (same Redis, prefix,
 *                   lock, stalled-check and concurrency settings) whose processor only runs a native
 *                   Recorder on the same channel (bench/fleet-bare-worker.ts).
 *    Both take `at` in the JS handler of the recorder's `joined` event, so the ratio isolates recfleet's
 *    producer and worker overhead (validation, durable record, claim/epoch, segment index, uploader)
 *    from the media join itself. Each trial waits until its recording has ended, then the fleet idles
 *    briefly so that neither side is measured while the other is still tearing down.
 * 2. Crash resume, side by side without and with a standby — one long recording per side:
 *      - redundancy 1: two workers (two hosts); the survivor resumes after the dead owner's job lock
 *        expires, with a new recorder (`joined`);
 *      - redundancy 2 (`recordingConfig.redundancy: 2`): three workers on three hosts (HOSTNAME), so that
 *        after a kill a standby can be on another host than the new owner while the killed one
 *        restarts; the standby's recorder never stopped: it claims and continues (`takeover`). Before
 *        each kill the bench waits until the record shows a live standby on another host that has stood
 *        by long enough to hold the owner's open segment (STANDBY_LEAD_MS).
 *    Repeatedly: SIGKILL the worker that owns the recording (the record's `owner`), measure kill → the
 *    next `joined` or `takeover` event, restart the killed host (its spool dir and HOSTNAME: spool
 *    recovery runs), let the new owner record, repeat. Media lost per kill comes from the segment index,
 *    the same way for both sides: on the source's clock, the first segment of the resumer's epoch's
 *    `sourceStartMs` − the last of the killed owner's epoch's `sourceEndMs`. At the end the recording is
 *    stopped and checked: every segment the workers reported finished is in the index (primary, same
 *    size), in the final playlist and in the store, nothing was discarded by spool recovery, each owner
 *    epoch is one unbroken stretch of the index (never two writers), and the playlist's media time (sum
 *    of EXTINF) against the publisher's wall time (stop − the first program date-time), with its
 *    discontinuities (one per kill).
 *
 * Flags: --quick (12 joins, 3 kills per side)  --joins N  --kills N (per side)  --sides 1,2
 *        --warmup N  --run-seconds S  --max-minutes M (abort, with clean-up, after M minutes; default 15)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { recordingRedisKeys, type RecordingEvent } from '@recfleet/contract';
import { ChannelServer, ManagedProcess, RedisServer, TestPublisher } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import type { IndexedSegment } from '@recfleet/storage';
import { WorkerConfigSchema } from '@recfleet/worker';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bareEventsKey, type BareJobData, type BareWorkerOptions } from './fleet-bare-worker.js';
import {
  Cleanup,
  loadAverage,
  machineInfo,
  max,
  median,
  ms,
  percentile,
  ratio,
  seconds,
  sleep,
  startFleetWorker,
  waitFor,
  type FleetWorker,
} from './fleet-support.js';

const APP = 'bench';
const CHANNEL = 'fleet';
const BARE_QUEUE = 'bench-bare';
const SEGMENT_SECONDS = 2;
const FRAME_RATE = 25;
/** The publisher's keyframe interval: every cut falls on a keyframe, so a seam within it loses nothing. */
const GOP_FRAMES = 25;
const GOP_MS = (GOP_FRAMES / FRAME_RATE) * 1000;
const MAX_IDLE_SECONDS = 30;
/** Idle time between join trials: the previous recording's job completion and player teardown. */
const SETTLE_MS = 300;
/** What an operator gets without a config file; the bench passes none of these to the workers. */
const DEFAULTS = WorkerConfigSchema.parse({});

const TARGET_JOIN_RATIO = 1.2;
const TARGET_RESUME_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    joins: { type: 'string' },
    kills: { type: 'string' },
    sides: { type: 'string', default: '1,2' },
    warmup: { type: 'string' },
    'run-seconds': { type: 'string' },
    'max-minutes': { type: 'string' },
  },
});
type Redundancy = 1 | 2;

const quick = flags.quick === true;
const sides = flags.sides.split(',').map(Number);
const options = {
  joins: Number(flags.joins ?? (quick ? 12 : 50)),
  kills: Number(flags.kills ?? (quick ? 3 : 10)),
  warmup: Number(flags.warmup ?? 2),
  runMs: Number(flags['run-seconds'] ?? (quick ? 3 : 5)) * 1000,
  maxMs: Number(flags['max-minutes'] ?? 15) * 60_000,
  sides: [...new Set(sides)].sort() as Redundancy[],
};
const invalid = [
  !Number.isInteger(options.joins) || options.joins < 1 ? '--joins' : '',
  !Number.isInteger(options.kills) || options.kills < 1 ? '--kills' : '',
  !Number.isInteger(options.warmup) || options.warmup < 0 ? '--warmup' : '',
  !(options.runMs > 0) ? '--run-seconds' : '',
  !(options.maxMs > 0) ? '--max-minutes' : '',
  sides.some((r) => r !== 1 && r !== 2) ? '--sides (1, 2 or 1,2)' : '',
].filter(Boolean);
if (invalid.length > 0) {
  process.stderr.write(`fleet benchmark: invalid ${invalid.join(', ')} (counts are integers, times > 0)\n`);
  process.exit(64);
}

const log = (line: string): void => void process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Fleet on this machine

interface Fleet {
  dir: string;
  redis: RedisServer;
  channels: ChannelServer;
  client: RecordingClient;
  storageRoot: string;
}

async function startFleet(cleanup: Cleanup): Promise<Fleet> {
  const dir = cleanup.dir(await mkdtemp(join(tmpdir(), 'recfleet-bench-fleet-')));
  const redis = await RedisServer.start();
  cleanup.add('redis-server', () => redis.stop());
  const channels = await ChannelServer.start();
  cleanup.add('channel server', () => channels.stop());
  const publisher = TestPublisher.start({
    url: channels.rtmpUrl(APP, CHANNEL),
    width: 480,
    height: 270,
    frameRate: FRAME_RATE,
    gop: GOP_FRAMES,
  });
  cleanup.add('publisher', () => publisher.stop());
  await channels.waitForPublish(APP, CHANNEL);
  const client = new RecordingClient({ redisUrl: redis.url });
  cleanup.add('recording client', () => client.close());
  return { dir, redis, channels, client, storageRoot: join(dir, 'storage') };
}

/** `host`: its HOSTNAME, the worker's identity host (a standby is never on its owner's host). */
function startWorker(fleet: Fleet, name: string, cleanup: Cleanup, host?: string): Promise<FleetWorker> {
  return startFleetWorker(
    {
      name,
      redisUrl: fleet.redis.url,
      storageRoot: fleet.storageRoot,
      // A replacement gets the same spool dir, as a restarted host has: spool recovery runs.
      spoolDir: join(fleet.dir, `spool-${name}`),
      ...(host ? { env: { HOSTNAME: host } } : {}),
    },
    cleanup,
  );
}

let uid = 0;

function startRecording(fleet: Fleet, redundancy: Redundancy = 1): Promise<{ recordingId: string }> {
  return fleet.client.start({
    appId: APP,
    channel: CHANNEL,
    // One uid per recording: a producer refuses a second live recording of the same identity.
    uid: (uid += 1),
    sourceUrl: fleet.channels.rtmpUrl(APP, CHANNEL),
    recordingConfig: {
      segmentSeconds: SEGMENT_SECONDS,
      maxIdleSeconds: MAX_IDLE_SECONDS,
      ...(redundancy === 2 ? { redundancy } : {}),
    },
    storage: { profile: 'local' },
  });
}

function withTimeout<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
    }),
  ]);
}

/** BullMQ's `processedOn` of a job: when a worker moved it to active. */
async function processedOn(redis: Redis, queue: string, jobId: string): Promise<number> {
  return Number(await redis.hget(`${DEFAULTS.keyPrefix}:${queue}:${jobId}`, 'processedOn'));
}

// ---------------------------------------------------------------------------------------------
// 1. Join latency

interface JoinSample {
  /** Enqueue → `joined`. */
  joinedMs: number;
  /** Enqueue → the job became active on a worker. */
  activeMs: number;
}

type Side = 'recfleet' | 'bare';

/** recfleet: enqueue through the producer client, wait for `joined`, stop, wait for the end. */
async function recfleetJoin(fleet: Fleet, redis: Redis): Promise<JoinSample> {
  const t0 = Date.now();
  const { recordingId } = await startRecording(fleet);
  let joinedAt: number | undefined;
  let last: RecordingEvent | undefined;
  const followed = (async () => {
    for await (const e of fleet.client.follow(recordingId)) {
      last = e;
      if (e.type === 'joined' && joinedAt === undefined) {
        joinedAt = e.at;
        await fleet.client.stop(recordingId);
      }
    }
  })();
  await withTimeout(`recording ${recordingId} to join and end`, followed, 60_000);
  if (joinedAt === undefined) throw new Error(`recording ${recordingId} ended (${last?.type}) unjoined`);
  return {
    joinedMs: joinedAt - t0,
    activeMs: (await processedOn(redis, DEFAULTS.queueName, recordingId)) - t0,
  };
}

/** Reads a stream from its start until an entry of type `until`; returns the entries' fields. */
async function readStreamUntil(redis: Redis, key: string, until: string): Promise<Record<string, string>[]> {
  const entries: Record<string, string>[] = [];
  let lastId = '0-0';
  for (;;) {
    const reply = (await redis.xread('BLOCK', 1000, 'STREAMS', key, lastId)) as
      [string, [string, string[]][]][] | null;
    for (const [, items] of reply ?? []) {
      for (const [id, flat] of items) {
        lastId = id;
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
        entries.push(fields);
        if (fields.type === until) return entries;
      }
    }
  }
}

/** Reference: Queue.add() with the producer's job options; the bare worker joins and stops. */
async function bareJoin(fleet: Fleet, queue: Queue, redis: Redis): Promise<JoinSample> {
  const recordingId = `bare-${randomBytes(8).toString('hex')}`;
  const data: BareJobData = {
    recordingId,
    sourceUrl: fleet.channels.rtmpUrl(APP, CHANNEL),
    segmentSeconds: SEGMENT_SECONDS,
    maxIdleSeconds: MAX_IDLE_SECONDS,
  };
  const t0 = Date.now();
  // The job options of RecordingClient.start().
  await queue.add('record', data, {
    jobId: recordingId,
    attempts: 1,
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  });
  const entries = await withTimeout(
    `bare job ${recordingId} to join and end`,
    readStreamUntil(redis, bareEventsKey(DEFAULTS.keyPrefix, recordingId), 'done'),
    60_000,
  );
  const joined = entries.find((e) => e.type === 'joined');
  if (!joined) throw new Error(`bare job ${recordingId} ended unjoined: ${JSON.stringify(entries)}`);
  return {
    joinedMs: Number(joined.at) - t0,
    activeMs: (await processedOn(redis, BARE_QUEUE, recordingId)) - t0,
  };
}

async function measureJoins(fleet: Fleet, cleanup: Cleanup): Promise<Record<Side, JoinSample[]>> {
  const worker = await startWorker(fleet, 'join', cleanup);
  const bareOptions: BareWorkerOptions = {
    redisUrl: fleet.redis.url,
    queueName: BARE_QUEUE,
    prefix: DEFAULTS.keyPrefix,
    spoolDir: join(fleet.dir, 'spool-bare'),
    lockSeconds: DEFAULTS.lockSeconds,
    stalledCheckSeconds: DEFAULTS.stalledCheckSeconds,
    concurrency: DEFAULTS.maxRecordings,
  };
  const bareMain = fileURLToPath(new URL('./fleet-bare-worker.js', import.meta.url));
  const bare = cleanup.process(
    new ManagedProcess('bare BullMQ worker', process.execPath, [bareMain, JSON.stringify(bareOptions)]),
  );
  await bare.waitForLine((l) => l.includes('BARE_WORKER_READY'), 30_000);
  // A producer's connection, as RecordingClient makes it: fail fast rather than queue commands.
  const queueConnection = new Redis(fleet.redis.url, { maxRetriesPerRequest: 1 });
  const queue = new Queue(BARE_QUEUE, { connection: queueConnection, prefix: DEFAULTS.keyPrefix });
  const redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: null });
  cleanup.add('bare queue', async () => {
    redis.disconnect();
    await queue.close();
    // BullMQ leaves a connection it was given open.
    queueConnection.disconnect();
  });

  const samples: Record<Side, JoinSample[]> = { recfleet: [], bare: [] };
  const total = options.warmup + options.joins;
  for (let i = 0; i < total; i += 1) {
    // Alternate which side goes first, so that neither always follows the other.
    const order: Side[] = i % 2 === 0 ? ['recfleet', 'bare'] : ['bare', 'recfleet'];
    const got = {} as Record<Side, JoinSample>;
    for (const side of order) {
      got[side] =
        side === 'recfleet' ? await recfleetJoin(fleet, redis) : await bareJoin(fleet, queue, redis);
      await sleep(SETTLE_MS);
    }
    const warm = i < options.warmup;
    if (!warm) {
      samples.recfleet.push(got.recfleet);
      samples.bare.push(got.bare);
    }
    log(
      `  join ${warm ? `warm-up ${i + 1}` : `${i - options.warmup + 1}/${options.joins}`}: ` +
        `recfleet ${ms(got.recfleet.joinedMs)} (active at ${ms(got.recfleet.activeMs)}), ` +
        `bare BullMQ ${ms(got.bare.joinedMs)} (active at ${ms(got.bare.activeMs)})`,
    );
  }
  await worker.stop('SIGTERM', 10_000);
  await bare.stop('SIGTERM', 5000);
  return samples;
}

// ---------------------------------------------------------------------------------------------
// 2. Kill -9 and resume, without and with a standby

interface KillSample {
  victim: string;
  killedAt: number;
  /** The killed owner's epoch and the resumer's (segment index entries carry the epoch). */
  epochs: [number, number];
  /** Remaining time of the job lock when the worker was killed. */
  lockLeftMs: number;
  /** kill → the resumer's claim of the recording (the record's `ownerSince`). */
  claimMs: number;
  /** kill → resumed: `joined` (a new recorder) or `takeover` (the standby's), whichever came first. */
  resumeMs: number;
  resumedBy: string;
  /** The `takeover` event's data, when a standby resumed. */
  takeover?: Record<string, unknown>;
  /** Redundancy 2: the standby that stood by at the kill is the new owner. */
  standbyResumed?: boolean;
  /** Redundancy 2: the previous resume → this kill's standby stood by (the recording had none meanwhile). */
  standbyAfterMs?: number;
  /** Start of the replacement worker to its ready line (spool recovery included). */
  replacementReadyMs: number;
}

interface MediaGap {
  /**
   * On the source's own clock: the resumer's first segment's start − the killed owner's last segment's
   * end (< 0: the seam repeats media).
   */
  seamMs: number;
  /** Last finished segment of the killed owner → kill: its open segment, lost with the process. */
  unfinishedMs: number;
  /** Timed by the two segments' `segment` events (the resumer's first cut − its duration − the last cut). */
  timedLostMs: number;
}

/** What the final playlist says: media time against the publisher's wall time, and its seams. */
interface Continuity {
  mediaSeconds: number;
  /** From the first segment's program date-time to when the recording was stopped. */
  wallSeconds: number;
  discontinuities: number;
  /** Index entries that do not start where the one before ends on the source's clock. */
  unchained: number;
}

interface KillResult {
  redundancy: Redundancy;
  samples: KillSample[];
  gaps: MediaGap[];
  continuity: Continuity;
  recordingId: string;
  segmentEvents: number;
  indexed: number;
  /** Owner epochs in the index, and whether each owns one unbroken stretch of it (never two writers). */
  epochs: number;
  stretchesInOrder: boolean;
  /** Finished segments not delivered in their place, with why. */
  lost: string[];
  discardedBySpoolRecovery: number;
  playlistEnded: boolean;
  finalEvent: string;
}

/**
 * Redundancy 2 needs a third host, so that after a kill a standby can be on another host than the new
 * owner while the killed one restarts.
 */
const KILL_HOSTS: Record<Redundancy, readonly string[]> = { 1: ['a', 'b'], 2: ['a', 'b', 'c'] };

/**
 * How long a standby must have stood by before a kill can be lost without media: its first cut comes
 * up to a segment (and a GOP) after it starts, and the owner's open segment began up to a segment before
 * the kill. A kill sooner is a second failure before the first is repaired.
 */
const STANDBY_LEAD_MS = 2 * SEGMENT_SECONDS * 1000 + GOP_MS;

/** A standby whose heartbeat is older than this is not standing by (the owner's takeover time). */
const STANDBY_LIVE_MS = DEFAULTS.takeoverAfterSeconds * 1000;

/** Waits until the recording has a live standby on another host than its owner, for STANDBY_LEAD_MS. */
function standbyReady(
  redis: Redis,
  recordKey: string,
  what: string,
): Promise<{ host: string; since: number }> {
  return waitFor(
    what,
    async () => {
      const [ownerHost, standby, host, since, beat] = await redis.hmget(
        recordKey,
        'ownerHost',
        'standby',
        'standbyHost',
        'standbySince',
        'standbyHeartbeatAt',
      );
      const now = Date.now();
      const ready =
        Boolean(standby && host && host !== ownerHost) &&
        now - Number(beat) < STANDBY_LIVE_MS &&
        now - Number(since) >= STANDBY_LEAD_MS;
      return ready ? { host: host!, since: Number(since) } : undefined;
    },
    60_000,
    200,
  );
}

/** The entries of an HLS media playlist: file, EXTINF, program date-time, discontinuity before it. */
function playlistEntries(
  text: string,
): { file: string; seconds: number; dateMs: number; discontinuity: boolean }[] {
  const entries: { file: string; seconds: number; dateMs: number; discontinuity: boolean }[] = [];
  let next = { seconds: Number.NaN, dateMs: Number.NaN, discontinuity: false };
  for (const line of text.split('\n').map((l) => l.trim())) {
    const [tag, value = ''] = line.split(/:(.*)/s);
    if (tag === '#EXTINF') next.seconds = Number(value.split(',')[0]);
    else if (tag === '#EXT-X-PROGRAM-DATE-TIME') next.dateMs = Date.parse(value);
    else if (tag === '#EXT-X-DISCONTINUITY') next.discontinuity = true;
    else if (line !== '' && !line.startsWith('#')) {
      entries.push({ file: line, ...next });
      next = { seconds: Number.NaN, dateMs: Number.NaN, discontinuity: false };
    }
  }
  return entries;
}

async function measureKills(fleet: Fleet, cleanup: Cleanup, redundancy: Redundancy): Promise<KillResult> {
  const workers = new Map<string, FleetWorker>();
  const everyWorker: FleetWorker[] = [];
  // Each host its own spool dir and HOSTNAME (the worker's identity host): a replacement is that host
  // restarted, and a standby is never on its owner's host.
  const start = async (host: string): Promise<void> => {
    const name = `r${redundancy}-${host}`;
    const w = await startWorker(fleet, name, cleanup, name);
    workers.set(host, w);
    everyWorker.push(w);
  };
  for (const host of KILL_HOSTS[redundancy]) await start(host);

  const { recordingId } = await startRecording(fleet, redundancy);
  const keys = recordingRedisKeys(DEFAULTS.keyPrefix, recordingId);
  const lockKey = `${DEFAULTS.keyPrefix}:${DEFAULTS.queueName}:${recordingId}:lock`;
  const redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: null });
  cleanup.add('redis reader', async () => redis.disconnect());
  const events: RecordingEvent[] = [];
  const follower = (async () => {
    for await (const e of fleet.client.follow(recordingId)) events.push(e);
  })();
  follower.catch(() => undefined);
  await waitFor('the first segment', () => events.find((e) => e.type === 'segment'), 30_000);
  await sleep(options.runMs);

  const samples: KillSample[] = [];
  let resumedAt: number | undefined;
  for (let k = 1; k <= options.kills; k += 1) {
    const standby =
      redundancy === 2
        ? await standbyReady(redis, keys.record, `kill ${k}: a live standby on another host`)
        : undefined;
    const [victimName, victim] = await waitFor(
      'an owner among the running workers',
      async () => {
        const owner = await redis.hget(keys.record, 'owner');
        const pid = Number(owner?.slice(owner.lastIndexOf(':') + 1));
        return [...workers.entries()].find(([, w]) => w.pid === pid && w.running);
      },
      15_000,
    );
    const epoch = Number(await redis.hget(keys.record, 'epoch'));
    const lockLeftMs = await redis.pttl(lockKey);
    const killedAt = Date.now();
    await victim.kill();

    // A new recorder joins (redundancy 1); a standby's recorder never stopped: it takes over.
    const resumed = await waitFor(
      `kill ${k}: the recording to resume`,
      () => events.find((e) => (e.type === 'joined' || e.type === 'takeover') && e.at > killedAt),
      30_000,
    );
    const [ownerSince, newEpoch, ownerHost] = await redis.hmget(
      keys.record,
      'ownerSince',
      'epoch',
      'ownerHost',
    );
    const replacementStart = Date.now();
    await start(victimName);
    const sample: KillSample = {
      victim: victimName,
      killedAt,
      epochs: [epoch, Number(newEpoch)],
      lockLeftMs,
      claimMs: Number(ownerSince) - killedAt,
      resumeMs: resumed.at - killedAt,
      resumedBy: resumed.type,
      ...(resumed.type === 'takeover' ? { takeover: resumed.data } : {}),
      ...(standby ? { standbyResumed: ownerHost === standby.host } : {}),
      ...(standby && resumedAt !== undefined ? { standbyAfterMs: standby.since - resumedAt } : {}),
      replacementReadyMs: Date.now() - replacementStart,
    };
    samples.push(sample);
    resumedAt = resumed.at;
    log(
      `  kill ${k}/${options.kills} (host ${victimName}): ${resumed.type} after ${seconds(sample.resumeMs)} ` +
        `(lock left ${seconds(lockLeftMs)}, claimed at ${seconds(sample.claimMs)}` +
        `${sample.takeover ? `, ${JSON.stringify(sample.takeover)}` : ''}` +
        `${sample.standbyResumed === false ? ', NOT by the standby' : ''}), ` +
        `replacement ready in ${ms(sample.replacementReadyMs)}`,
    );
    // Record on the survivor for a while, and at least one segment after the resume.
    const resumedIndex = events.indexOf(resumed);
    await waitFor(
      `kill ${k}: a segment after the resume`,
      () => events.slice(resumedIndex).find((e) => e.type === 'segment'),
      30_000,
    );
    const runUntil = resumed.at + options.runMs;
    if (Date.now() < runUntil) await sleep(runUntil - Date.now());
  }

  await fleet.client.stop(recordingId);
  const stoppedAt = Date.now();
  await withTimeout('the recording to end', follower, 60_000);
  const finalEvent = events.at(-1)?.type ?? 'none';

  // Replacements' spool recovery may still be delivering what their predecessors left.
  const readIndex = async (): Promise<IndexedSegment[]> =>
    (await redis.hvals(keys.segments))
      .map((v) => JSON.parse(v) as IndexedSegment)
      .sort((a, b) => a.sequence - b.sequence);
  await waitFor(
    'every indexed segment to be delivered',
    async () => ((await readIndex()).every((s) => s.location === 'primary') ? true : undefined),
    30_000,
    250,
  ).catch(() => undefined);
  const indexed = await readIndex();
  for (const w of workers.values()) await w.stop('SIGTERM', 10_000);
  redis.disconnect();

  const fileOf = (sequence: number): string =>
    `${recordingId}_${CHANNEL}_${String(sequence).padStart(6, '0')}.ts`;
  const playlist = await readFile(join(fleet.storageRoot, `${recordingId}_${CHANNEL}.m3u8`), 'utf8').catch(
    () => '',
  );
  const listed = playlistEntries(playlist);
  const segmentEvents = events.filter((e) => e.type === 'segment');
  const lost: string[] = [];
  // The playlist is the index, in order, and every entry is stored in full.
  const expected = indexed.map((s) => fileOf(s.sequence));
  if (listed.map((e) => e.file).join() !== expected.join()) {
    lost.push(`the playlist (${listed.length} entries) does not list the index (${expected.length})`);
  }
  for (const s of indexed) {
    const size = await stat(join(fleet.storageRoot, fileOf(s.sequence))).then(
      (st) => st.size,
      () => -1,
    );
    if (s.location !== 'primary') lost.push(`${s.sequence}: still in ${s.location}`);
    else if (size !== s.bytes) lost.push(`${s.sequence}: stored ${size} B, indexed ${s.bytes} B`);
  }
  // Every segment a worker reported finished is that indexed segment.
  const bySequence = new Map(indexed.map((s) => [s.sequence, s] as const));
  for (const e of segmentEvents) {
    const sequence = Number(e.data.sequence);
    const entry = bySequence.get(sequence);
    if (!entry) lost.push(`${sequence}: reported finished, not in the index`);
    else if (entry.bytes !== Number(e.data.bytes)) {
      lost.push(
        `${sequence}: reported ${e.data.bytes} B, the index holds another segment (${entry.bytes} B)`,
      );
    }
  }
  const discardedBySpoolRecovery = everyWorker
    .flatMap((w) => w.warnings)
    .filter((l) => l.includes('never reserved')).length;

  // Media lost per kill: between the killed owner's last segment and the resumer's first, both found by
  // epoch in the index, on the source's clock (sourceStartMs / sourceEndMs, the same clock for every
  // recorder of an RTMP channel). The timed figure (by `segment` events) means something only when the
  // resumer's first segment was cut after the kill, i.e. without a standby.
  const cutAt = new Map(segmentEvents.map((e) => [Number(e.data.sequence), e] as const));
  const gaps = samples.map(({ epochs: [before, after], killedAt }): MediaGap => {
    const last = indexed.filter((s) => s.epoch === before).at(-1);
    const first = indexed.find((s) => s.epoch === after);
    const seamMs =
      last?.sourceEndMs !== undefined && first?.sourceStartMs !== undefined
        ? first.sourceStartMs - last.sourceEndMs
        : Number.NaN;
    const lastCut = last && cutAt.get(last.sequence)?.at;
    const firstCut = first && cutAt.get(first.sequence);
    if (lastCut === undefined || !firstCut) {
      return { seamMs, unfinishedMs: Number.NaN, timedLostMs: Number.NaN };
    }
    const firstMedia = firstCut.at - Number(firstCut.data.durationSeconds) * 1000;
    return { seamMs, unfinishedMs: killedAt - lastCut, timedLostMs: Math.max(0, firstMedia - lastCut) };
  });

  const epochsInOrder = indexed.map((s) => s.epoch ?? Number.NaN);
  return {
    redundancy,
    samples,
    gaps,
    continuity: {
      mediaSeconds: listed.reduce((sum, e) => sum + e.seconds, 0),
      wallSeconds: listed.length > 0 ? (stoppedAt - listed[0]!.dateMs) / 1000 : Number.NaN,
      discontinuities: listed.filter((e) => e.discontinuity).length,
      unchained: indexed.filter((s, i) => i > 0 && s.sourceStartMs !== indexed[i - 1]!.sourceEndMs).length,
    },
    recordingId,
    segmentEvents: segmentEvents.length,
    indexed: indexed.length,
    epochs: new Set(epochsInOrder).size,
    stretchesInOrder: epochsInOrder.every((e, i) => i === 0 || e >= epochsInOrder[i - 1]!),
    lost,
    discardedBySpoolRecovery,
    playlistEnded: playlist.trim().endsWith('#EXT-X-ENDLIST'),
    finalEvent,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

const medianMax = (values: number[]): string => `${seconds(median(values))} / ${seconds(max(values))}`;

/** What one side's kills measured, and each target it is held to. */
function judgeKills(kills: KillResult): {
  resume: number[];
  lostMedia: number[];
  mediaMinusWallMs: number;
  checks: Record<string, boolean>;
} {
  const resume = kills.samples.map((s) => s.resumeMs);
  const lostMedia = kills.gaps.map((g) => Math.max(0, g.seamMs));
  const c = kills.continuity;
  const mediaMinusWallMs = (c.mediaSeconds - c.wallSeconds) * 1000;
  const checks: Record<string, boolean> = {
    'kill → resumed': kills.samples.length === options.kills && max(resume) <= TARGET_RESUME_MS,
    'finished segments lost':
      kills.lost.length === 0 &&
      kills.discardedBySpoolRecovery === 0 &&
      kills.finalEvent === 'uploaded' &&
      kills.playlistEnded,
  };
  if (kills.redundancy === 2) {
    // The issue's figure: 0 s lost per kill, i.e. within one GOP (every cut falls on a keyframe).
    checks['media lost'] = lostMedia.length === options.kills && lostMedia.every((v) => v <= GOP_MS);
    checks['media time'] = Math.abs(mediaMinusWallMs) <= GOP_MS;
    checks['one discontinuity per kill'] = c.discontinuities === options.kills;
    checks['one writer per stretch'] = kills.epochs === options.kills + 1 && kills.stretchesInOrder;
  }
  return { resume, lostMedia, mediaMinusWallMs, checks };
}

function killRows(sides: KillResult[]): boolean {
  log(
    `| Kill -9 of the owner, ${options.kills} per side | Kill → resumed, median / max | ` +
      'Media lost per kill, median / max | Finished segments lost | Media time − wall time | ' +
      'Discontinuities | result |',
  );
  log('| --- | --- | --- | --- | --- | --- | --- |');
  let all = true;
  for (const kills of sides) {
    const j = judgeKills(kills);
    const missed = Object.entries(j.checks)
      .filter(([, ok]) => !ok)
      .map(([name]) => name);
    all &&= missed.length === 0;
    const who = kills.redundancy === 1 ? 'redundancy 1 (2 hosts)' : 'redundancy 2 (3 hosts)';
    log(
      `| ${who} | ${medianMax(j.resume)} | ${medianMax(j.lostMedia)} | ` +
        `${kills.lost.length + kills.discardedBySpoolRecovery} of ${kills.segmentEvents} | ` +
        `${seconds(j.mediaMinusWallMs)} | ${kills.continuity.discontinuities} | ` +
        `${verdict(missed.length === 0)}${missed.length > 0 ? ` (${missed.join(', ')})` : ''} |`,
    );
  }
  log(
    `| target | ≤ ${TARGET_RESUME_MS / 1000} s | redundancy 2: ≤ ${seconds(GOP_MS)} (one GOP: 0 s lost) | 0 | ` +
      `redundancy 2: within ±${seconds(GOP_MS)} | redundancy 2: one per kill | |`,
  );
  return all;
}

function killDetails(kills: KillResult): void {
  const s = kills.samples;
  const g = kills.gaps;
  const c = kills.continuity;
  const finite = (values: number[]): number[] => values.filter(Number.isFinite);
  const side = `Redundancy ${kills.redundancy}`;
  if (kills.redundancy === 1) {
    log(
      `${side} (median / max): lock time left at the kill ${medianMax(s.map((x) => x.lockLeftMs))}; ` +
        `lock expiry → claim (stalled check + pickup) ${medianMax(s.map((x) => x.claimMs - x.lockLeftMs))}; ` +
        `claim → joined ${medianMax(s.map((x) => x.resumeMs - x.claimMs))}. Media lost = the killed ` +
        `worker's open segment (${medianMax(finite(g.map((x) => x.unfinishedMs)))}) + the resume time, ` +
        `less the channel server's GOP cache replayed to the resumer; timed by the segments' events ` +
        `instead of the source clock: ${medianMax(finite(g.map((x) => x.timedLostMs)))}.`,
    );
  } else {
    const taken = s.map((x) => Number(x.takeover?.segmentsFromStandby ?? Number.NaN));
    const reportedGap = s.map((x) => Number(x.takeover?.gapMs ?? Number.NaN));
    log(
      `${side} (median / max): kill → claim by the standby ${medianMax(s.map((x) => x.claimMs))}; ` +
        `claim → takeover event ${medianMax(s.map((x) => x.resumeMs - x.claimMs))}; resumed by ` +
        `${s.filter((x) => x.resumedBy === 'takeover').length} takeovers, ` +
        `${s.filter((x) => x.resumedBy === 'joined').length} joins; by the standby that stood by: ` +
        `${s.filter((x) => x.standbyResumed).length} of ${s.length}; segments from the standby's window ` +
        `${median(finite(taken))} / ${max(finite(taken))}; the takeover events' gapMs ` +
        `${ms(median(finite(reportedGap)))} / ${ms(max(finite(reportedGap)))}; a takeover → the next ` +
        `standby started (it stands by ${STANDBY_LEAD_MS / 1000} s before the next kill) ` +
        `${medianMax(finite(s.map((x) => x.standbyAfterMs ?? Number.NaN)))}.`,
    );
  }
  log(
    `${side}, recording ${kills.recordingId}: ${kills.segmentEvents} segments reported finished, ` +
      `${kills.indexed} indexed in ${kills.epochs} owner epochs (each one unbroken stretch: ` +
      `${kills.stretchesInOrder}), seams per kill on the source clock ` +
      `[${g.map((x) => ms(x.seamMs)).join(', ')}], entries not starting where the one before ends ` +
      `${c.unchained}; media ${c.mediaSeconds.toFixed(2)} s vs wall ${c.wallSeconds.toFixed(2)} s; final ` +
      `event ${kills.finalEvent}, playlist ended: ${kills.playlistEnded}, discarded by spool recovery: ` +
      `${kills.discardedBySpoolRecovery}.`,
  );
  for (const l of kills.lost) log(`  LOST ${l}`);
}

function report(
  joins: Record<Side, JoinSample[]>,
  sides: KillResult[],
  loadStart: string,
  elapsedMs: number,
): boolean {
  const m = machineInfo();
  const of = (side: Side, f: (j: JoinSample) => number): number[] => joins[side].map(f);
  const joined = { r: of('recfleet', (j) => j.joinedMs), b: of('bare', (j) => j.joinedMs) };
  const active = { r: of('recfleet', (j) => j.activeMs), b: of('bare', (j) => j.activeMs) };
  const toJoin = {
    r: of('recfleet', (j) => j.joinedMs - j.activeMs),
    b: of('bare', (j) => j.joinedMs - j.activeMs),
  };
  const p50 = { r: percentile(joined.r, 50), b: percentile(joined.b, 50) };
  const p99 = { r: percentile(joined.r, 99), b: percentile(joined.b, 99) };
  const ok = {
    p50: p50.r / p50.b <= TARGET_JOIN_RATIO,
    p99: p99.r / p99.b <= TARGET_JOIN_RATIO,
  };
  const pm = (values: number[], f: (v: number) => string = ms): string =>
    `${f(percentile(values, 50))} / ${f(percentile(values, 99))}`;
  const args = process.argv.slice(2).join(' ');

  log('');
  log(`## Worker fleet — ${new Date().toISOString()}`);
  log('');
  log(
    `Machine: ${m.cores} cores, ${m.cpuModel}, ${m.ramGiB} GiB RAM, Node ${m.node}, ${m.kernel}; ` +
      `load average (1/5/15 min) ${loadStart} at start, ${loadAverage()} at the end; ` +
      `run took ${seconds(elapsedMs, 0)}.`,
  );
  log(
    `Command: npm run bench:fleet${args ? ` -- ${args}` : ''} (${options.joins} joins per side after ` +
      `${options.warmup} warm-up, ${options.kills} kills per redundancy: ${options.sides.join(', ')}). ` +
      `Worker defaults: lockSeconds ${DEFAULTS.lockSeconds}, stalledCheckSeconds ` +
      `${DEFAULTS.stalledCheckSeconds}, heartbeatSeconds ${DEFAULTS.heartbeatSeconds}, ` +
      `takeoverAfterSeconds ${DEFAULTS.takeoverAfterSeconds}, maxRecordings ${DEFAULTS.maxRecordings}; ` +
      `segmentSeconds ${SEGMENT_SECONDS}, source GOP ${seconds(GOP_MS)}.`,
  );
  log('');
  log('| Measure | recfleet | bare BullMQ, same join | ratio | target | result |');
  log('| --- | --- | --- | --- | --- | --- |');
  log(
    `| Enqueue → joined p50 | ${ms(p50.r)} | ${ms(p50.b)} | ${ratio(p50.r / p50.b)} | ` +
      `≤ ${TARGET_JOIN_RATIO}× | ${verdict(ok.p50)} |`,
  );
  log(
    `| Enqueue → joined p99 | ${ms(p99.r)} | ${ms(p99.b)} | ${ratio(p99.r / p99.b)} | ` +
      `≤ ${TARGET_JOIN_RATIO}× | ${verdict(ok.p99)} |`,
  );
  log('');
  const killsOk = killRows(sides);
  log('');
  log(
    `Join (p50 / p99), recfleet vs bare: enqueue → job active ${pm(active.r)} vs ${pm(active.b)}; ` +
      `job active → joined ${pm(toJoin.r)} vs ${pm(toJoin.b)}; p99 is nearest-rank over ` +
      `${joined.r.length} samples.`,
  );
  log(
    "Media lost per kill: on the source clock, the resumer's first segment's sourceStartMs − the killed " +
      "owner's last segment's sourceEndMs (clamped at 0). Media time − wall time: the final playlist's " +
      'EXTINF sum − (stop − its first program date-time).',
  );
  for (const kills of sides) killDetails(kills);
  return ok.p50 && ok.p99 && killsOk;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  cleanup.onSignals();
  const began = Date.now();
  const loadStart = loadAverage();
  const deadline = setTimeout(() => {
    process.stderr.write(`fleet benchmark: not done after ${seconds(options.maxMs, 0)}; aborting\n`);
    void cleanup.run().finally(() => process.exit(1));
  }, options.maxMs);
  try {
    log(
      `fleet benchmark: ${options.joins} joins per side (+${options.warmup} warm-up), ` +
        `${options.kills} kills per redundancy (${options.sides.join(', ')}); load average ${loadStart}`,
    );
    const fleet = await startFleet(cleanup);
    log('1. enqueue → joined, recfleet worker vs bare BullMQ worker (alternating)');
    const joins = await measureJoins(fleet, cleanup);
    const sides: KillResult[] = [];
    for (const redundancy of options.sides) {
      log(
        `2. kill -9 of the owner → resumed, redundancy ${redundancy} (lockSeconds ${DEFAULTS.lockSeconds}, ` +
          `stalledCheckSeconds ${DEFAULTS.stalledCheckSeconds}, takeoverAfterSeconds ` +
          `${DEFAULTS.takeoverAfterSeconds})`,
      );
      sides.push(await measureKills(fleet, cleanup, redundancy));
    }
    return report(joins, sides, loadStart, Date.now() - began) ? 0 : 2;
  } finally {
    clearTimeout(deadline);
    await cleanup.run();
  }
}

// Exit explicitly: a client connection that outlived its server must not keep the run alive.
process.exit(
  await main().catch((err: unknown) => {
    process.stderr.write(
      `fleet benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`,
    );
    return 1;
  }),
);
