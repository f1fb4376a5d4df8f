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
 * 2. Crash resume — two workers and one long recording. Repeatedly: SIGKILL the worker that owns the
 *    recording (the record's `owner`), measure kill → the next `joined` event (resumed by the survivor),
 *    start a replacement on the killed worker's spool dir (as a restarted host: spool recovery runs),
 *    let the survivor record, repeat. Media lost per kill comes from the segment index: the last
 *    segment of the killed owner's epoch and the first of the resumer's, timed by their `segment`
 *    events (the index keeps delivery times only). At the end the recording is stopped and checked:
 *    every segment the workers reported finished is in the index (primary, same size), in the final
 *    playlist and in the store, and nothing was discarded by spool recovery.
 *
 * Flags: --quick (12 joins, 3 kills)  --joins N  --kills N  --warmup N  --run-seconds S
 *        --max-minutes M (abort, with clean-up, after M minutes; default 8)
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
    warmup: { type: 'string' },
    'run-seconds': { type: 'string' },
    'max-minutes': { type: 'string' },
  },
});
const quick = flags.quick === true;
const options = {
  joins: Number(flags.joins ?? (quick ? 12 : 50)),
  kills: Number(flags.kills ?? (quick ? 3 : 10)),
  warmup: Number(flags.warmup ?? 2),
  runMs: Number(flags['run-seconds'] ?? (quick ? 3 : 5)) * 1000,
  maxMs: Number(flags['max-minutes'] ?? 8) * 60_000,
};
const invalid = [
  !Number.isInteger(options.joins) || options.joins < 1 ? '--joins' : '',
  !Number.isInteger(options.kills) || options.kills < 1 ? '--kills' : '',
  !Number.isInteger(options.warmup) || options.warmup < 0 ? '--warmup' : '',
  !(options.runMs > 0) ? '--run-seconds' : '',
  !(options.maxMs > 0) ? '--max-minutes' : '',
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
    frameRate: 25,
    gop: 25,
  });
  cleanup.add('publisher', () => publisher.stop());
  await channels.waitForPublish(APP, CHANNEL);
  const client = new RecordingClient({ redisUrl: redis.url });
  cleanup.add('recording client', () => client.close());
  return { dir, redis, channels, client, storageRoot: join(dir, 'storage') };
}

function startWorker(fleet: Fleet, name: string, cleanup: Cleanup): Promise<FleetWorker> {
  return startFleetWorker(
    {
      name,
      redisUrl: fleet.redis.url,
      storageRoot: fleet.storageRoot,
      // A replacement gets the same spool dir, as a restarted host has: spool recovery runs.
      spoolDir: join(fleet.dir, `spool-${name}`),
    },
    cleanup,
  );
}

let uid = 0;

