/**
 * Helpers of the fleet benchmark (`bench/fleet-bench.ts`): statistics, the machine description, a
 * registry of everything the run started (so that an error or Ctrl-C leaves nothing behind), and
 * worker processes started the way an operator starts them (a config file and RECFLEET_CONFIG).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { ManagedProcess } from '@recfleet/embedded';

// ---------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function max(samples: readonly number[]): number {
  return samples.length === 0 ? Number.NaN : Math.max(...samples);
}

export function ms(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value)} ms` : 'n/a';
}

export function seconds(valueMs: number, digits = 2): string {
  return Number.isFinite(valueMs) ? `${(valueMs / 1000).toFixed(digits)} s` : 'n/a';
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a';
}

export const sleep = (delayMs: number): Promise<void> => new Promise((r) => setTimeout(r, delayMs));

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or throws on timeout. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Machine

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  ramGiB: number;
  node: string;
  kernel: string;
}

export function machineInfo(): MachineInfo {
  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {
    kernel = process.platform;
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    kernel,
  };
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

// ---------------------------------------------------------------------------------------------
// Cleanup

/**
 * Everything the run started, stopped in reverse order on exit, on an error and on Ctrl-C. Children
 * run in their own process groups (ManagedProcess), so a terminal's Ctrl-C reaches only us.
 */
export class Cleanup {
  private readonly steps: { name: string; run: () => Promise<unknown> }[] = [];
  private running: Promise<void> | undefined;

  add(name: string, run: () => Promise<unknown>): void {
    this.steps.push({ name, run });
  }

  process(proc: ManagedProcess, graceMs = 5000): ManagedProcess {
    this.add(proc.name, () => proc.stop('SIGTERM', graceMs));
    return proc;
  }

  dir(path: string): string {
    this.add(`rm ${path}`, () => rm(path, { recursive: true, force: true }));
    return path;
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        await step.run().catch((err: unknown) => {
          process.stderr.write(`cleanup: ${step.name}: ${(err as Error).message}\n`);
        });
      }
    })();
    return this.running;
  }

  /** Ctrl-C and SIGTERM stop everything the run started, then exit. */
  onSignals(): void {
    const handler = (signal: NodeJS.Signals): void => {
      process.stderr.write(`\n${signal}: stopping every process this benchmark started…\n`);
      void this.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  }
}

// ---------------------------------------------------------------------------------------------
// Worker processes

export interface FleetWorkerOptions {
  name: string;
  redisUrl: string;
  storageRoot: string;
  spoolDir: string;
  /** Config keys beyond the ones above; everything else stays at the worker's defaults. */
  extra?: Record<string, unknown>;
  /** Environment beyond this process's (secrets the config names with `{ "env": NAME }`). */
  env?: Record<string, string>;
}

/** What startFleetWorker registers: this file's Cleanup, or the engine benchmarks' (engine-support.ts). */
export interface StartedRegistry {
  dir(path: string): unknown;
  process(proc: ManagedProcess): unknown;
}

export type FleetWorker = ManagedProcess & {
  /** Lines of its log (pino JSON, level warn and up) seen so far. */
  warnings: string[];
};

/**
 * Starts `apps/worker` as a real process with a config file (RECFLEET_CONFIG) and waits for its
 * RECFLEET_WORKER_READY line, which it prints once spool recovery is done and it takes jobs.
 */
export async function startFleetWorker(
  o: FleetWorkerOptions,
  cleanup: StartedRegistry,
): Promise<FleetWorker> {
  const dir = await mkdtemp(join(tmpdir(), `recfleet-bench-${o.name}-`));
  cleanup.dir(dir);
  const configPath = join(dir, 'worker.json');
  await writeFile(
    configPath,
    JSON.stringify({
      redisUrl: o.redisUrl,
      spoolDir: o.spoolDir,
      storageProfiles: { local: { type: 'local', root: o.storageRoot } },
      logLevel: 'warn',
      ...o.extra,
    }),
  );
  const main = join(dirname(createRequire(import.meta.url).resolve('@recfleet/worker')), 'main.js');
  const proc = new ManagedProcess(`worker ${o.name}`, process.execPath, [main], {
    env: { ...process.env, ...o.env, RECFLEET_CONFIG: configPath, RECFLEET_READY_LINE: '1' },
  });
  cleanup.process(proc);
  const warnings: string[] = [];
  let buffer = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) warnings.push(line);
  });
  await proc.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 30_000);
  return Object.assign(proc, { warnings });
}
