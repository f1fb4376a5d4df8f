/**
 * Storage pipeline benchmark (`npm run bench:storage`).
 *
 * N simulated recordings each close one segment every 2 s against a local s3rver (in a child
 * process). Two kinds of phase run alternately on the same server, schedule, bytes and upload-slot
 * bound:
 *   - pipeline: one RecordingUploader per recording; latency = its `uploaded` event's latencyMs
 *     (from add() to the segment verified in the store and the live playlist rewritten);
 *   - bare:     the same requests without the pipeline: per segment, a PutObject of the segment's
 *     bytes, then PutObjects of exactly the playlists the pipeline put for that segment in the phase
 *     before (same keys, same bytes; the live one and, when it was due, the complete one, sent
 *     together as the pipeline sends them), from the same kind of client through the same slots; no
 *     MD5, no index, no rendering. Latency from the scheduled close to the last of them resolved.
 * Phases alternate (pipeline, bare, pipeline, bare, ...) and the reported row is the median of the
 * repeated phases. The ratios pipeline/bare (latency and the CPU of this process) and PASS/MISS against
 * the targets are printed last.
 *
 * Flags: --recordings 100  --seconds 30  --slots 16[,32,64]  --repeats 2  --segment <file.ts>
 *        --data-dir <dir> (where s3rver keeps objects; default: a temp dir)  --verbose (latency per
 *        5 s window of close time, and the failure messages)
 */
import { createReadStream, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  RecordingUploader,
  UploadSlots,
  recordingObjectKeys,
  type PutBody,
  type S3Storage,
  type StorageAdapter,
} from '@recfleet/storage';
import { makeSegment, s3rverStore, startS3rver, type S3rverProcess } from './storage-support.js';

const SEGMENT_SECONDS = 2;
/** The pipeline's own cost over the same requests made bare: latency p50 and CPU (the issue's target). */
const TARGET_OVERHEAD = 1.3;
const CLOCK_TICKS_PER_SECOND = 100;

const say = (line = ''): void => void process.stdout.write(`${line}\n`);
const warn = (line: string): void => void process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  recordings: number;
  seconds: number;
  slots: number[];
  repeats: number;
  segment: string | undefined;
  dataDir: string | undefined;
  verbose: boolean;
}

function parseOptions(argv: string[]): Options {
  const values = new Map<string, string>();
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    if (arg === '--verbose') {
      verbose = true;
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) values.set(arg.slice(2, eq), arg.slice(eq + 1));
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new Error(`${arg} needs a value`);
      values.set(arg.slice(2), next);
      i++;
    }
  }
  const known = new Set(['recordings', 'seconds', 'slots', 'repeats', 'segment', 'data-dir']);
  for (const key of values.keys()) if (!known.has(key)) throw new Error(`unknown flag --${key}`);
  const positive = (name: string, fallback: number): number => {
    const raw = values.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`);
    return n;
  };
  const slots = (values.get('slots') ?? '16').split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--slots takes positive integers, got ${s}`);
    return n;
  });
  const seconds = positive('seconds', 30);
  if (seconds < SEGMENT_SECONDS) throw new Error(`--seconds must be at least ${SEGMENT_SECONDS}`);
  return {
    recordings: positive('recordings', 100),
    seconds,
    slots,
    repeats: positive('repeats', 2),
    segment: values.get('segment'),
    dataDir: values.get('data-dir'),
    verbose,
  };
}

// ---------------------------------------------------------------------------------------------
// Statistics

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

type Kind = 'pipeline' | 'bare';

interface PhaseResult {
  kind: Kind;
  slots: number;
  repeat: number;
  segments: number;
  failures: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mbPerSecond: number;
  /** Mean ms per segment spent in each part of its path (see `Timings`). */
  parts: { slotWait: number; putSegment: number; head: number; putPlaylist: number; rest: number };
  timerLagP99: number;
  loopDelayP99: number;
  loopDelayMax: number;
  cpuBench: number;
  cpuServer: number;
  /** CPU used meanwhile by every other process on the host (% of one core): noise to watch. */
  cpuOthers: number;
}

