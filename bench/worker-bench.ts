/**
 * Worker capacity benchmark (`npm run bench:worker`).
 *
 * N live 720p30 recordings through the complete path a user runs, on one host, for several N:
 *   - worker: jobs enqueued with the producer's RecordingClient, ONE recfleet-worker process (started
 *     as an operator starts it: a config file), the Redis segment index and events on a private
 *     redis-server, uploads to s3rver on the same host (`--s3rvers` processes, one storage profile
 *     each, recordings spread over them), 6 s segments;
 *   - engine: in the same run, at the same N, the engine alone (N native recorders in one process,
 *     bench/engine-bench-child.ts, writing to local disk), so that what the fleet layer costs per stream
 *     is a ratio.
 * The source is bench:engine's: one pre-encoded 720p30 file published in a loop to `--channel-servers`
 * node-media-server processes; recordings are spread round-robin over them. Channel servers,
 * publishers, s3rver, Redis and this driver are measured apart and charged to neither side.
 *
 * Per phase, after a warm-up (at least `--warmup` s, and until every recording has closed a segment),
 * over a `--seconds` window:
 *   - real time as bench:engine defines it (engine-support.ts: lateness), from the worker's `segment`
 *     events (engine: the child's own segment times);
 *   - segment closed → in storage and playlist: from a recording's `segment` event to its
 *     `uploaded_segment` event (both stamped by the worker; `uploaded` follows the segment verified in
 *     s3rver and the live playlist rewritten), p50/p99 over the segments closed in the window;
 *   - CPU seconds per stream-minute and PSS per stream of the side's process; the worker's event-loop
 *     delay p99 over the window (its /metrics gauge; engine: the child's histogram);
 *   - the cores Redis, s3rver, the fan-out (channel servers and publishers), the driver and everything
 *     else used; failures (recorder, uploader and fatal errors; after the stop, every recording must end
 *     `uploaded`).
 * Redis's CPU includes the driver's own reads of the recordings' events (one pipelined XRANGE per
 * recording every 2 s).
 *
 * Flags: --n 100,200,300,400  --seconds S (window, 60)  --warmup S (20)  --segment-seconds S (6)
 *        --channel-servers K (4)  --s3rvers K (2)  --sides worker,engine  --source file.flv
 *        --upload-concurrency N (the worker's uploadConcurrency; default: the worker's own)
 *        --worker-env KEY=VALUE (repeatable; the worker process only, e.g. NODE_OPTIONS=--cpu-prof)
 *        --quick (N = 20, 20 s window, 10 s warm-up)
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_KEY_PREFIX } from '@recfleet/contract';
import { freePort, RedisServer } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import { Redis } from 'ioredis';
import { EventTap, sweepSegments, type TappedEvent } from './channels-support.js';
import {
  CLK_TCK,
  Cleanup,
  coresBetween,
  describeSource,
  EngineChild,
  encodeSource,
  fixed,
  LATE_LIMIT_SECONDS,
  lateness,
  markdownTable,
  measureWindow,
  positiveFlag,
  sampleCpu,
  sleep,
  startChannels,
  total,
  type Channel,
  type CoresUsed,
  type LoopDelay,
  type SegmentClose,
} from './engine-support.js';
import { loadAverage, machineInfo, percentile, startFleetWorker, waitFor } from './fleet-support.js';
import { s3rverStore, startS3rver, S3RVER_CREDENTIALS, type S3rverProcess } from './storage-support.js';

const APP = 'bench';
const BUCKET = 'rec';
const TARGET_REALTIME_N = 300;
const TARGET_FLEET_CPU_RATIO = 1.25;
const TARGET_UPLOAD_P99_S = 1;
const LOOP_RESOLUTION_MS = 10;
const KEY_ENV = 'RECFLEET_BENCH_S3_KEY';
const SECRET_ENV = 'RECFLEET_BENCH_S3_SECRET';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    n: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    'segment-seconds': { type: 'string' },
    'channel-servers': { type: 'string' },
    s3rvers: { type: 'string' },
    sides: { type: 'string' },
    source: { type: 'string' },
    'upload-concurrency': { type: 'string' },
    'worker-env': { type: 'string', multiple: true },
  },
});
const QUICK = flags.quick === true;
const LADDER = (flags.n ?? (QUICK ? '20' : '100,200,300,400'))
  .split(',')
  .map((v) => Math.round(positiveFlag('n', v.trim(), 0, true)));
const WINDOW_S = positiveFlag('seconds', flags.seconds, QUICK ? 20 : 60);
const WARMUP_S = positiveFlag('warmup', flags.warmup, QUICK ? 10 : 20);
const SEGMENT_S = positiveFlag('segment-seconds', flags['segment-seconds'], 6);
const CHANNEL_SERVERS = positiveFlag('channel-servers', flags['channel-servers'], QUICK ? 2 : 4, true);
const S3RVERS = positiveFlag('s3rvers', flags.s3rvers, 2, true);
const UPLOAD_CONCURRENCY =
  flags['upload-concurrency'] === undefined
    ? undefined
    : positiveFlag('upload-concurrency', flags['upload-concurrency'], 16, true);
/** Extra environment of the worker process only (e.g. NODE_OPTIONS=--cpu-prof to profile it). */
const WORKER_ENV = Object.fromEntries(
  (flags['worker-env'] ?? []).map((kv) => {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`Expected KEY=VALUE for --worker-env but received ${kv}`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  }),
);
type Side = 'worker' | 'engine';
const SIDES = (flags.sides ?? 'worker,engine').split(',').map((s) => s.trim()) as Side[];
for (const s of SIDES) {
  if (s !== 'worker' && s !== 'engine') {
    throw new Error(`Expected worker and/or engine for --sides but received ${s}`);
  }
}

