/**
 * The host install script: its help, its dry runs for both package families, and a real installation
 * into a throwaway root — copy, npm ci, native build, TypeScript build, directories, config — after
 * which the installed worker starts against a private Redis and reports ready.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadApiConfig } from '@recfleet/api';
import { ManagedProcess, RedisServer } from '@recfleet/embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const script = join(root, 'infra/install/install-worker.sh');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'recfleet-install-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function install(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The real installation runs for a minute or two: spawned asynchronously so the test runner stays responsive. */
function installAsync(args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (status) => resolve({ status, out }));
  });
}

describe('install-worker.sh', () => {
  it('explains itself', () => {
    const r = install(['--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--root', '--dry-run', '--os', '--with-api', '--no-packages'])
      expect(r.out).toContain(flag);
    expect(install(['--bogus']).status).toBe(2);
  });

  it('plans apt on Debian/Ubuntu and EPEL + RPM Fusion + dnf on RHEL-family hosts', () => {
    const deb = install(['--dry-run', '--os', 'ubuntu', '--no-enable']);
    expect(deb.status, deb.out).toBe(0);
    expect(deb.out).toMatch(
      /apt-get install -y -qq --no-install-recommends ffmpeg ca-certificates libavformat-dev/,
    );
    expect(deb.out).toContain('useradd --system');
    const rpm = install(['--dry-run', '--os', 'rocky', '--no-enable']);
    expect(rpm.status, rpm.out).toBe(0);
    expect(rpm.out).toContain('epel-release');
    expect(rpm.out).toContain('rpmfusion-free-release');
    expect(rpm.out).toMatch(/dnf install -y ffmpeg ffmpeg-devel gnutls-devel pkgconf-pkg-config gcc-c\+\+/);
    expect(install(['--dry-run', '--os', 'plan9']).status).toBe(1);
  });

  it('--with-api installs the config and a key the API unit runs with, and keeps them', async () => {
    const target = join(tmp, 'api-root');
    const first = install(['--root', target, '--config-only', '--with-api', '--no-enable']);
    expect(first.status, first.out).toBe(0);
    const unit = await readFile(join(target, 'etc/systemd/system/recfleet-api.service'), 'utf8');
    const configPath = /^Environment=RECFLEET_API_CONFIG=(.+)$/m.exec(unit)![1]!;
    const config = join(target, configPath);
    const key = (await readFile(join(target, 'etc/recfleet/api-key'), 'utf8')).trim();
    expect(key).toMatch(/^[0-9a-f]{48}$/);
    expect((await stat(join(target, 'etc/recfleet/api-key'))).mode & 0o777).toBe(0o640);
    // The API's own loader accepts the installed config (its file references moved into the root).
    const text = (await readFile(config, 'utf8')).replaceAll('/etc/recfleet/', `${target}/etc/recfleet/`);
    await writeFile(join(tmp, 'api.yaml'), text);
    const loaded = loadApiConfig({}, join(tmp, 'api.yaml'));
    expect(loaded.apiKeys).toEqual([key]);
    // A second run keeps the key (clients hold it) and the operator's config.
    await writeFile(config, `${await readFile(config, 'utf8')}\n# edited\n`);
    expect(install(['--root', target, '--config-only', '--with-api', '--no-enable']).status).toBe(0);
    expect((await readFile(join(target, 'etc/recfleet/api-key'), 'utf8')).trim()).toBe(key);
    expect(await readFile(config, 'utf8')).toContain('# edited');
    // Without --with-api, no API config or unit.
    const workerOnly = join(tmp, 'worker-root');
    expect(install(['--root', workerOnly, '--config-only', '--no-enable']).status).toBe(0);
    await expect(stat(join(workerOnly, 'etc/recfleet/api.yaml'))).rejects.toThrow();
  });

  it('installs a worker into a throwaway root that then runs', async () => {
    const target = join(tmp, 'root');
    const first = await installAsync(['--root', target, '--no-packages', '--no-enable']);
    expect(first.status, first.out).toBe(0);
    for (const dir of [
      'var/lib/recfleet/spool',
      'var/lib/recfleet/recordings',
      'var/log/recfleet',
      'etc/recfleet',
    ]) {
      expect((await stat(join(target, dir))).isDirectory()).toBe(true);
    }
    expect(
      (
        await stat(join(target, 'opt/recfleet/packages/engine-binding/build/Release/recfleet_recorder.node'))
      ).isFile(),
    ).toBe(true);
    const unit = await readFile(join(target, 'etc/systemd/system/recfleet-worker.service'), 'utf8');
    expect(unit).toContain('ExecStart=/usr/bin/node /opt/recfleet/apps/worker/dist/main.js');

    // Idempotent: a second run keeps the operator's config.
    const conf = join(target, 'etc/recfleet/worker.json');
    const edited = JSON.parse(await readFile(conf, 'utf8'));
    edited.maxRecordings = 7;
    await writeFile(conf, JSON.stringify(edited));
    const second = await installAsync(['--root', target, '--no-packages', '--no-enable']);
    expect(second.status, second.out).toBe(0);
    expect(JSON.parse(await readFile(conf, 'utf8')).maxRecordings).toBe(7);

    // The installed worker starts with the installed config (paths moved into the throwaway root).
    const redis = await RedisServer.start();
    try {
      edited.redisUrl = redis.url;
      edited.spoolDir = join(target, 'var/lib/recfleet/spool');
      edited.storageProfiles = {
        local: { type: 'local', root: join(target, 'var/lib/recfleet/recordings') },
      };
      edited.httpPort = 0;
      await writeFile(conf, JSON.stringify(edited));
      const worker = new ManagedProcess(
        'installed worker',
        process.execPath,
        [join(target, 'opt/recfleet/apps/worker/dist/main.js')],
        {
          env: { ...process.env, RECFLEET_CONFIG: conf, RECFLEET_READY_LINE: '1' },
        },
      );
      try {
        await worker.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 30_000);
      } finally {
        await worker.stop();
      }
    } finally {
      await redis.stop();
    }
  }, 600_000);
});
