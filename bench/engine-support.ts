/**
 * Support of the engine and channels benchmarks (`bench/engine-bench.ts`, `bench/channels-bench.ts`):
 * the pre-encoded source and the channel servers that fan it out, CPU and memory of processes from
 * /proc over a measuring window, segment lateness, the messages between the engine driver and its
 * child, and the cleanup of every process the run started.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdir, readFile, readlink, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChannelServer, ManagedProcess } from '@recfleet/embedded';

// ---------------------------------------------------------------------------------------------
// Driver ⇄ engine child (IPC messages)

export interface ChildConfig {
  /** One source URL per recording (recordings are spread over the channel servers). */
  sourceUrls: string[];
  outputDir: string;
  segmentSeconds: number;
  /** monitorEventLoopDelay resolution. */
  resolutionMs: number;
  /** `new Recorder(options)` of every recording (`--recorder-option`; empty: the defaults). */
  recorderOptions: Record<string, number>;
}

/** One finished segment as the recording's owner saw it: wall-clock close time and media length. */
export interface SegmentClose {
  closedAt: number;
  durationSeconds: number;
}

export interface LoopDelay {
  /** Delay beyond the timer's own resolution, milliseconds. */
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export type DriverToChild =
  | { type: 'config'; config: ChildConfig }
  | { type: 'start' }
  | { type: 'window-start' }
  | { type: 'window-end' }
  | { type: 'stop' };

export type ChildToDriver =
  | { type: 'ready' }
  | { type: 'started'; recordings: number }
  | { type: 'window-started' }
  | {
      type: 'window-ended';
      loopDelay: LoopDelay;
      /** Per recording, in start order. */
      segments: SegmentClose[][];
      failures: string[];
      heapMB: number;
    }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

// ---------------------------------------------------------------------------------------------
// /proc

export const CLK_TCK = ((): number => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

export interface Ticks {
  user: number;
  system: number;
}

/** utime and stime from a /proc/…/stat file, in clock ticks; zero once the process is gone. */
async function statTicks(path: string): Promise<Ticks> {
  try {
    const stat = await readFile(path, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]), system: Number(f[12]) };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** utime and stime summed over processes (all their threads), in clock ticks. */
export async function ticksOf(pids: readonly number[]): Promise<Ticks> {
  const all = await Promise.all(pids.map((pid) => statTicks(`/proc/${pid}/stat`)));
  return all.reduce((s, t) => ({ user: s.user + t.user, system: s.system + t.system }), {
    user: 0,
    system: 0,
  });
}

export const total = (t: Ticks): number => t.user + t.system;

/** CPU ticks of each thread of one process, by thread id. */
export async function threadTicks(pid: number): Promise<Map<string, number>> {
  const byTid = new Map<string, number>();
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  await Promise.all(
    tids.map(async (tid) => {
      byTid.set(tid, total(await statTicks(`/proc/${pid}/task/${tid}/stat`)));
    }),
  );
  return byTid;
}

export interface Pss {
  /** Proportional set size: private pages plus a share of every page mapped by several processes. */
  total: number;
  anon: number;
  file: number;
}

/** PSS of processes summed, in bytes, from /proc/<pid>/smaps_rollup. */
export async function pssOf(pids: readonly number[]): Promise<Pss> {
  const all = await Promise.all(
    pids.map(async (pid): Promise<Pss> => {
      try {
        const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
        const kb = (key: string): number =>
          Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
        return { total: kb('Pss'), anon: kb('Pss_Anon'), file: kb('Pss_File') };
      } catch {
        return { total: 0, anon: 0, file: 0 };
      }
    }),
  );
  return all.reduce((s, p) => ({ total: s.total + p.total, anon: s.anon + p.anon, file: s.file + p.file }), {
    total: 0,
    anon: 0,
    file: 0,
  });
}

/** Machine-wide CPU time from /proc/stat, in ticks: busy (everything but idle and iowait) and total. */
export async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const sum = v.reduce((s, x) => s + x, 0);
  return { busy: sum - v[3]! - v[4]!, total: sum };
}

/** CPU ticks of groups of processes at one moment, with the machine's. */
export interface CpuSample {
  at: number;
  groups: Record<string, Ticks>;
  machine: { busy: number; total: number };
}

export async function sampleCpu(groups: Record<string, readonly number[]>): Promise<CpuSample> {
  const entries = await Promise.all(
    Object.entries(groups).map(async ([name, pids]) => [name, await ticksOf(pids)] as const),
  );
  return { at: Date.now(), groups: Object.fromEntries(entries), machine: await machineTicks() };
}

/** Between two samples: the seconds, the cores each group used, the whole machine's, and the rest. */
export interface CoresUsed {
  seconds: number;
  groups: Record<string, number>;
  /** Ticks of each group (user + system), for per-stream figures. */
  ticks: Record<string, Ticks>;
  machine: number;
  /** Every other process on the machine: machine − every group (other people's work). */
  others: number;
}

export function coresBetween(s0: CpuSample, s1: CpuSample): CoresUsed {
  const seconds = (s1.at - s0.at) / 1000;
  const ticks: Record<string, Ticks> = {};
  const groups: Record<string, number> = {};
  for (const [name, t1] of Object.entries(s1.groups)) {
    const t0 = s0.groups[name] ?? { user: 0, system: 0 };
    ticks[name] = { user: t1.user - t0.user, system: t1.system - t0.system };
    groups[name] = total(ticks[name]) / CLK_TCK / seconds;
  }
  const machine =
    ((s1.machine.busy - s0.machine.busy) / Math.max(1, s1.machine.total - s0.machine.total)) * cpus().length;
  const used = Object.values(groups).reduce((a, b) => a + b, 0);
  return { seconds, groups, ticks, machine, others: Math.max(0, machine - used) };
}

/** A measuring window: samples at both ends, and the mean of three PSS samples taken inside it. */
export interface MeasuredWindow<S> {
  s0: S;
  s1: S;
  windowStart: number;
  windowEnd: number;
  pss: Pss;
}

/**
 * Samples (`sample`, e.g. sampleCpu) at the start, PSS of `pssPids` three times spread over the window,
 * and samples again at its end. `onStart` runs between the first sample and the window's start (the
 * engine child resets its event-loop histogram there).
 */
export async function measureWindow<S>(
  windowSeconds: number,
  pssPids: () => readonly number[],
  sample: () => Promise<S>,
  onStart: () => Promise<void> = () => Promise.resolve(),
): Promise<MeasuredWindow<S>> {
  const s0 = await sample();
  await onStart();
  const windowStart = Date.now();
  const samples: Pss[] = [];
  for (let k = 1; k <= 3; k++) {
    await sleep(Math.max(0, windowStart + (k * windowSeconds * 1000) / 3 - Date.now() - 300));
    samples.push(await pssOf(pssPids()));
  }
  await sleep(Math.max(0, windowStart + windowSeconds * 1000 - Date.now()));
  const windowEnd = Date.now();
  const s1 = await sample();
  const mean = (key: keyof Pss): number => samples.reduce((a, p) => a + p[key], 0) / samples.length;
  return {
    s0,
    s1,
    windowStart,
    windowEnd,
    pss: { total: mean('total'), anon: mean('anon'), file: mean('file') },
  };
}

/** The pids of this process's children. */
async function childPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid)
        pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** The child of this process with a socket listening on TCP `port` (from /proc/net/tcp{,6} and its fds). */