const log = (line: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

// ---------------------------------------------------------------------------------------------
// Shared setup

interface Fleet {
  source: string;
  channels: Channel[];
  redis: RedisServer;
  redisPid: number;
  s3rvers: S3rverProcess[];
  client: RecordingClient;
  reader: Redis;
  work: string;
  runId: string;
}

interface PhaseResult {
  side: Side;
  n: number;
  cpuPerStreamMinute: number;
  pssPerStreamMB: number;
  loopP99Ms: number;
  late: number;
  maxLateSeconds: number;
  segments: number;
  expectedSegments: number;
  shortRecordings: number;
  /** Segment closed → in storage and the live playlist, seconds (worker only). */
  uploadSeconds: number[];
  /** Redis commands per second over the window, by name (the driver's XRANGE reads left out). */
  redisCommands: Map<string, number>;
  /** Upload attempts that failed and were retried (a failure only when not retried). */
  retried: number;
  failures: string[];
  cores: CoresUsed;
  realTime: boolean;
}

/** Redis's command counts (INFO commandstats), the driver's own reads (XRANGE, INFO) left out. */
async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
    if (m[1] !== 'xrange' && m[1] !== 'info') counts.set(m[1]!, Number(m[2]));
  }
  return counts;
}

function perSecond(a: Map<string, number>, b: Map<string, number>, seconds: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, n] of b) {
    const d = (n - (a.get(name) ?? 0)) / seconds;
    if (d > 0) out.set(name, d);
  }
  return new Map([...out].sort((x, y) => y[1] - x[1]));
}

function groups(fleet: Fleet, sidePids: number[]): Record<string, number[]> {
  return {
    side: sidePids,
    redis: [fleet.redisPid],
    s3rver: fleet.s3rvers.map((s) => s.pid),
    fanOut: fleet.channels.flatMap((c) => [c.serverPid, c.publisherPid]),
    driver: [process.pid],
  };
}

