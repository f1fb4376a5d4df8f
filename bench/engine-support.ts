/**
 * Support of the engine benchmark (`bench/engine-bench.ts`): CPU and memory of processes from /proc,
 * segment lateness, the messages between the driver and the engine child, and the cleanup of every
 * process the run started.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import type { ManagedProcess } from '@recfleet/embedded';

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

/**
 * The channel server child of this process that serves RTMP on `rtmpPort`, and its data directory:
 * ChannelServer keeps its process to itself and hands it its config in the environment
 * (RECFLEET_CHANNEL_SERVER, see @recfleet/embedded's channel-server-config.ts).
 */
export async function channelServerChild(rtmpPort: number): Promise<{ pid: number; dataDir: string }> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const env = (await readFile(`/proc/${entry}/environ`, 'utf8')).split('\0');
      const raw = env.find((e) => e.startsWith('RECFLEET_CHANNEL_SERVER='));
      if (!raw) continue;
      const config = JSON.parse(raw.slice('RECFLEET_CHANNEL_SERVER='.length)) as {
        rtmpPort?: number;
        dataDir?: string;
      };
      if (config.rtmpPort === rtmpPort && config.dataDir)
        return { pid: Number(entry), dataDir: config.dataDir };
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  throw new Error(`no channel server child serves RTMP on port ${rtmpPort}`);
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
  /** Recordings that closed fewer than floor(window / segment) segments in the window. */
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
  const minPerRecording = Math.floor((windowEnd - windowStart) / 1000 / segmentSeconds);
  const result: Lateness = { inWindow: 0, late: 0, maxLateSeconds: 0, shortRecordings: 0 };
  for (const segments of recordings) {
    let media = 0;
    const offsets = segments.map((s) => {
      media += s.durationSeconds;
      return s.closedAt / 1000 - media;
    });
    const best = Math.min(...offsets);
    let count = 0;
    segments.forEach((s, k) => {
      if (s.closedAt < windowStart || s.closedAt > windowEnd) return;
      count++;
      const late = offsets[k]! - best;
      result.maxLateSeconds = Math.max(result.maxLateSeconds, late);
      if (late > limitSeconds) result.late++;
    });
    result.inWindow += count;
    if (count < minPerRecording) result.shortRecordings++;
  }
  return result;
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