export async function childListeningOn(port: number): Promise<number> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      // sl local_address rem_address st …: state 0A is LISTEN; the inode is field 10.
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && f[9]) inodes.add(`socket:[${f[9]}]`);
    }
  }
  for (const pid of await childPids()) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (inodes.has(target)) return pid;
    }
  }
  throw new Error(`no child process listens on port ${port}`);
}

// ---------------------------------------------------------------------------------------------
// Source and channel servers

export interface SourceSpec {
  width: number;
  height: number;
  /** Video bit rate, e.g. `3M`. */
  videoBitrate: string;
  seconds: number;
}

/**
 * Encodes the looped source once: H.264 with a keyframe every 2 s and never elsewhere (so that every
 * recorder can cut exactly at the segment length) + AAC, 30 fps, in FLV for `-c copy` publishers.
 */
export async function encodeSource(
  dir: string,
  spec: SourceSpec,
  cleanup: Cleanup,
  log: (line: string) => void,
): Promise<string> {
  const out = join(dir, `src-${spec.height}p.flv`);
  log(`encoding the ${spec.seconds} s ${spec.height}p30 source (once)…`);
  const proc = new ManagedProcess('source encoder', 'ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-nostdin', '-y'],
    ...['-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=30`],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-b:v', spec.videoBitrate],
    ...['-g', '60', '-keyint_min', '60', '-sc_threshold', '0'],
    ...['-c:a', 'aac', '-b:a', '128k', '-t', String(spec.seconds), '-f', 'flv', out],
  ]);
  const undo = cleanup.process(proc);
  const code = await proc.waitExit();
  await undo();
  if (code !== 0) throw new Error(`encoding the source failed:\n${proc.output()}`);
  return out;
}