/** Request and queue times collected while a phase runs. */
class Timings {
  slotWait: number[] = [];
  putSegment: number[] = [];
  putPlaylist: number[] = [];
  head: number[] = [];
  other: number[] = [];
  recording = true;

  request(command: string, key: string, ms: number): void {
    if (!this.recording) return;
    if (command === 'PutObjectCommand') (key.endsWith('.m3u8') ? this.putPlaylist : this.putSegment).push(ms);
    else if (command === 'HeadObjectCommand') this.head.push(ms);
    else this.other.push(ms);
  }
}

/** The worker's slot bound, timing how long each acquisition waited. */
class TimedSlots extends UploadSlots {
  constructor(
    limit: number,
    private readonly timings: Timings,
  ) {
    super(limit);
  }

  override run<T>(fn: () => Promise<T>): Promise<T> {
    const asked = performance.now();
    return super.run(() => {
      if (this.timings.recording) this.timings.slotWait.push(performance.now() - asked);
      return fn();
    });
  }
}

/** Times every command the client sends (serialisation, signing and the HTTP exchange). */
function instrument(client: S3Client, timings: Timings): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const started = performance.now();
      try {
        return await next(args);
      } finally {
        const key = (args.input as { Key?: unknown }).Key;
        timings.request(
          context.commandName ?? 'unknown',
          typeof key === 'string' ? key : '',
          performance.now() - started,
        );
      }
    },
    { step: 'initialize', name: 'benchTiming' },
  );
}

/** Busy ticks of the whole host (user, nice, system, irq, softirq) from /proc/stat. */
function hostBusyTicks(): number {
  const fields = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]!;
}