/** The worker's event-loop delay p99 since its last scrape (recfleet_event_loop_delay_p99_seconds). */
async function scrapeLoopP99(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^recfleet_event_loop_delay_p99_seconds ([\d.e+-]+)$/m.exec(text);
  // The histogram records whole timer intervals: what exceeds its resolution is the delay.
  return m ? Math.max(0, Number(m[1]) * 1000 - LOOP_RESOLUTION_MS) : Number.NaN;
}

/** What a worker phase's events say, per recording. */
class WorkerEvents {
  readonly closes = new Map<string, SegmentClose[]>();
  /** `<recording>/<sequence>` → when its `segment` event was stamped. */
  readonly closedAt = new Map<string, number>();
  readonly uploadedAt = new Map<string, number>();
  readonly failures: string[] = [];
  readonly finals = new Map<string, string>();
  retried = 0;

  note(e: TappedEvent): void {
    const ref = `${e.recordingId}/${String(e.data.sequence)}`;
    switch (e.type) {
      case 'segment': {
        const list = this.closes.get(e.recordingId) ?? [];
        list.push({ closedAt: e.at, durationSeconds: Number(e.data.durationSeconds) });
        this.closes.set(e.recordingId, list);
        this.closedAt.set(ref, e.at);
        break;
      }
      case 'uploaded_segment':
        this.uploadedAt.set(ref, e.at);
        break;
      case 'recorder_failure':
      case 'fatal_error':
        this.failures.push(
          `${e.recordingId}: ${e.type} ${String(e.data.code)} ${String(e.data.message ?? '')}`,
        );
        break;
      case 'uploader_failure':
        this.failures.push(
          `${e.recordingId}: uploader_failure ${String(e.data.code)} ${String(e.data.message)}`,
        );
        break;
      case 'stopped':
        if (e.data.reason !== 'requested')
          this.failures.push(`${e.recordingId}: stopped (${String(e.data.reason)})`);
        break;
    }
    if (e.type === 'uploaded' || e.type === 'backed_up' || e.type === 'fatal_error') {
      this.finals.set(e.recordingId, e.type);
    }
  }