/** `1280x720 30 fps H.264 (GOP 60) + AAC, 3.13 Mbit/s, 30 s file, looped`, from ffprobe. */
export function describeSource(file: string): string {
  try {
    const out = execFileSync(
      'ffprobe',
      [
        ...['-v', 'error', '-select_streams', 'v:0'],
        ...['-show_entries', 'stream=width,height:format=bit_rate,duration', '-of', 'default=nw=1', file],
      ],
      { encoding: 'utf8' },
    );
    const field = (name: string): number => Number(new RegExp(`^${name}=([\\d.]+)`, 'm').exec(out)?.[1]);
    return (
      `${field('width')}x${field('height')} 30 fps H.264 (GOP 60) + AAC, ` +
      `${fixed(field('bit_rate') / 1e6, 2)} Mbit/s, ${fixed(field('duration'), 0)} s file, looped`
    );
  } catch {
    return `${file}, looped`;
  }
}

/**
 * The process of an embedded channel server, handed to the reaper. ChannelServer keeps its process to
 * itself and gives it its config in the environment (secrets), so it is found as the child of this
 * process that listens on the server's RTMP port.
 */
export async function channelServerPid(server: ChannelServer, cleanup: Cleanup): Promise<number> {
  const pid = await childListeningOn(server.port);
  cleanup.watch(pid);
  return pid;
}

/** One channel server with its publisher: where recordings play the source from. */
export interface Channel {
  url: string;
  serverPid: number;
  publisherPid: number;
}

/**
 * Starts `count` channel servers (node-media-server child processes), each with one FFmpeg publisher
 * looping `source` (`-re -stream_loop -1 -c copy`) to `/<app>/src<k>`; recordings are spread over them.
 */
export async function startChannels(
  source: string,
  count: number,
  app: string,
  cleanup: Cleanup,
): Promise<Channel[]> {
  const channels: Channel[] = [];
  for (let k = 0; k < count; k++) {
    const server = await ChannelServer.start();
    cleanup.add(`channel server ${k}`, () => server.stop());
    const serverPid = await channelServerPid(server, cleanup);
    const name = `src${k}`;
    const url = server.rtmpUrl(app, name);
    const publisher = new ManagedProcess(`publisher ${k}`, 'ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-nostdin'],
      ...['-re', '-stream_loop', '-1', '-i', source, '-c', 'copy', '-f', 'flv', url],
    ]);
    cleanup.process(publisher, 3000);
    await server.waitForPublish(app, name);
    channels.push({ url, serverPid, publisherPid: publisher.pid! });
  }
  return channels;
}

/**
 * The engine side's process (bench/engine-bench-child.ts): N native recorders in one Node process, driven
 * over IPC; `request` sends a message and waits for its reply.
 */
export class EngineChild {
  readonly proc: ManagedProcess;
  private readonly inbox: ChildToDriver[] = [];
  private wake: (() => void) | undefined;

