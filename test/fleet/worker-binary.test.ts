/**
 * `recfleet-worker` as an operator runs it: `--help` and `--version` answer without starting anything
 * (no config, no Redis), `--config FILE` takes YAML, a bad config stops it naming the key (exit 78), a
 * bad flag is a usage error (exit 2) — and pointed at a Redis that does not answer, it says once which
 * Redis and where that URL came from, without a stack trace, serves /healthz (not /readyz) meanwhile,
 * and takes jobs as soon as Redis comes up; an outage later is told once, and only readiness fails.
 */
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, ManagedProcess, RedisServer } from '@recfleet/embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeRun, runNode } from '../src/harness/run-node.js';

const WORKER = dirname(createRequire(import.meta.url).resolve('@recfleet/worker/package.json'));
const MAIN = join(WORKER, 'dist/main.js');

/** Runs the built bin with only PATH and HOME from this environment (nothing configures it). */
function run(args: string[], env: Record<string, string> = {}): Promise<NodeRun> {
  return runNode(MAIN, args, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-worker-bin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('recfleet-worker', () => {
  it('answers --help and -h without a config or Redis, listing its options and variables', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run([flag], { RECFLEET_REDIS_URL: 'redis://127.0.0.1:1' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('Usage: recfleet-worker [--config FILE]');
      expect(r.stdout).toContain('$RECFLEET_CONFIG');
      expect(r.stdout).toContain('worker-config.schema.json');
      expect(r.stdout).toMatch(/RECFLEET_REDIS_URL +redisUrl/);
      expect(r.stdout).toContain('78 invalid config');
      expect(r.ms).toBeLessThan(5000);
    }
  });

  it('answers --version with its package’s version', async () => {
    const { version } = JSON.parse(await readFile(join(WORKER, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(await run(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('refuses an unknown flag or an argument with exit code 2', async () => {
    for (const args of [['--port', '80'], ['serve']]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^recfleet-worker: .*\(run "recfleet-worker --help"\)\n$/);
    }
  });

  it('stops at a bad YAML config naming the key and the file (exit code 78)', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'redisUrl: http://not-redis\nadmission:\n  cpuBudget: 3\n');
    const r = await run(['--config', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(/^ {2}redisUrl: must be a redis/m);
    expect(r.stderr).toMatch(/^ {2}admission\.cpuBudget: /m);
  });

  it('says once which Redis it cannot reach and where that came from, then waits quietly and starts when it answers', async () => {
    const port = await freePort();
    const file = join(dir, 'worker.yaml');
    await writeFile(
      file,
      [
        `redisUrl: redis://127.0.0.1:${port}`,
        `spoolDir: ${join(dir, 'spool')}`,
        'storageProfiles:',
        `  local: { type: local, root: ${join(dir, 'store')} }`,
        'httpPort: 0',
      ].join('\n'),
    );
    const metricsPort = await freePort();
    const worker = new ManagedProcess('worker', process.execPath, [MAIN, '--config', file], {
      env: { ...process.env, RECFLEET_HTTP_PORT: String(metricsPort), RECFLEET_READY_LINE: '1' },
    });
    let redis: RedisServer | undefined;
    try {
      const said = await worker.waitForLine((l) => l.includes('cannot reach Redis'), 10_000);
      expect(said).toContain(`cannot reach Redis at redis://127.0.0.1:${port} (redisUrl in ${file})`);
      expect(said).toContain('ECONNREFUSED');
      // Liveness while Redis is away; not ready.
      const base = `http://127.0.0.1:${metricsPort}`;
      await expect
        .poll(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status)
        .toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      await new Promise((r) => setTimeout(r, 5000));
      const quiet = worker.output().split('\n');
      // One line in 5 s and more: no stack trace, no "connection lost" for a connection never made.
      expect(quiet, worker.output()).toHaveLength(1);
      expect(worker.output()).not.toMatch(/stack|connection lost/i);

      redis = await RedisServer.start({ port });
      await worker.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 20_000);
      expect(worker.output()).toMatch(/connected to Redis at redis:\/\/127\.0\.0\.1:\d+ after \d+ s/);
      await expect.poll(async () => (await fetch(`${base}/readyz`)).status, { timeout: 5000 }).toBe(200);

      // An outage of a Redis it was connected to: told once, not ready meanwhile, still alive.
      const before = worker.output().split('\n').length;
      await redis.stop();
      redis = undefined;
      await expect.poll(async () => (await fetch(`${base}/readyz`)).status, { timeout: 8000 }).toBe(503);
      await new Promise((r) => setTimeout(r, 3000));
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const during = worker
        .output()
        .split('\n')
        .slice(before - 1);
      expect(
        during.filter((l) => l.includes('Redis connection lost')),
        worker.output(),
      ).toHaveLength(1);
      expect(during.join('\n')).not.toContain('stack');
    } finally {
      await worker.stop();
      await redis?.stop();
    }
  }, 60_000);
});