  /** Closed → uploaded, seconds, of the segments closed between `from` and `to`. */
  uploadSeconds(from: number, to: number): number[] {
    const out: number[] = [];
    for (const [ref, closed] of this.closedAt) {
      const uploaded = this.uploadedAt.get(ref);
      if (closed >= from && closed <= to && uploaded !== undefined) out.push((uploaded - closed) / 1000);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Worker side

async function runWorker(n: number, fleet: Fleet, cleanup: Cleanup): Promise<PhaseResult> {
  const dir = await mkdtemp(join(fleet.work, `worker-${n}-`));
  const undoDir = cleanup.dir(dir);
  const httpPort = await freePort();
  const profiles = Object.fromEntries(
    fleet.s3rvers.map((s, k) => [
      `s3-${k}`,
      {
        type: 's3',
        bucket: BUCKET,
        region: 'us-east-1',
        endpoint: s.endpoint,
        forcePathStyle: true,
        checksumMode: 'WHEN_REQUIRED',
        accessKeyId: { env: KEY_ENV },
        secretAccessKey: { env: SECRET_ENV },
      },
    ]),
  );
  const worker = await startFleetWorker(
    {
      name: `worker-${n}`,
      redisUrl: fleet.redis.url,
      storageRoot: join(dir, 'unused'),
      spoolDir: join(dir, 'spool'),
      env: {
        ...WORKER_ENV,
        [KEY_ENV]: S3RVER_CREDENTIALS.accessKeyId,
        [SECRET_ENV]: S3RVER_CREDENTIALS.secretAccessKey,
      },
      extra: {
        storageProfiles: profiles,
        maxRecordings: n,
        httpPort,
        httpHost: '127.0.0.1',
        ...(UPLOAD_CONCURRENCY !== undefined ? { uploadConcurrency: UPLOAD_CONCURRENCY } : {}),
        // The benchmark measures what streams cost: the admission estimates must not be the limit.
        admission: { cpuCoresPerStream: 0.001, memoryMbPerStream: 1 },
      },
    },
    cleanup,
  );
  const workerPid = worker.pid!;
  const events = new WorkerEvents();
  const tap = new EventTap(fleet.reader, DEFAULT_KEY_PREFIX);
  tap.onEvent((e) => events.note(e));
  const ids: string[] = [];
  try {
    log(`worker N=${n}: pid ${workerPid} ready; enqueueing ${n} recordings…`);
    for (let i = 0; i < n; i++) {
      const recordingId = `${fleet.runId}-n${n}-${String(i).padStart(3, '0')}`;
      await fleet.client.start({
        recordingId,
        appId: APP,
        channel: `ch${String(i).padStart(3, '0')}`,
        uid: 1,
        sourceUrl: fleet.channels[i % fleet.channels.length]!.url,
        recordingConfig: { segmentSeconds: SEGMENT_S, maxIdleSeconds: 120 },
        storage: { profile: `s3-${i % fleet.s3rvers.length}` },
      });
      ids.push(recordingId);
      tap.add(recordingId);
    }
    tap.start(2000);
    const enqueued = Date.now();
    const cap = enqueued + (WARMUP_S + 90) * 1000;
    while (Date.now() < enqueued + WARMUP_S * 1000 || (events.closes.size < n && Date.now() < cap)) {
      await sleep(500);
    }
    log(`worker N=${n}: ${events.closes.size}/${n} recordings have segments; measuring ${WINDOW_S} s…`);
    const commands0 = await commandCounts(fleet.reader);
    const window = await measureWindow(
      WINDOW_S,
      () => [workerPid],
      () => sampleCpu(groups(fleet, [workerPid])),
      // The gauge covers the time since the last scrape: scrape once now, once at the end.
      async () => void (await scrapeLoopP99(httpPort).catch(() => Number.NaN)),
    );
    const loopP99 = await scrapeLoopP99(httpPort).catch(() => Number.NaN);
    const redisCommands = perSecond(commands0, await commandCounts(fleet.reader), WINDOW_S);
    // Let the window's last segments be delivered and their events read.
    await sleep(Math.max(5, SEGMENT_S) * 1000);
    await tap.poll();
    const cores = coresBetween(window.s0, window.s1);
    const l = lateness(
      ids.map((id) => events.closes.get(id) ?? []),
      window.windowStart,
      window.windowEnd,
      SEGMENT_S,
      LATE_LIMIT_SECONDS,
    );
    const failures = [...events.failures, ...(worker.running ? [] : [`worker exited: ${worker.output()}`])];
    const result: PhaseResult = {
      side: 'worker',
      n,
      cpuPerStreamMinute: total(cores.ticks.side!) / CLK_TCK / ((n * cores.seconds) / 60),
      pssPerStreamMB: window.pss.total / n / 2 ** 20,
      loopP99Ms: loopP99,
      late: l.late,
      maxLateSeconds: l.maxLateSeconds,
      segments: l.inWindow,
      expectedSegments: n * Math.floor((window.windowEnd - window.windowStart) / 1000 / SEGMENT_S),
      shortRecordings: l.shortRecordings,
      uploadSeconds: events.uploadSeconds(window.windowStart, window.windowEnd),
      redisCommands,
      retried: events.retried,
      failures,
      cores,
      realTime: false,
    };
    log(`worker N=${n}: stopping ${n} recordings…`);
    for (const id of ids) {
      await fleet.client.stop(id).catch((err: unknown) => log(`stop ${id}: ${(err as Error).message}`));
    }
    await waitFor(
      'every recording to end',
      () => (events.finals.size === n ? true : undefined),
      180_000,
      250,
    ).catch((err: unknown) => log(`worker N=${n}: ${(err as Error).message}`));
    const notUploaded = ids.filter((id) => events.finals.get(id) !== 'uploaded').length;
    if (notUploaded > 0) result.failures.push(`${notUploaded} of ${n} recordings did not end uploaded`);
    result.realTime = l.late === 0 && l.shortRecordings === 0 && result.failures.length === 0;
    return result;
  } finally {
    await tap.stop();
    await worker.stop('SIGTERM', 60_000);
    await undoDir();
  }
}

// ---------------------------------------------------------------------------------------------
// Engine side

async function runEngine(n: number, fleet: Fleet, cleanup: Cleanup): Promise<PhaseResult> {
  const dir = await mkdtemp(join(fleet.work, `engine-${n}-`));
  const undoDir = cleanup.dir(dir);
  const child = new EngineChild(n);
  const undo = cleanup.process(child.proc, 30_000);
  const pid = child.proc.pid!;
  const stopSweeping = sweepSegments(dir, 1000);
  try {
    await child.request(
      {
        type: 'config',
        config: {
          sourceUrls: Array.from({ length: n }, (_, i) => fleet.channels[i % fleet.channels.length]!.url),
          outputDir: dir,
          segmentSeconds: SEGMENT_S,
          resolutionMs: LOOP_RESOLUTION_MS,
          recorderOptions: {},
        },
      },
      'ready',
    );
    await child.request({ type: 'start' }, 'started');
    log(`engine N=${n}: started; warming up ${WARMUP_S} s…`);
    await sleep(WARMUP_S * 1000);
    const window = await measureWindow(
      WINDOW_S,
      () => [pid],
      () => sampleCpu(groups(fleet, [pid])),
      async () => void (await child.request({ type: 'window-start' }, 'window-started')),
    );
    const report = await child.request({ type: 'window-end' }, 'window-ended');
    const cores = coresBetween(window.s0, window.s1);
    const l = lateness(report.segments, window.windowStart, window.windowEnd, SEGMENT_S, LATE_LIMIT_SECONDS);
    const loop: LoopDelay = report.loopDelay;
    return {
      side: 'engine',
      n,
      cpuPerStreamMinute: total(cores.ticks.side!) / CLK_TCK / ((n * cores.seconds) / 60),
      pssPerStreamMB: window.pss.total / n / 2 ** 20,
      loopP99Ms: loop.p99,
      late: l.late,
      maxLateSeconds: l.maxLateSeconds,
      segments: l.inWindow,
      expectedSegments: n * Math.floor((window.windowEnd - window.windowStart) / 1000 / SEGMENT_S),
      shortRecordings: l.shortRecordings,
      uploadSeconds: [],
      redisCommands: new Map(),
      retried: 0,
      failures: report.failures,
      cores,
      realTime: l.late === 0 && l.shortRecordings === 0 && report.failures.length === 0,
    };
  } finally {
    await child.request({ type: 'stop' }, 'stopped', 60_000).catch(() => undefined);
    await undo();
    await stopSweeping();
    await undoDir();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const secondsText = (v: number): string => (Number.isFinite(v) ? fixed(v, 2) : 'n/a');

function coresText(c: CoresUsed): string {
  const g = c.groups;
  return [g.side, g.redis, g.s3rver, g.fanOut, g.driver, c.others]
    .map((v) => fixed(v ?? Number.NaN, 2))
    .join(' / ');
}

function report(results: PhaseResult[], header: string[]): string {
  const lines = [
    ...header,
    '',
    markdownTable(
      [
        'N',
        'side',
        'real time',
        'late segs / max s',
        'segments / due',
        'segment → storage p50 / p99 s',
        'CPU s / stream-min',
        'PSS MB / stream',
        'loop p99 ms',
        'cores: side / redis / s3rver / fan-out / driver / others',
        'failures',
      ],
      results.map((r) => [
        String(r.n),
        r.side,
        r.realTime ? 'yes' : '**no**',
        `${r.late} / ${fixed(r.maxLateSeconds, 2)}`,
        `${r.segments} / ${r.expectedSegments}`,
        r.side === 'worker'
          ? `${secondsText(percentile(r.uploadSeconds, 50))} / ${secondsText(percentile(r.uploadSeconds, 99))}`
          : '—',
        fixed(r.cpuPerStreamMinute, 3),
        fixed(r.pssPerStreamMB, 2),
        fixed(r.loopP99Ms, 1),
        coresText(r.cores),
        String(r.failures.length),
      ]),
      new Set([0, 3, 4, 5, 6, 7, 8, 10]),
    ),
    '',
  ];
  const ns = [...new Set(results.map((r) => r.n))];
  const pair = (n: number): { w?: PhaseResult; e?: PhaseResult } => ({
    w: results.find((r) => r.n === n && r.side === 'worker'),
    e: results.find((r) => r.n === n && r.side === 'engine'),
  });
  lines.push(
    markdownTable(
      [
        'N',
        'worker / engine CPU per stream',
        'worker / engine PSS per stream',
        'real time (worker / engine)',
      ],
      ns.map((n) => {
        const { w, e } = pair(n);
        const ratio = (f: (r: PhaseResult) => number): string =>
          w && e ? `${fixed(f(w) / f(e), 2)}×` : 'n/a';
        return [
          String(n),
          ratio((r) => r.cpuPerStreamMinute),
          ratio((r) => r.pssPerStreamMB),
          `${w ? (w.realTime ? 'yes' : 'no') : '—'} / ${e ? (e.realTime ? 'yes' : 'no') : '—'}`,
        ];
      }),
      new Set([0, 1, 2]),
    ),
    '',
  );
  const workers = results.filter((r) => r.side === 'worker');
  const largest = Math.max(0, ...workers.filter((r) => r.realTime).map((r) => r.n));
  const at = pair(TARGET_REALTIME_N);
  const judged = at.w && at.e ? at : pair(largest);
  const cpuRatio =
    judged.w && judged.e ? judged.w.cpuPerStreamMinute / judged.e.cpuPerStreamMinute : Number.NaN;
  const p99 = at.w ? percentile(at.w.uploadSeconds, 99) : Number.NaN;
  const verdict = (known: boolean, ok: boolean): string => (!known ? 'n/a ' : ok ? 'PASS' : 'MISS');
  lines.push(
    `- ${verdict(workers.length > 0, largest >= TARGET_REALTIME_N)} live recordings with upload in real time on one worker: largest N held ${largest} (target ≥ ${TARGET_REALTIME_N})`,
    `- ${verdict(Number.isFinite(cpuRatio), cpuRatio <= TARGET_FLEET_CPU_RATIO)} fleet layer's CPU per stream over the engine alone at N = ${judged.w?.n ?? 'n/a'}: ${fixed(cpuRatio, 2)}× (target ≤ ${TARGET_FLEET_CPU_RATIO}×)`,
    `- ${verdict(Number.isFinite(p99), p99 <= TARGET_UPLOAD_P99_S)} segment → storage p99 at N = ${TARGET_REALTIME_N}: ${secondsText(p99)} s (target ≤ ${TARGET_UPLOAD_P99_S} s)`,
  );
  lines.push(
    '',
    'Redis commands per second, worker side (what the worker and the producer client sent, inside scripts included):',
    '',
  );
  for (const r of workers) {
    const all = [...r.redisCommands.values()].reduce((a, b) => a + b, 0);
    const top = [...r.redisCommands]
      .slice(0, 8)
      .map(([name, v]) => `${name} ${fixed(v, 1)}`)
      .join(', ');
    lines.push(
      `- N = ${r.n}: ${fixed(all, 0)}/s, ${fixed(all / r.n, 2)} per recording per second; ${top}; ` +
        `upload attempts retried: ${r.retried}`,
    );
  }
  const failed = results.flatMap((r) => r.failures.map((f) => `${r.side} N=${r.n}: ${f}`));
  if (failed.length > 0) lines.push('', 'Failures (first 10):', ...failed.slice(0, 10).map((f) => `- ${f}`));
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
    const work = await mkdtemp(join(tmpdir(), 'recfleet-worker-bench-'));
    cleanup.dir(work);
    const source =
      flags.source ??
      (await encodeSource(work, { width: 1280, height: 720, videoBitrate: '3M', seconds: 30 }, cleanup, log));
    const sourceText = describeSource(source);
    log(`source: ${sourceText}`);
    const channels = await startChannels(source, CHANNEL_SERVERS, APP, cleanup);
    const redis = await RedisServer.start();
    cleanup.add('redis-server', () => redis.stop());
    const s3rvers: S3rverProcess[] = [];
    for (let k = 0; k < S3RVERS; k++) {
      const data = join(work, `s3rver-${k}`);
      await mkdir(data);
      const s3 = await startS3rver(data);
      cleanup.add(`s3rver ${k}`, async () => s3.stop());
      (await s3rverStore(s3.endpoint, BUCKET)).close();
      // Segments go once the worker has verified them (long after): a long run must not fill the disk.
      cleanup.add(
        `s3rver ${k} sweeper`,
        sweepSegments(join(data, BUCKET), 30_000, (f) => f.includes('.ts._S3rver')),
      );
      s3rvers.push(s3);
    }
    const client = new RecordingClient({ redisUrl: redis.url });
    cleanup.add('recording client', () => client.close());
    const reader = new Redis(redis.url, { maxRetriesPerRequest: null });
    cleanup.add('redis reader', async () => reader.disconnect());
    const fleet: Fleet = {
      source,
      channels,
      redis,
      redisPid: redis.process!.pid!,
      s3rvers,
      client,
      reader,
      work,
      runId: `w${Date.now().toString(36)}`,
    };

    const results: PhaseResult[] = [];
    for (const n of LADDER) {
      for (const side of SIDES) {
        const r = side === 'worker' ? await runWorker(n, fleet, cleanup) : await runEngine(n, fleet, cleanup);
        results.push(r);
        const p = (q: number): string => secondsText(percentile(r.uploadSeconds, q));
        log(
          `${side} N=${n}: ${r.realTime ? 'real time' : 'NOT real time'}, late ${r.late} (max ${fixed(r.maxLateSeconds, 2)} s), ` +
            `segments ${r.segments}/${r.expectedSegments}, ${fixed(r.cpuPerStreamMinute, 3)} CPU s/stream-min, ` +
            `${fixed(r.pssPerStreamMB, 2)} MB PSS/stream, loop p99 ${fixed(r.loopP99Ms, 1)} ms` +
            (side === 'worker' ? `, segment→storage p50/p99 ${p(50)}/${p(99)} s` : '') +
            `; cores ${coresText(r.cores)}; failures ${r.failures.length}`,
        );
        for (const f of r.failures.slice(0, 5)) log(`  failure: ${f}`);
      }
    }
    const m = machineInfo();
    const command = `npm run bench:worker${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const header = [
      `- Command: \`${command}\` (${fixed((Date.now() - began) / 60_000, 1)} min)`,
      `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.ramGiB} GiB RAM, ${m.kernel}; Node ${m.node}`,
      `- Source: ${sourceText}, published to ${CHANNEL_SERVERS} node-media-server processes; ${SEGMENT_S} s segments; ` +
        `uploads to ${S3RVERS} s3rver process(es) on this host (one storage profile each)`,
      `- Per N: one recfleet-worker process; warm-up ≥ ${WARMUP_S} s (until every recording closed a segment), ` +
        `then a ${WINDOW_S} s window; the engine alone at the same N after it`,
      `- Load average (1/5/15 min): ${loadBefore} before, ${loadAverage()} after`,
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
