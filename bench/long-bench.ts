/**
 * Long recording benchmark (`npm run bench:long`).
 *
 * One simulated 24-hour recording of 2 s segments — 43,200 segments fed as fast as the pipeline takes
 * them, not in real time — through what the worker runs per segment: the reservation and delivery in
 * the real segment index (RedisSegmentIndex on a private redis-server), the real RecordingUploader with
 * its live and complete playlists, and the two events the worker appends per segment (`segment`,
 * `uploaded_segment`, through RecordingRecord, trimmed as in the worker). Once against s3rver (a child
 * process, on local disk) and once against LocalDiskStorage.
 *
 * Before each store's recording, a warm-up recording of one bucket (not counted) gets the JIT, the
 * connections and the store's own caches going, so that the first bucket is not measured cold.
 *
 * Segments go one at a time: the next is reserved once the last is delivered, so a segment's latency
 * (reservation → `uploaded`, i.e. verified in the store and in the live playlist) is the pipeline's own
 * work for it, at that length of recording. Per 1,000 segments: latency p50/p99, CPU per segment of
 * this process, of redis-server and of s3rver (/proc), the Redis requests the index sends (counted on
 * its connection), the commands Redis ran (INFO commandstats, the ones inside scripts too) and the
 * bytes Redis sent and received (INFO total_net_output/input_bytes, less the INFO replies themselves),
 * and the bytes the store was given, by object kind. At the end: Redis memory used by the recording
 * (MEMORY USAGE of its keys), and the final playlists, read back: the complete one must list every
 * segment in order with ENDLIST, and ffprobe and FFmpeg must read it.
 *
 * The segment is a tiny real MPEG-TS file (160×90 H.264, no audio), made once with FFmpeg and hard
 * linked into the spool for each segment (the uploader deletes what it delivered).
 *
 * Flags: --segments N (43200)  --segment-seconds S (2)  --bucket N (1000)  --stores s3,local
 *        --data-dir DIR (where s3rver and the local store keep objects; default a temp dir)
 *        --no-events (leave out the two events per segment)  --no-decode (skip the FFmpeg read)
 *        --all-buckets (a table row per bucket; by default the first two, every fifth and the last)
 */