function startRecording(fleet: Fleet): Promise<{ recordingId: string }> {
  return fleet.client.start({
    appId: APP,
    channel: CHANNEL,
    // One uid per recording: a producer refuses a second live recording of the same identity.
    uid: (uid += 1),
    sourceUrl: fleet.channels.rtmpUrl(APP, CHANNEL),
    recordingConfig: { segmentSeconds: SEGMENT_SECONDS, maxIdleSeconds: MAX_IDLE_SECONDS },
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
// 2. Kill -9 and resume

interface KillSample {
  victim: string;
  killedAt: number;
  /** The killed owner's epoch and the resumer's (segment index entries carry the epoch). */
  epochs: [number, number];
  /** Remaining time of the job lock when the worker was killed. */
  lockLeftMs: number;
  /** kill → the survivor's claim of the recording (lock expiry + stalled check + job pickup). */
  claimMs: number;
  /** kill → `joined` on the survivor: resumed. */
  resumeMs: number;
  /** Start of the replacement worker to its ready line (spool recovery included). */
  replacementReadyMs: number;
}

interface MediaGap {
  /** Last finished segment of the killed owner → kill: its open segment, lost with the process. */
  unfinishedMs: number;
  /** Last finished segment of the killed owner → first media of the resumer's first segment. */
  lostMs: number;
}

interface KillResult {
  samples: KillSample[];
  gaps: MediaGap[];
  recordingId: string;
  segmentEvents: number;
  indexed: number;
  /** Finished segments not delivered in their place, with why. */
  lost: string[];
  discardedBySpoolRecovery: number;
  playlistEnded: boolean;
  finalEvent: string;
}

async function measureKills(fleet: Fleet, cleanup: Cleanup): Promise<KillResult> {
  const workers = new Map<string, FleetWorker>();
  const everyWorker: FleetWorker[] = [];
  const start = async (name: string): Promise<void> => {
    const w = await startWorker(fleet, name, cleanup);
    workers.set(name, w);
    everyWorker.push(w);
  };
  await start('a');
  await start('b');

  const { recordingId } = await startRecording(fleet);
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
  for (let k = 1; k <= options.kills; k += 1) {
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

    const resumed = await waitFor(
      `kill ${k}: the recording to resume`,
      () => events.find((e) => e.type === 'joined' && e.at > killedAt),
      30_000,
    );
    const record = await redis.hmget(keys.record, 'ownerSince', 'epoch');
    const replacementStart = Date.now();
    await start(victimName);
    const sample: KillSample = {
      victim: victimName,
      killedAt,
      epochs: [epoch, Number(record[1])],
      lockLeftMs,
      claimMs: Number(record[0]) - killedAt,
      resumeMs: resumed.at - killedAt,
      replacementReadyMs: Date.now() - replacementStart,
    };
    samples.push(sample);
    log(
      `  kill ${k}/${options.kills} (worker ${victimName}): resumed after ${seconds(sample.resumeMs)} ` +
        `(lock left ${seconds(lockLeftMs)}, claimed at ${seconds(sample.claimMs)}), ` +
        `replacement ready in ${ms(sample.replacementReadyMs)}`,
    );
    // Record on the survivor for a while, and at least one segment after the resume.
    const resumedAt = events.indexOf(resumed);
    await waitFor(
      `kill ${k}: a segment after the resume`,
      () => events.slice(resumedAt).find((e) => e.type === 'segment'),
      30_000,
    );
    const runUntil = resumed.at + options.runMs;
    if (Date.now() < runUntil) await sleep(runUntil - Date.now());
  }

  await fleet.client.stop(recordingId);
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
  const listed = playlist.split('\n').filter((l) => l.endsWith('.ts'));
  const segmentEvents = events.filter((e) => e.type === 'segment');
  const lost: string[] = [];
  // The playlist is the index, in order, and every entry is stored in full.
  const expected = indexed.map((s) => fileOf(s.sequence));
  if (listed.join() !== expected.join()) {
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

  // Media lost per kill: between the killed owner's last finished segment and the resumer's first,
  // both found by epoch in the index and timed by their `segment` events (`at` = when it was cut).
  const cutAt = new Map(segmentEvents.map((e) => [Number(e.data.sequence), e] as const));
  const gaps = samples.map(({ epochs: [before, after], killedAt }): MediaGap => {
    const last = indexed.filter((s) => s.epoch === before).at(-1);
    const first = indexed.find((s) => s.epoch === after);
    const lastCut = last && cutAt.get(last.sequence)?.at;
    const firstCut = first && cutAt.get(first.sequence);
    if (lastCut === undefined || !firstCut) return { unfinishedMs: Number.NaN, lostMs: Number.NaN };
    const firstMedia = firstCut.at - Number(firstCut.data.durationSeconds) * 1000;
    return { unfinishedMs: killedAt - lastCut, lostMs: Math.max(0, firstMedia - lastCut) };
  });

  return {
    samples,
    gaps,
    recordingId,
    segmentEvents: segmentEvents.length,
    indexed: indexed.length,
    lost,
    discardedBySpoolRecovery,
    playlistEnded: playlist.trim().endsWith('#EXT-X-ENDLIST'),
    finalEvent,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

function report(
  joins: Record<Side, JoinSample[]>,
  kills: KillResult,
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
  const resume = kills.samples.map((s) => s.resumeMs);
  const lostMedia = kills.gaps.map((g) => g.lostMs).filter(Number.isFinite);
  const unfinished = kills.gaps.map((g) => g.unfinishedMs).filter(Number.isFinite);
  const lockLeft = kills.samples.map((s) => s.lockLeftMs);
  const afterExpiry = kills.samples.map((s) => s.claimMs - s.lockLeftMs);
  const claimToJoined = kills.samples.map((s) => s.resumeMs - s.claimMs);
  const ok = {
    p50: p50.r / p50.b <= TARGET_JOIN_RATIO,
    p99: p99.r / p99.b <= TARGET_JOIN_RATIO,
    resume: kills.samples.length === options.kills && max(resume) <= TARGET_RESUME_MS,
    noLoss:
      kills.lost.length === 0 &&
      kills.discardedBySpoolRecovery === 0 &&
      kills.finalEvent === 'uploaded' &&
      kills.playlistEnded,
  };
  const pm = (values: number[], f: (v: number) => string = ms): string =>
    `${f(percentile(values, 50))} / ${f(percentile(values, 99))}`;
  const mm = (values: number[]): string => `${seconds(median(values))} / ${seconds(max(values))}`;
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
      `${options.warmup} warm-up, ${options.kills} kills). Worker defaults: lockSeconds ` +
      `${DEFAULTS.lockSeconds}, stalledCheckSeconds ${DEFAULTS.stalledCheckSeconds}, maxRecordings ` +
      `${DEFAULTS.maxRecordings}; segmentSeconds ${SEGMENT_SECONDS}.`,
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
  log(
    `| Kill → resumed, median / max (${kills.samples.length} kills) | ${mm(resume)} | | | ` +
      `≤ ${TARGET_RESUME_MS / 1000} s | ${verdict(ok.resume)} |`,
  );
  log(`| Media lost per kill, median / max | ${mm(lostMedia)} | | | (reported) | |`);
  log(
    `| Finished segments lost | ${kills.lost.length + kills.discardedBySpoolRecovery} of ` +
      `${kills.segmentEvents} | | | 0 | ${verdict(ok.noLoss)} |`,
  );
  log('');
  log(
    `Join (p50 / p99), recfleet vs bare: enqueue → job active ${pm(active.r)} vs ${pm(active.b)}; ` +
      `job active → joined ${pm(toJoin.r)} vs ${pm(toJoin.b)}; p99 is nearest-rank over ` +
      `${joined.r.length} samples.`,
  );
  log(
    `Resume (median / max): lock time left at the kill ${mm(lockLeft)}; lock expiry → claim ` +
      `(stalled check + pickup) ${mm(afterExpiry)}; claim → joined ${mm(claimToJoined)}. ` +
      `Media lost = the killed worker's open segment (${mm(unfinished)}) + the resume time, less the ` +
      `channel server's GOP cache replayed to the resumer.`,
  );
  log(
    `Recording ${kills.recordingId}: ${kills.segmentEvents} segments reported finished, ` +
      `${kills.indexed} indexed, final event ${kills.finalEvent}, playlist ended: ${kills.playlistEnded}, ` +
      `discarded by spool recovery: ${kills.discardedBySpoolRecovery}.`,
  );
  for (const l of kills.lost) log(`  LOST ${l}`);
  return ok.p50 && ok.p99 && ok.resume && ok.noLoss;
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
        `${options.kills} kills; load average ${loadStart}`,
    );
    const fleet = await startFleet(cleanup);
    log('1. enqueue → joined, recfleet worker vs bare BullMQ worker (alternating)');
    const joins = await measureJoins(fleet, cleanup);
    log(
      `2. kill -9 → resumed (lockSeconds ${DEFAULTS.lockSeconds}, ` +
        `stalledCheckSeconds ${DEFAULTS.stalledCheckSeconds})`,
    );
    const kills = await measureKills(fleet, cleanup);
    return report(joins, kills, loadStart, Date.now() - began) ? 0 : 2;
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