function cpuTicksOf(pid: number): number {
  // /proc/<pid>/stat: the command may contain spaces, so split after its closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

// ---------------------------------------------------------------------------------------------
// Setup

interface Env {
  root: string;
  dataDir: string;
  segmentPath: string;
  segmentBytes: number;
  endpoint: string;
  serverPid: number;
  verbose: boolean;
}

let server: S3rverProcess | undefined;
const tempDirs: string[] = [];

function cleanup(): void {
  server?.stop();
  server = undefined;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * The playlists the pipeline put after each segment, by recording and sequence: what the bare phase
 * sends again, byte for byte.
 */
type PlaylistRequests = Map<string, { key: string; data: Buffer }[]>;

/** Records the pipeline's playlist puts (and says after which segment of which recording each came). */
function capturing(store: StorageAdapter, captured: PlaylistRequests, on: () => boolean): StorageAdapter {
  const lastSegment = new Map<string, string>();
  const wrapped: StorageAdapter = Object.create(store) as StorageAdapter;
  wrapped.put = (key: string, body: PutBody) => {
    if (on()) {
      const m = /^(.*)_(\d{6})\.ts$/.exec(key);
      const base = key.replace(/(\.live)?\.m3u8$/, '');
      if (m) lastSegment.set(m[1]!, `${m[1]}/${Number(m[2])}`);
      else if (body.data && lastSegment.has(base)) {
        const at = lastSegment.get(base)!;
        const list = captured.get(at) ?? [];
        list.push({ key, data: body.data });
        captured.set(at, list);
      }
    }
    return store.put(key, body);
  };
  return wrapped;
}

// ---------------------------------------------------------------------------------------------
// One phase

interface Schedule {
  recordings: number;
  perRecording: number;
}

/**
 * Fires `onClose(recording, sequence)` at each segment's close: recording r's first segment closes
 * at r/N of the first period, then one every SEGMENT_SECONDS. Resolves once every close has fired,
 * with the lateness of each timer (ms).
 */
function runSchedule(
  schedule: Schedule,
  onClose: (recording: number, sequence: number) => void,
): Promise<number[]> {
  const periodMs = SEGMENT_SECONDS * 1000;
  const start = performance.now() + 250;
  const total = schedule.recordings * schedule.perRecording;
  const lags: number[] = [];
  return new Promise((resolve) => {
    for (let r = 0; r < schedule.recordings; r++) {
      const offset = (r * periodMs) / schedule.recordings;
      for (let seq = 0; seq < schedule.perRecording; seq++) {
        const at = start + offset + seq * periodMs;
        setTimeout(
          () => {
            lags.push(Math.max(0, performance.now() - at));
            onClose(r, seq);
            if (lags.length === total) resolve(lags);
          },
          Math.max(0, at - performance.now()),
        );
      }
    }
  });
}

let phaseCounter = 0;
/** The playlist requests of the last pipeline phase, which the bare phase after it sends again. */
let lastCapture: PlaylistRequests = new Map();

/** `bench/rec3_bench/7`: how the capture names segment `seq` of recording `r`. */
function segmentRef(r: number, seq: number): string {
  return `${recordingObjectKeys(`rec${r}`, 'bench', 'bench')
    .segmentKey(seq)
    .replace(/_\d{6}\.ts$/, '')}/${seq}`;
}

async function runPhase(
  env: Env,
  kind: Kind,
  slotsLimit: number,
  repeat: number,
  schedule: Schedule,
): Promise<PhaseResult> {
  const bucket = `bench-${++phaseCounter}`;
  const store: S3Storage = await s3rverStore(env.endpoint, bucket);
  const timings = new Timings();
  instrument(store.client, timings);
  const slots = new TimedSlots(slotsLimit, timings);
  const expected = schedule.recordings * schedule.perRecording;
  const latencies: number[] = [];
  let failures = 0;
  let lastDone = 0;
  let firstClose = Number.POSITIVE_INFINITY;
  // Close time of each segment (by recording, sequence) and its latency, for the --verbose timeline.
  const closedAt = new Map<string, number>();
  const timeline: { closedAt: number; latency: number }[] = [];
  const failureMessages = new Map<string, number>();
  const noteFailure = (message: string): void => {
    const short = message.replace(/rec\d+_bench_\d+\.ts|rec\d+_bench\.m3u8/g, '<key>').slice(0, 160);
    failureMessages.set(short, (failureMessages.get(short) ?? 0) + 1);
  };

  // Spool copies are made before the clock starts (hard links: the uploader deletes its file).
  const spool = join(env.root, `spool-${phaseCounter}`);
  mkdirSync(spool);
  const spoolPath = (r: number, seq: number): string => join(spool, `r${r}-${seq}.ts`);
  if (kind === 'pipeline')
    for (let r = 0; r < schedule.recordings; r++)
      for (let seq = 0; seq < schedule.perRecording; seq++) linkSync(env.segmentPath, spoolPath(r, seq));

  const loop = monitorEventLoopDelay({ resolution: 10 });
  const cpuBefore = process.cpuUsage();
  const serverBefore = cpuTicksOf(env.serverPid);
  const hostBefore = hostBusyTicks();
  const wallBefore = performance.now();
  loop.enable();

  let lags: number[];
  if (kind === 'pipeline') {
    const captured: PlaylistRequests = new Map();
    const recorded = capturing(store, captured, () => timings.recording);
    const uploaders: RecordingUploader[] = [];
    let settled = 0;
    let allSettled: () => void = () => {};
    const done = new Promise<void>((resolve) => (allSettled = resolve));
    const settle = (): void => {
      if (++settled === expected) allSettled();
    };
    for (let r = 0; r < schedule.recordings; r++) {
      const uploader = new RecordingUploader(recorded, recordingObjectKeys(`rec${r}`, 'bench', 'bench'), {
        slots,
        attemptTimeoutMs: 60_000,
      });
      uploader.on('uploaded', ({ sequence, latencyMs }) => {
        latencies.push(latencyMs);
        timeline.push({ closedAt: closedAt.get(`${r}/${sequence}`) ?? 0, latency: latencyMs });
        lastDone = performance.now();
        settle();
      });
      uploader.on('uploader_failure', ({ sequence, willRetry, code, message }) => {
        failures += 1;
        noteFailure(`${code}${willRetry ? ' (retried)' : ''}: ${message}`);
        if (!willRetry && sequence >= 0) settle();
      });
      uploaders.push(uploader);
    }
    lags = await runSchedule(schedule, (r, seq) => {
      const now = performance.now();
      firstClose = Math.min(firstClose, now);
      closedAt.set(`${r}/${seq}`, now);
      uploaders[r]!.add({
        sequence: seq,
        filePath: spoolPath(r, seq),
        durationSeconds: SEGMENT_SECONDS,
        bytes: env.segmentBytes,
        discontinuity: false,
      });
    });
    await done;
    // The final playlists are not part of any segment's latency.
    timings.recording = false;
    const outcomes = await Promise.all(uploaders.map((u) => u.finish()));
    const bad = outcomes.filter((o) => o.outcome !== 'uploaded').length;
    if (bad > 0) warn(`  ${bad} recording(s) did not end 'uploaded'`);
    lastCapture = captured;
  } else {
    const puts: Promise<void>[] = [];
    const send = (key: string, body: PutObjectCommand['input']['Body'], length: number, type: string) =>
      slots.run(() =>
        store.client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: length,
            ContentType: type,
          }),
        ),
      );
    lags = await runSchedule(schedule, (r, seq) => {
      const started = performance.now();
      firstClose = Math.min(firstClose, started);
      const key = recordingObjectKeys(`rec${r}`, 'bench', 'bench').segmentKey(seq);
      const playlists = lastCapture.get(segmentRef(r, seq)) ?? [];
      puts.push(
        send(key, createReadStream(env.segmentPath), env.segmentBytes, 'video/mp2t')
          .then(() =>
            Promise.all(
              playlists.map((p) => send(p.key, p.data, p.data.length, 'application/vnd.apple.mpegurl')),
            ),
          )
          .then(
            () => {
              const now = performance.now();
              latencies.push(now - started);
              timeline.push({ closedAt: started, latency: now - started });
              lastDone = now;
            },
            (err: unknown) => {
              failures += 1;
              noteFailure(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
            },
          ),
      );
    });
    await Promise.all(puts);
  }

  loop.disable();
  const wallMs = performance.now() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  const serverTicks = cpuTicksOf(env.serverPid) - serverBefore;
  const hostTicks = hostBusyTicks() - hostBefore;
  store.close();
  rmSync(spool, { recursive: true, force: true });
  rmSync(join(env.dataDir, bucket), { recursive: true, force: true });
  if (env.verbose) printTimeline(kind, slotsLimit, repeat, firstClose, timeline, failureMessages);

  const sorted = [...latencies].sort((a, b) => a - b);
  const n = Math.max(1, latencies.length);
  const slotWait = sum(timings.slotWait) / n;
  const putSegment = sum(timings.putSegment) / n;
  const head = sum(timings.head) / n;
  const putPlaylist = sum(timings.putPlaylist) / n;
  const mean = sum(latencies) / n;
  return {
    kind,
    slots: slotsLimit,
    repeat,
    segments: latencies.length,
    failures,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mbPerSecond: (latencies.length * env.segmentBytes) / 1e6 / ((lastDone - firstClose) / 1000),
    parts: {
      slotWait,
      putSegment,
      head,
      putPlaylist,
      rest: mean - slotWait - putSegment - head - putPlaylist,
    },
    timerLagP99: percentile(
      lags.sort((a, b) => a - b),
      99,
    ),
    loopDelayP99: loop.percentile(99) / 1e6,
    loopDelayMax: loop.max / 1e6,
    cpuBench: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
    cpuServer: ((serverTicks * 1000) / CLOCK_TICKS_PER_SECOND / wallMs) * 100,
    cpuOthers: Math.max(
      0,
      (((hostTicks - serverTicks) * 1000) / CLOCK_TICKS_PER_SECOND / wallMs) * 100 -
        ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const WINDOW_MS = 5000;

function printTimeline(
  kind: Kind,
  slots: number,
  repeat: number,
  start: number,
  timeline: readonly { closedAt: number; latency: number }[],
  failureMessages: ReadonlyMap<string, number>,
): void {
  const windows = new Map<number, number[]>();
  for (const { closedAt, latency } of timeline) {
    const w = Math.floor((closedAt - start) / WINDOW_MS);
    const list = windows.get(w) ?? [];
    list.push(latency);
    windows.set(w, list);
  }
  say(`    ${label(kind)} slots=${slots} run ${repeat}, by close time:`);
  for (const w of [...windows.keys()].sort((a, b) => a - b)) {
    const sorted = windows.get(w)!.sort((a, b) => a - b);
    say(
      `      ${String(w * (WINDOW_MS / 1000)).padStart(3)}–${String((w + 1) * (WINDOW_MS / 1000)).padEnd(3)} s: ` +
        `${String(sorted.length).padStart(4)} segments, p50 ${ms(percentile(sorted, 50)).padStart(5)}, ` +
        `p99 ${ms(percentile(sorted, 99)).padStart(5)}, max ${ms(sorted.at(-1)!).padStart(5)} ms`,
    );
  }
  for (const [message, count] of failureMessages) say(`      ${count} × ${message}`);
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '-');
const label = (kind: Kind): string => (kind === 'pipeline' ? 'recfleet pipeline' : 'same requests, bare');

function medianOf(results: PhaseResult[]): PhaseResult {
  const pick = (f: (r: PhaseResult) => number): number => median(results.map(f));
  const first = results[0]!;
  return {
    kind: first.kind,
    slots: first.slots,
    repeat: 0,
    segments: pick((r) => r.segments),
    failures: pick((r) => r.failures),
    p50: pick((r) => r.p50),
    p95: pick((r) => r.p95),
    p99: pick((r) => r.p99),
    max: pick((r) => r.max),
    mbPerSecond: pick((r) => r.mbPerSecond),
    parts: {
      slotWait: pick((r) => r.parts.slotWait),
      putSegment: pick((r) => r.parts.putSegment),
      head: pick((r) => r.parts.head),
      putPlaylist: pick((r) => r.parts.putPlaylist),
      rest: pick((r) => r.parts.rest),
    },
    timerLagP99: pick((r) => r.timerLagP99),
    loopDelayP99: pick((r) => r.loopDelayP99),
    loopDelayMax: pick((r) => r.loopDelayMax),
    cpuBench: pick((r) => r.cpuBench),
    cpuServer: pick((r) => r.cpuServer),
    cpuOthers: pick((r) => r.cpuOthers),
  };
}

function row(r: PhaseResult, name: string): string {
  return `| ${name} | ${r.slots} | ${r.segments} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.mbPerSecond.toFixed(1)} |`;
}

function report(all: PhaseResult[], options: Options): void {
  say('\nLatency per segment, ms (median of the repeated phases; each run listed below it):\n');
  say('| phase | slots | segments | p50 | p95 | p99 | max | MB/s |');
  say('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const medians = new Map<string, PhaseResult>();
  for (const slots of options.slots)
    for (const kind of ['pipeline', 'bare'] as const) {
      const runs = all.filter((r) => r.slots === slots && r.kind === kind);
      const m = medianOf(runs);
      medians.set(`${kind}/${slots}`, m);
      say(row(m, `**${label(kind)}** (median)`));
      for (const r of runs) say(row(r, `&nbsp;&nbsp;run ${r.repeat}`));
    }

  say(
    `\nPipeline / bare (medians) and targets (p99 ≤ 500 ms; p50 ratio ≤ ${TARGET_OVERHEAD}×; CPU of this process ≤ ${TARGET_OVERHEAD}×):\n`,
  );
  say(
    '| slots | p50 ratio | p95 ratio | p99 ratio | CPU ratio | pipeline p99 | p99 target | p50 target | CPU target |',
  );
  say('| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |');
  for (const slots of options.slots) {
    const a = medians.get(`pipeline/${slots}`)!;
    const b = medians.get(`bare/${slots}`)!;
    const r50 = a.p50 / b.p50;
    const rCpu = a.cpuBench / b.cpuBench;
    const pass = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
    say(
      `| ${slots} | ${r50.toFixed(2)}× | ${(a.p95 / b.p95).toFixed(2)}× | ${(a.p99 / b.p99).toFixed(2)}× | ${rCpu.toFixed(2)}× | ${ms(a.p99)} | ${pass(a.p99 <= 500)} | ${pass(r50 <= TARGET_OVERHEAD)} | ${pass(rCpu <= TARGET_OVERHEAD)} |`,
    );
  }
  say('\nWhere the time goes: mean ms per segment (medians), load and failures:\n');
  say(
    '| phase | slots | slot wait | PUT .ts | HEAD | PUT .m3u8 | rest | timer lag p99 | loop delay p99/max | CPU bench / s3rver / others | failures |',
  );
  say('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const slots of options.slots)
    for (const kind of ['pipeline', 'bare'] as const) {
      const m = medians.get(`${kind}/${slots}`)!;
      const p = m.parts;
      say(
        `| ${label(kind)} | ${slots} | ${p.slotWait.toFixed(1)} | ${p.putSegment.toFixed(1)} | ${p.head.toFixed(1)} | ${p.putPlaylist.toFixed(1)} | ${p.rest.toFixed(1)} | ${m.timerLagP99.toFixed(1)} | ${m.loopDelayP99.toFixed(0)}/${m.loopDelayMax.toFixed(0)} | ${m.cpuBench.toFixed(0)}% / ${m.cpuServer.toFixed(0)}% / ${m.cpuOthers.toFixed(0)}% | ${m.failures} |`,
      );
    }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  // The SDK's notice about future Node versions says nothing about this measurement.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      warn(`\n${signal}: stopping`);
      cleanup();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });

  const root = mkdtempSync(join(tmpdir(), 'recfleet-bench-'));
  tempDirs.push(root);
  let dataDir = join(root, 's3rver');
  if (options.dataDir) {
    dataDir = mkdtempSync(join(options.dataDir, 'recfleet-bench-s3rver-'));
    tempDirs.push(dataDir);
  } else mkdirSync(dataDir);
  const segmentPath =
    options.segment ??
    (await makeSegment(root, {
      width: 1280,
      height: 720,
      fps: 30,
      videoBitrate: '3M',
      seconds: SEGMENT_SECONDS,
    }));
  const segmentBytes = statSync(segmentPath).size;
  server = await startS3rver(dataDir);
  const env: Env = {
    root,
    dataDir,
    segmentPath,
    segmentBytes,
    endpoint: server.endpoint,
    serverPid: server.pid,
    verbose: options.verbose,
  };
  const schedule: Schedule = {
    recordings: options.recordings,
    perRecording: Math.floor(options.seconds / SEGMENT_SECONDS),
  };
  const offered = (options.recordings * segmentBytes) / 1e6 / SEGMENT_SECONDS;
  say(
    `storage bench: ${options.recordings} recordings × ${schedule.perRecording} segments of ${(segmentBytes / 1e6).toFixed(2)} MB ` +
      `every ${SEGMENT_SECONDS} s (offered ${offered.toFixed(1)} MB/s), slots ${options.slots.join(',')}, ` +
      `${options.repeats} × (pipeline, bare); node ${process.version}, ${cpus().length} CPUs, ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  );

  const results: PhaseResult[] = [];
  for (const slots of options.slots)
    for (let repeat = 1; repeat <= options.repeats; repeat++)
      for (const kind of ['pipeline', 'bare'] as const) {
        const r = await runPhase(env, kind, slots, repeat, schedule);
        results.push(r);
        say(
          `  ${label(kind).padEnd(19)} slots=${slots} run ${repeat}: ${r.segments} segments, ` +
            `p50 ${ms(r.p50)} p95 ${ms(r.p95)} p99 ${ms(r.p99)} max ${ms(r.max)} ms, failures ${r.failures}, ` +
            `CPU bench/s3rver/others ${r.cpuBench.toFixed(0)}/${r.cpuServer.toFixed(0)}/${r.cpuOthers.toFixed(0)}%`,
        );
      }
  report(results, options);
}

try {
  await main();
} catch (err) {
  warn(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
} finally {
  cleanup();
}