import { execFile } from 'node:child_process';
import { linkSync, mkdirSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { recordingRedisKeys, segmentIndexVersionKey } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import {
  LocalDiskStorage,
  RecordingUploader,
  recordingObjectKeys,
  UploadSlots,
  type StorageAdapter,
} from '@recfleet/storage';
import { RecordingRecord, RedisSegmentIndex } from '@recfleet/worker';
import { Redis } from 'ioredis';
import { CLK_TCK, Cleanup, fixed, markdownTable, positiveFlag, ticksOf, total } from './engine-support.js';
import { loadAverage, machineInfo, percentile } from './fleet-support.js';
import {
  countingStore,
  makeSegment,
  s3rverStore,
  startS3rver,
  type WrittenBytes,
} from './storage-support.js';

const PREFIX = 'bench-long';
const TARGET_RATIO = 1.2;

const { values: flags } = parseArgs({
  options: {
    segments: { type: 'string' },
    'segment-seconds': { type: 'string' },
    bucket: { type: 'string' },
    stores: { type: 'string' },
    'data-dir': { type: 'string' },
    'no-events': { type: 'boolean', default: false },
    'no-decode': { type: 'boolean', default: false },
    'all-buckets': { type: 'boolean', default: false },
  },
});
const SEGMENTS = positiveFlag('segments', flags.segments, 43_200, true);
const SEGMENT_S = positiveFlag('segment-seconds', flags['segment-seconds'], 2);
const BUCKET = positiveFlag('bucket', flags.bucket, 1000, true);
const EVENTS = !flags['no-events'];
const DECODE = !flags['no-decode'];
const ALL_BUCKETS = flags['all-buckets'] === true;
type StoreKind = 's3' | 'local';
const STORES = (flags.stores ?? 's3,local').split(',').map((s) => s.trim()) as StoreKind[];
for (const s of STORES) {
  if (s !== 's3' && s !== 'local') throw new Error(`Expected s3 and/or local for --stores but received ${s}`);
}
if (SEGMENTS < 2 * BUCKET) throw new Error('--segments must be at least two --bucket sizes');

const log = (line: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

// ---------------------------------------------------------------------------------------------
// Counters

/** What Redis says about itself: commands run (by name) and bytes in and out. */
interface RedisCounters {
  commands: number;
  byCommand: Map<string, number>;
  bytesOut: number;
  bytesIn: number;
}

/** `*2\r\n$4\r\ninfo\r\n$3\r\nall\r\n`: what one INFO request adds to Redis's input. */
const INFO_REQUEST_BYTES = 23;

class RedisMeter {
  /** Bytes of the INFO replies this meter has read: Redis counts them as its output too. */
  private repliesBefore = 0;
  private requests = 0;

  constructor(private readonly redis: Redis) {}

  async read(): Promise<RedisCounters> {
    const info = await this.redis.info('all');
    // The figures in a reply predate the reply itself, but count every earlier one (and this request).
    const repliesBefore = this.repliesBefore;
    const size = Buffer.byteLength(info);
    this.repliesBefore += size + String(size).length + 5; // `$<length>\r\n<info>\r\n`
    this.requests += 1;
    const byCommand = new Map<string, number>();
    let commands = 0;
    for (const m of info.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
      if (m[1] === 'info') continue;
      byCommand.set(m[1]!, Number(m[2]));
      commands += Number(m[2]);
    }
    const stat = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    return {
      commands,
      byCommand,
      bytesOut: stat('total_net_output_bytes') - repliesBefore,
      bytesIn: stat('total_net_input_bytes') - this.requests * INFO_REQUEST_BYTES,
    };
  }
}

/** Counts the requests a connection sends (a MULTI's queued commands each count, as on the wire). */
function countRequests(redis: Redis): { count(): number } {
  let sent = 0;
  const send = redis.sendCommand.bind(redis);
  (redis as unknown as { sendCommand: typeof send }).sendCommand = ((...args: Parameters<typeof send>) => {
    sent += 1;
    return send(...args);
  }) as typeof send;
  return { count: () => sent };
}

interface Sample {
  at: number;
  cpuUs: number;
  redisTicks: number;
  s3rverTicks: number;
  redis: RedisCounters;
  requests: number;
  written: WrittenBytes;
}

interface BucketRow {
  from: number;
  to: number;
  latencyP50: number;
  latencyP99: number;
  latencyMean: number;
  cpuMsPerSegment: number;
  redisCpuMsPerSegment: number;
  s3rverCpuMsPerSegment: number;
  indexRequestsPerSegment: number;
  redisCommandsPerSegment: number;
  redisBytesOutPerSegment: number;
  redisBytesInPerSegment: number;
  segmentBytesPerSegment: number;
  liveBytesPerSegment: number;
  completeBytesPerSegment: number;
  /** Complete playlist bytes per segment over the whole recording so far (the amortized figure). */
  completeAmortizedPerSegment: number;
}

interface StoreResult {
  kind: StoreKind;
  rows: BucketRow[];
  seconds: number;
  failures: number;
  outcome: string;
  finishMs: number;
  memory: { record: number; segments: number; version: number; events: number; usedDelta: number };
  segmentsListed: number;
  inOrder: boolean;
  ended: boolean;
  completeBytes: number;
  liveBytes: number;
  ffprobeSeconds: number;
  decode: string;
  totals: WrittenBytes;
}

// ---------------------------------------------------------------------------------------------
// One recording

/** A recording as a worker's track holds it: its index (claimed), events, uploader. */
interface Recording {
  rk: ReturnType<typeof recordingRedisKeys>;
  keys: ReturnType<typeof recordingObjectKeys>;
  index: RedisSegmentIndex;
  record: RecordingRecord;
  uploader: RecordingUploader;
  failures: number;
  /** Resolves the wait for segment `sequence` (delivered, or given up on). */
  waiting: { sequence: number; resolve: () => void } | undefined;
}

async function openRecording(
  recordingId: string,
  c: { kind: StoreKind; indexRedis: Redis; eventsRedis: Redis; store: StorageAdapter },
): Promise<Recording> {
  const rk = recordingRedisKeys(PREFIX, recordingId);
  // Claimed as a worker that finds nobody owning it (no heartbeat to wait for, no outage grace).
  const claim = await new RecordingRecord(c.indexRedis, PREFIX, recordingId).claim({
    identity: 'bench-long:1',
    host: 'bench-long',
    takeoverAfterMs: 0,
    graceAfterResumeMs: 0,
    outageGapMs: 3000,
  });
  if (claim.type !== 'claimed') throw new Error(`not claimed: ${JSON.stringify(claim)}`);
  const epoch = claim.epoch;
  const index = new RedisSegmentIndex(c.indexRedis, rk.record, rk.segments, epoch);
  await index.list(); // what a track reads when it opens
  const keys = recordingObjectKeys(recordingId, 'day');
  const uploader = new RecordingUploader(c.store, keys, {
    index,
    slots: new UploadSlots(4),
    attemptTimeoutMs: 60_000,
  });
  const rec: Recording = {
    rk,
    keys,
    index,
    record: new RecordingRecord(c.eventsRedis, PREFIX, recordingId),
    uploader,
    failures: 0,
    waiting: undefined,
  };
  uploader.on('uploader_failure', (e) => {
    rec.failures += 1;
    if (rec.failures <= 5) log(`${c.kind}: uploader_failure ${e.code} ${e.message}`);
    // A segment given up on is not `uploaded`: go on with the next (the outcome reports it).
    if (!e.willRetry && rec.waiting?.sequence === e.sequence) rec.waiting.resolve();
  });
  uploader.on('uploaded', (e) => {
    if (rec.waiting?.sequence === e.sequence) rec.waiting.resolve();
  });
  return rec;
}

const PROGRAM_START = Date.UTC(2026, 0, 1);

/**
 * [from, to) of each bucket: `size` segments each, the first from segment 0 and the last ending with the
 * recording, so that the first and the last `size` segments are compared; one shorter bucket before the
 * last takes the rest.
 */
function buckets(total: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  let from = 0;
  while (from < total - size) {
    const to = Math.min(from + size, total - size);
    out.push([from, to]);
    from = to;
  }
  out.push([total - size, total]);
  return out;
}

/**
 * Records segments `from` to `to` - 1 one at a time, as a track does (reserve, then deliver) with the
 * worker's two events beside; resolves with each one's latency (reserve → uploaded), ms.
 */
async function feed(
  rec: Recording,
  from: number,
  to: number,
  spool: string,
  template: string,
): Promise<number[]> {
  const latencies: number[] = [];
  let events: Promise<unknown> = Promise.resolve();
  for (let sequence = from; sequence < to; sequence++) {
    const filePath = join(spool, `${rec.keys.baseName}-${sequence}.ts`);
    linkSync(template, filePath);
    const bytes = statSync(filePath).size;
    const segment = {
      sequence,
      durationSeconds: SEGMENT_S,
      bytes,
      discontinuity: false,
      programDateTime: PROGRAM_START + sequence * SEGMENT_S * 1000,
    };
    const t0 = performance.now();
    const delivered = new Promise<void>((resolve) => (rec.waiting = { sequence, resolve }));
    await rec.index.reserve({ ...segment, at: Date.now() });
    rec.uploader.add({ ...segment, filePath });
    // The worker's report chain: the events are written in order, beside the delivery.
    if (EVENTS) events = events.then(() => rec.record.appendEvent(rec.index.epoch, 'segment', segment));
    await delivered;
    const latencyMs = performance.now() - t0;
    latencies.push(latencyMs);
    if (EVENTS) {
      const e = { sequence, key: rec.keys.segmentKey(sequence), bytes, latencyMs };
      events = events.then(() => rec.record.appendEvent(rec.index.epoch, 'uploaded_segment', e));
    }
  }
  await events;
  return latencies;
}

// ---------------------------------------------------------------------------------------------
// One store

async function runStore(
  kind: StoreKind,
  env: { redis: RedisServer; redisPid: number; segmentPath: string; dataRoot: string; cleanup: Cleanup },
): Promise<StoreResult> {
  const dir = await mkdtemp(join(env.dataRoot, `long-${kind}-`));
  const undoDir = env.cleanup.dir(dir);
  const spool = join(dir, 'spool');
  mkdirSync(spool);
  let base: StorageAdapter;
  let s3rverPid = 0;
  let stopS3rver = (): void => {};
  let playlistUrl: (key: string) => string;
  if (kind === 's3') {
    mkdirSync(join(dir, 's3'));
    const s3 = await startS3rver(join(dir, 's3'));
    s3rverPid = s3.pid;
    stopS3rver = s3.stop;
    env.cleanup.add('s3rver', async () => s3.stop());
    base = await s3rverStore(s3.endpoint, 'long');
    // s3rver serves a GET without a signature: FFmpeg reads the playlist over HTTP, as a player would.
    playlistUrl = (key) => `${s3.endpoint}/long/${key}`;
  } else {
    const root = join(dir, 'store');
    base = new LocalDiskStorage(root);
    playlistUrl = (key) => join(root, key);
  }
  const { store, written } = countingStore(base);
  const indexRedis = new Redis(env.redis.url, { maxRetriesPerRequest: null });
  const eventsRedis = new Redis(env.redis.url, { maxRetriesPerRequest: null });
  const meterRedis = new Redis(env.redis.url, { maxRetriesPerRequest: null });
  env.cleanup.add('redis clients', async () => {
    for (const r of [indexRedis, eventsRedis, meterRedis]) r.disconnect();
  });
  const requests = countRequests(indexRedis);
  const meter = new RedisMeter(meterRedis);
  const sample = async (): Promise<Sample> => ({
    at: performance.now(),
    cpuUs: ((u) => u.user + u.system)(process.cpuUsage()),
    redisTicks: total(await ticksOf([env.redisPid])),
    s3rverTicks: s3rverPid ? total(await ticksOf([s3rverPid])) : 0,
    redis: await meter.read(),
    requests: requests.count(),
    written: { ...written },
  });
  const open = (recordingId: string): Promise<Recording> =>
    openRecording(recordingId, { kind, indexRedis, eventsRedis, store });

  // Warm-up: one bucket of another recording, not counted.
  log(`${kind}: warming up with ${BUCKET} segments…`);
  const warm = await open(`long-${kind}-warm-up`);
  await feed(warm, 0, BUCKET, spool, env.segmentPath);
  await warm.uploader.finish();

  const usedBefore = Number(/^used_memory:(\d+)/m.exec(await meterRedis.info('memory'))![1]);
  const firstWritten = { ...written };
  const rec = await open(`long-${kind}`);
  const { rk, keys, uploader } = rec;
  const rows: BucketRow[] = [];
  const started = performance.now();
  log(`${kind}: ${SEGMENTS} segments of ${SEGMENT_S} s…`);
  for (const [from, to] of buckets(SEGMENTS, BUCKET)) {
    const s0 = await sample();
    const latencies = await feed(rec, from, to, spool, env.segmentPath);
    const s1 = await sample();
    const n = to - from;
    const per = (v: number): number => v / n;
    const mean = latencies.reduce((x, y) => x + y, 0) / n;
    rows.push({
      from,
      to,
      latencyP50: percentile(latencies, 50),
      latencyP99: percentile(latencies, 99),
      latencyMean: mean,
      cpuMsPerSegment: per((s1.cpuUs - s0.cpuUs) / 1000),
      redisCpuMsPerSegment: per(((s1.redisTicks - s0.redisTicks) * 1000) / CLK_TCK),
      s3rverCpuMsPerSegment: per(((s1.s3rverTicks - s0.s3rverTicks) * 1000) / CLK_TCK),
      indexRequestsPerSegment: per(s1.requests - s0.requests),
      redisCommandsPerSegment: per(s1.redis.commands - s0.redis.commands),
      redisBytesOutPerSegment: per(s1.redis.bytesOut - s0.redis.bytesOut),
      redisBytesInPerSegment: per(s1.redis.bytesIn - s0.redis.bytesIn),
      segmentBytesPerSegment: per(s1.written.segments - s0.written.segments),
      liveBytesPerSegment: per(s1.written.livePlaylists - s0.written.livePlaylists),
      completeBytesPerSegment: per(s1.written.completePlaylists - s0.written.completePlaylists),
      completeAmortizedPerSegment: (s1.written.completePlaylists - firstWritten.completePlaylists) / to,
    });
    const r = rows.at(-1)!;
    if (rows.length === 1 || rows.length % 5 === 0 || to === SEGMENTS) {
      log(
        `${kind}: ${to} segments: p50 ${fixed(r.latencyP50, 2)} ms, CPU ${fixed(r.cpuMsPerSegment, 2)} ms/seg, ` +
          `Redis ${fixed(r.indexRequestsPerSegment, 2)} requests/seg, ${fixed(r.redisBytesOutPerSegment, 0)} B read/seg, ` +
          `playlists ${fixed(r.liveBytesPerSegment + r.completeBytesPerSegment, 0)} B/seg`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const finishStart = performance.now();
  const outcome = await uploader.finish();
  const finishMs = performance.now() - finishStart;

  // Memory the recording holds in Redis at its end.
  const usage = async (key: string): Promise<number> =>
    Number((await meterRedis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  const usedAfter = Number(/^used_memory:(\d+)/m.exec(await meterRedis.info('memory'))![1]);
  const memory = {
    record: await usage(rk.record),
    segments: await usage(rk.segments),
    version: await usage(segmentIndexVersionKey(rk.segments)),
    events: await usage(rk.events),
    usedDelta: usedAfter - usedBefore,
  };

  // The final playlists, read back from the store.
  const complete = (await store.get!(keys.playlistKey))!.toString('utf8');
  const live = (await store.get!(keys.livePlaylistKey))!.toString('utf8');
  const listed = complete.split('\n').filter((l) => l.endsWith('.ts'));
  const inOrder = listed.length === SEGMENTS && listed.every((name, i) => name === keys.segmentName(i));
  const probe = await promisify(execFile)('ffprobe', [
    ...['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', playlistUrl(keys.playlistKey)],
  ]).catch((err: unknown) => ({ stdout: 'NaN', stderr: String(err) }));
  let decode = 'skipped (--no-decode)';
  if (DECODE) {
    log(`${kind}: FFmpeg reads the whole playlist…`);
    const t = performance.now();
    const r = await promisify(execFile)(
      'ffmpeg',
      ['-v', 'error', '-i', playlistUrl(keys.playlistKey), '-map', '0', '-c', 'copy', '-f', 'null', '-'],
      { maxBuffer: 64 * 2 ** 20 },
    ).then(
      (out) => ({ ok: out.stderr.trim() === '', detail: out.stderr.trim().split('\n')[0] ?? '' }),
      (err: unknown) => ({ ok: false, detail: String(err).split('\n')[0] ?? '' }),
    );
    decode = r.ok
      ? `read without an error line (${fixed((performance.now() - t) / 1000, 0)} s)`
      : `ERRORS: ${r.detail}`;
  }
  stopS3rver();
  await undoDir();
  return {
    kind,
    rows,
    seconds,
    failures: rec.failures,
    outcome: outcome.outcome,
    finishMs,
    memory,
    segmentsListed: listed.length,
    inOrder,
    ended: complete.trim().endsWith('#EXT-X-ENDLIST') && live.trim().endsWith('#EXT-X-ENDLIST'),
    completeBytes: Buffer.byteLength(complete),
    liveBytes: Buffer.byteLength(live),
    ffprobeSeconds: Number(probe.stdout.trim()),
    decode,
    // This recording's own writes (the warm-up recording's are not counted).
    totals: Object.fromEntries(
      Object.entries(written).map(([k, v]) => [k, v - firstWritten[k as keyof WrittenBytes]]),
    ) as unknown as WrittenBytes,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function report(results: StoreResult[], header: string[]): string {
  const lines = [...header, ''];
  for (const r of results) {
    lines.push(
      `### ${r.kind === 's3' ? 's3rver' : 'local disk'}`,
      '',
      markdownTable(
        [
          'segments',
          'latency p50 / p99 / mean ms',
          'CPU ms / seg: bench / redis / s3rver',
          'index requests / seg',
          'Redis commands / seg',
          'Redis bytes read / written per seg',
          'store bytes / seg: segment + live + complete',
          'complete, amortized B / seg',
        ],
        r.rows
          .filter((_, i, all) => ALL_BUCKETS || i < 2 || (i + 1) % 5 === 0 || i === all.length - 1)
          .map((b) => [
            `${b.from + 1}–${b.to}`,
            `${fixed(b.latencyP50, 2)} / ${fixed(b.latencyP99, 2)} / ${fixed(b.latencyMean, 2)}`,
            `${fixed(b.cpuMsPerSegment, 2)} / ${fixed(b.redisCpuMsPerSegment, 2)} / ${r.kind === 's3' ? fixed(b.s3rverCpuMsPerSegment, 2) : '—'}`,
            fixed(b.indexRequestsPerSegment, 2),
            fixed(b.redisCommandsPerSegment, 2),
            `${fixed(b.redisBytesOutPerSegment, 0)} / ${fixed(b.redisBytesInPerSegment, 0)}`,
            `${fixed(b.segmentBytesPerSegment, 0)} + ${fixed(b.liveBytesPerSegment, 0)} + ${fixed(b.completeBytesPerSegment, 0)}`,
            fixed(b.completeAmortizedPerSegment, 0),
          ]),
        new Set([1, 2, 3, 4, 5, 6, 7]),
      ),
      '',
    );
    const first = r.rows[0]!;
    const last = r.rows.at(-1)!;
    const latency = last.latencyP50 / first.latencyP50;
    const cpu = last.cpuMsPerSegment / first.cpuMsPerSegment;
    const pass = (v: number): string => (v <= TARGET_RATIO ? 'PASS' : 'MISS');
    const span = (f: (b: BucketRow) => number): string => {
      const values = r.rows.map(f);
      return `${fixed(Math.min(...values), 2)}–${fixed(Math.max(...values), 2)}`;
    };
    const hour = 3600 / SEGMENT_S;
    const recordingHours = (SEGMENTS * SEGMENT_S) / 3600;
    const m = r.memory;
    lines.push(
      `- ${pass(latency)} latency p50, last ${BUCKET} / first ${BUCKET}: ${fixed(latency, 2)}× (mean ${fixed(last.latencyMean / first.latencyMean, 2)}×; target ≤ ${TARGET_RATIO}×)`,
      `- ${pass(cpu)} CPU per segment of the pipeline's process, last / first: ${fixed(cpu, 2)}× (target ≤ ${TARGET_RATIO}×)`,
      `- Redis per segment over every ${BUCKET}: ${span((b) => b.indexRequestsPerSegment)} index requests, ` +
        `${span((b) => b.redisCommandsPerSegment)} commands, ${span((b) => b.redisBytesOutPerSegment)} bytes read`,
      `- Playlist bytes per segment: live ${span((b) => b.liveBytesPerSegment)} per ${BUCKET}; complete ` +
        `${fixed(r.totals.completePlaylists / SEGMENTS, 0)} amortized over the recording (final complete playlist ` +
        `${fixed(r.completeBytes / 1e6, 2)} MB, all its rewrites ${fixed(r.totals.completePlaylists / 1e6, 2)} MB = ` +
        `${fixed(r.totals.completePlaylists / r.completeBytes, 1)}× it; live playlist ${r.liveBytes} B)`,
      `- Redis memory of the recording at the end: index ${fixed(m.segments / 2 ** 20, 2)} MiB ` +
        `(${fixed(m.segments / recordingHours / 1024, 0)} KiB per recording-hour, ${fixed(m.segments / SEGMENTS, 0)} B per segment), ` +
        `events ${fixed(m.events / 2 ** 20, 2)} MiB (trimmed: the newest ~5,000), record ${m.record} B, version ${m.version} B; ` +
        `used_memory grew ${fixed(m.usedDelta / 2 ** 20, 2)} MiB`,
      `- Final playlist: ${r.segmentsListed} segments listed, ${r.inOrder ? 'every one in order' : 'NOT in order'}, ` +
        `${r.ended ? 'both playlists end with ENDLIST' : 'ENDLIST MISSING'}; ffprobe duration ${fixed(r.ffprobeSeconds, 0)} s ` +
        `(${fixed(r.ffprobeSeconds / 3600, 2)} h); FFmpeg: ${r.decode}`,
      `- Outcome ${r.outcome}, ${r.failures} uploader failures; ${fixed(r.seconds / 60, 1)} min for ${SEGMENTS} segments ` +
        `(${fixed((r.seconds * 1000) / SEGMENTS, 2)} ms each, ${fixed(hour / ((hour * r.seconds) / SEGMENTS), 0)}× real time); ` +
        `final playlists in ${fixed(r.finishMs, 0)} ms`,
      '',
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.onSignals();
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const began = Date.now();
  const loadBefore = loadAverage();
  try {
    const work = await mkdtemp(join(tmpdir(), 'recfleet-long-bench-'));
    cleanup.dir(work);
    const dataRoot = flags['data-dir'] ?? work;
    const segmentPath = await makeSegment(work, {
      width: 160,
      height: 90,
      fps: 10,
      videoBitrate: '40k',
      seconds: SEGMENT_S,
      audio: false,
    });
    const redis = await RedisServer.start();
    cleanup.add('redis-server', () => redis.stop());
    const env = { redis, redisPid: redis.process!.pid!, segmentPath, dataRoot, cleanup };
    const results: StoreResult[] = [];
    for (const kind of STORES) results.push(await runStore(kind, env));
    const m = machineInfo();
    const command = `npm run bench:long${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const segmentBytes = statSync(segmentPath).size;
    const header = [
      `- Command: \`${command}\` (${fixed((Date.now() - began) / 60_000, 1)} min)`,
      `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.ramGiB} GiB RAM, ${m.kernel}; Node ${m.node}`,
      `- Recording: ${SEGMENTS} segments of ${SEGMENT_S} s (${fixed((SEGMENTS * SEGMENT_S) / 3600, 1)} h), one at a time; ` +
        `segment ${segmentBytes} B (160×90 H.264, FFmpeg, once); ${EVENTS ? 'with' : 'without'} the worker's two events per segment`,
      `- Load average (1/5/15 min): ${loadBefore} before, ${loadAverage()} after`,
    ];
    process.stdout.write(`\n${report(results, header)}\n`);
    const bad = results.some(
      (r) => !r.inOrder || !r.ended || r.outcome !== 'uploaded' || r.decode.startsWith('ERRORS'),
    );
    if (bad) process.exitCode = 2;
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