  constructor(n: number, env: Record<string, string> = {}) {
    const main = fileURLToPath(new URL('./engine-bench-child.js', import.meta.url));
    this.proc = new ManagedProcess(`engine child (N=${n})`, process.execPath, [main], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
    });
    this.proc.child.on('message', (m: unknown) => {
      this.inbox.push(m as ChildToDriver);
      this.wake?.();
    });
    void this.proc.waitExit().then(() => this.wake?.());
  }

  async request<T extends ChildToDriver['type']>(
    message: DriverToChild,
    reply: T,
    timeoutMs = 60_000,
  ): Promise<Extract<ChildToDriver, { type: T }>> {
    this.proc.child.send(message);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === reply || m.type === 'error');
      if (i >= 0) {
        const m = this.inbox.splice(i, 1)[0]!;
        if (m.type === 'error') throw new Error(`engine child: ${m.message}`);
        return m as Extract<ChildToDriver, { type: T }>;
      }
      if (!this.proc.running) throw new Error(`engine child exited:\n${this.proc.output()}`);
      if (Date.now() > deadline) throw new Error(`engine child did not answer ${message.type} with ${reply}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Real time

export interface Lateness {
  /** Segments that closed inside the window. */
  inWindow: number;
  /** Of those, closed more than `limitSeconds` after their media end would have arrived live. */
  late: number;
  /** Largest lateness (seconds) of a segment in the window. */
  maxLateSeconds: number;
  /**
   * Recordings that went quiet at an edge of the window: no segment closed within one segment length
   * (plus `limitSeconds`) of its start or of its end. Counting segments instead (floor(window / segment)
   * due) misjudges a stream that keeps up: with each close a few hundred ms late or early, a window can
   * hold one segment fewer. A stall inside the window shows as lateness.
   */
  shortRecordings: number;
}

/**
 * Per recording, segment k's arrival offset is close_k − Σ_{j≤k} duration_j (wall clock minus media
 * time). A recording that keeps up has a constant offset; one that falls behind has a growing one.
 * Lateness is the offset minus the smallest offset that recording ever had, so start-up costs (the
 * join, the first keyframe, the channel server's GOP cache) do not count against it.
 */
export function lateness(
  recordings: readonly SegmentClose[][],
  windowStart: number,
  windowEnd: number,
  segmentSeconds: number,
  limitSeconds: number,
): Lateness {
  const edgeMs = (segmentSeconds + limitSeconds) * 1000;
  const result: Lateness = { inWindow: 0, late: 0, maxLateSeconds: 0, shortRecordings: 0 };
  for (const segments of recordings) {
    let media = 0;
    const offsets = segments.map((s) => {
      media += s.durationSeconds;
      return s.closedAt / 1000 - media;
    });
    const best = Math.min(...offsets);
    let count = 0;
    let first = Infinity;
    let last = -Infinity;
    segments.forEach((s, k) => {
      if (s.closedAt < windowStart || s.closedAt > windowEnd) return;
      count++;
      first = Math.min(first, s.closedAt);
      last = Math.max(last, s.closedAt);
      const late = offsets[k]! - best;
      result.maxLateSeconds = Math.max(result.maxLateSeconds, late);
      if (late > limitSeconds) result.late++;
    });
    result.inWindow += count;
    if (first > windowStart + edgeMs || last < windowEnd - edgeMs) result.shortRecordings++;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Judging, shared by the benchmarks

/** A segment is late when it closes more than this long after its media would have arrived live. */
export const LATE_LIMIT_SECONDS = 1;
/** A phase that missed real time is run again when other processes used at least this many cores. */
export const RETRY_OTHERS_CORES = 0.25;

/** A flag's number, or the fallback; anything but a positive (integer) number is refused by name. */
export function positiveFlag(name: string, v: string | undefined, fallback: number, integer = false): number {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`Expected a positive ${integer ? 'integer' : 'number'} for --${name} but received ${v}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Formatting

export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Renders rows as a Markdown table (also readable in a terminal); `right` columns are numbers. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number> = new Set(),
): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2)));
  return [line(header), `|${rule.join('|')}|`, ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Cleanup

/**
 * Kills the listed processes and removes the listed directories if this one dies without cleaning up
 * (SIGKILL, a crash in native code): a separate process that does so when its stdin, a pipe from us,
 * reaches end of file. Children
 * run in their own process groups (ManagedProcess) and nothing else would end them: an ffmpeg
 * recording a live stream runs forever.
 */
class OrphanReaper {
  private readonly proc = spawn(
    process.execPath,
    [
      '-e',
      `const pids = new Set();
       const dirs = new Set();
       let buf = '';
       process.stdin.on('data', (d) => {
         buf += d;
         const lines = buf.split('\\n');
         buf = lines.pop();
         for (const l of lines) {
           if (l === '*') { pids.clear(); dirs.clear(); }
           else if (l.startsWith('-')) pids.delete(l.slice(1));
           else if (l.startsWith('d ')) dirs.add(l.slice(2));
           else pids.add(l);
         }
       });
       process.stdin.on('end', () => {
         for (const p of pids) try { process.kill(Number(p), 'SIGKILL'); } catch {}
         for (const d of dirs) try { require('node:fs').rmSync(d, { recursive: true, force: true }); } catch {}
         process.exit(0);
       });`,
    ],
    { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
  );

  constructor() {
    // Neither keeps this process alive nor fails it when the reaper is gone.
    this.proc.unref();
    this.proc.stdin?.on('error', () => undefined);
    (this.proc.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  watch(pid: number | undefined): void {
    if (pid !== undefined) this.proc.stdin?.write(`${pid}\n`);
  }

  forget(pid: number | undefined): void {
    if (pid !== undefined) this.proc.stdin?.write(`-${pid}\n`);
  }

  removeLater(dir: string): void {
    this.proc.stdin?.write(`d ${dir}\n`);
  }

  /** After an orderly cleanup: everything was stopped and removed, so nothing is left to do. */
  close(): void {
    this.proc.stdin?.end('*\n');
  }
}

/**
 * Everything the run started, undone in reverse order on exit, on an error and on Ctrl-C (children run
 * in their own process groups, so a terminal's Ctrl-C reaches only the driver, which stops them in
 * order). Should the driver itself be killed, the reaper ends the children.
 */
export class Cleanup {
  private readonly steps: { name: string; run: () => Promise<unknown> }[] = [];
  private running: Promise<void> | undefined;
  private readonly reaper = new OrphanReaper();

  add(name: string, run: () => Promise<unknown>): () => Promise<void> {
    const step = { name, run };
    this.steps.push(step);
    // Undo one step now (a phase's processes and directory) and forget it.
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await run();
    };
  }

  /** Hands a process to the reaper; a process started elsewhere (`ChannelServer`) is named by pid. */
  watch(proc: ManagedProcess | number): void {
    if (typeof proc === 'number') {
      this.reaper.watch(proc);
      return;
    }
    this.reaper.watch(proc.pid);
    // A pid may be reused once the process is gone: the reaper must not kill a stranger.
    void proc.waitExit().then(() => this.reaper.forget(proc.pid));
  }

  process(proc: ManagedProcess, graceMs = 5000): () => Promise<void> {
    this.watch(proc);
    return this.add(proc.name, () => proc.stop('SIGTERM', graceMs));
  }

  /** A directory to remove; `orphanOnly` ones are removed by their owner and only the reaper needs them. */
  dir(path: string, orphanOnly = false): () => Promise<void> {
    this.reaper.removeLater(path);
    if (orphanOnly) return () => Promise.resolve();
    return this.add(`rm ${path}`, () => rm(path, { recursive: true, force: true }));
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.splice(0).reverse()) {
        await step.run().catch((err: unknown) => {
          process.stderr.write(`cleanup: ${step.name}: ${(err as Error).message}\n`);
        });
      }
      this.reaper.close();
    })();
    return this.running;
  }

  onSignals(): void {
    const handler = (signal: NodeJS.Signals): void => {
      process.stderr.write(`\n${signal}: stopping every process this benchmark started…\n`);
      void this.run().finally(() =>
        process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15)),
      );
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, handler);
  }
}
