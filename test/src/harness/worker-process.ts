import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ManagedProcess } from '@recfleet/embedded';

export interface WorkerProcessOptions {
  redisUrl: string;
  storageProfiles: Record<string, unknown>;
  spoolDir?: string;
  progressIntervalSeconds?: number;
  extra?: Record<string, unknown>;
  /** Command the worker runs under, e.g. `['ip', 'netns', 'exec', ns]` to put it on another network host. */
  launcher?: string[];
  /** Environment beside this process's, e.g. `HOSTNAME` (the host the worker says it runs on). */
  env?: Record<string, string>;
}

/** Starts `recfleet-worker` as a real process with a config file, and waits until it takes jobs. */
export async function startWorkerProcess(
  options: WorkerProcessOptions,
): Promise<ManagedProcess & { spoolDir: string; httpPort: number | null }> {
  const dir = await mkdtemp(join(tmpdir(), 'recfleet-worker-'));
  const spoolDir = options.spoolDir ?? join(dir, 'spool');
  const configPath = join(dir, 'worker.json');
  await writeFile(
    configPath,
    JSON.stringify({
      redisUrl: options.redisUrl,
      spoolDir,
      storageProfiles: options.storageProfiles,
      progressIntervalSeconds: options.progressIntervalSeconds ?? 1,
      logLevel: 'info',
      ...options.extra,
    }),
  );
  const main = join(dirname(createRequire(import.meta.url).resolve('@recfleet/worker')), 'main.js');
  const argv = [...(options.launcher ?? []), process.execPath, main];
  const proc = new ManagedProcess('worker', argv[0]!, argv.slice(1), {
    env: { ...process.env, ...options.env, RECFLEET_CONFIG: configPath, RECFLEET_READY_LINE: '1' },
  });
  const line = await proc.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 30_000);
  const info = JSON.parse(line.slice(line.indexOf('{')) || '{}') as { httpPort: number | null };
  return Object.assign(proc, { spoolDir, httpPort: info.httpPort });
}
