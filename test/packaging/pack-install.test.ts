/**
 * recfleet as a user installs it: every published package packed (`npm pack`), the tarballs installed
 * into an empty project outside the checkout (offline, from the tarballs and npm's cache: see
 * offline-project.ts), and there the client imported from ESM and CommonJS, `npx recfleet --help`, the
 * installed `recfleet-worker` (its native recorder built by its own install script against the system
 * FFmpeg) started against a private Redis, and a few seconds of a live channel recorded with the
 * installed `recfleet` — the playlist then judged by ffprobe.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelServer, ManagedProcess, TestPublisher } from '@recfleet/embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePlaylist, probeDuration } from '../src/harness/media-check.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';
import {
  type PackedPackage,
  packWorkspaces,
  publishedWorkspaces,
  writeOfflineProject,
} from './offline-project.js';

const checkout = new URL('../../', import.meta.url).pathname;
/** What a service that records installs: the slim client, the command, the worker and the API. */
const INSTALLED = ['@recfleet/client', '@recfleet/cli', '@recfleet/worker', '@recfleet/api'];
/** Server-side dependencies a producer service must not get with the slim client. */
const NOT_IN_CLIENT =
  /^(fastify|@fastify\/|@bull-board\/|@aws-sdk\/|ali-oss|qiniu|node-media-server|s3rver|pino)/;

/** The files an `exports` map points at (its values, not its keys; patterns left out). */
function exportTargets(exports: unknown): string[] {
  if (typeof exports === 'string') return exports.includes('*') ? [] : [exports];
  if (exports && typeof exports === 'object') return Object.values(exports).flatMap(exportTargets);
  return [];
}

let project: string;
let packed: PackedPackage[];
let lockPaths: string[];
let install: { status: number | null; out: string; ms: number };

/**
 * The project's environment: nothing of the checkout (no NODE_PATH, no npm workspace settings), npm's
 * cache only. `npm_config_*` variables of a surrounding `npm run` would point npm at the checkout.
 */
function projectEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|NODE_PATH$|INIT_CWD$|RECFLEET_)/i.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

function runIn(cmd: string, args: string[], env = projectEnv()): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd: project, env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** A command run asynchronously (the worker and the channel run in this process meanwhile). */
function runAsync(
  cmd: string,
  args: string[],
  env = projectEnv(),
): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (status) => resolve({ status, out }));
  });
}

beforeAll(async () => {
  // Under the system temp directory: no node_modules of the checkout on any parent path.
  project = await realpath(await mkdtemp(join(tmpdir(), 'recfleet-user-app-')));
  await mkdir(join(project, 'tarballs'));
  packed = packWorkspaces(join(project, 'tarballs'));
  const tarballs = await readdir(join(project, 'tarballs'));
  for (const p of packed) expect(tarballs, p.name).toContain(p.tarball);
  lockPaths = writeOfflineProject(project, packed, INSTALLED);
  const began = Date.now();
  const r = await runAsync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts']);
  install = { ...r, ms: Date.now() - began };
}, 180_000);

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

describe('packages', () => {
  it('every workspace but the tests is published, with files, exports, types and engines', async () => {
    const names = publishedWorkspaces().map((w) => w.name);
    expect(names.sort()).toEqual(
      [
        '@recfleet/api',
        '@recfleet/cli',
        '@recfleet/client',
        '@recfleet/contract',
        '@recfleet/demo',
        '@recfleet/embedded',
        '@recfleet/engine-binding',
        '@recfleet/storage',
        '@recfleet/worker',
      ].sort(),
    );
    for (const p of packed) {
      const manifest = JSON.parse(await readFile(join(checkout, p.dir, 'package.json'), 'utf8')) as {
        files?: string[];
        engines?: { node?: string };
        exports?: Record<string, unknown>;
        types?: string;
        main?: string;
        bin?: Record<string, string>;
        license?: string;
        scripts?: Record<string, string>;
      };
      expect(manifest.files, p.name).toBeDefined();
      // npm pack and npm publish build first: a tarball never carries a stale dist/.
      expect(manifest.scripts?.prepack, p.name).toBe('tsc -b');
      expect(manifest.engines?.node, p.name).toMatch(/^>=20/);
      expect(manifest.license, p.name).toBe('Apache-2.0');
      // Every file an entry point names is in the tarball (a missing one fails only after install).
      const named = [
        manifest.main,
        manifest.types,
        ...Object.values(manifest.bin ?? {}),
        ...exportTargets(manifest.exports),
      ].filter((f): f is string => !!f);
      for (const f of named) expect(p.files, `${p.name}: ${f}`).toContain(f.replace(/^\.\//, ''));
      if (manifest.main) expect(manifest.types, p.name).toBeDefined();
      // No test of ours ships.
      expect(
        p.files.filter((f) => /\.test\.(js|d\.ts)$/.test(f)),
        p.name,
      ).toEqual([]);
    }
  });

  it('the slim client brings no server, dashboard or storage SDK with it', () => {
    const reached = writeOfflineProject(project, packed, ['@recfleet/client']);
    writeOfflineProject(project, packed, INSTALLED); // the project as installed again
    const names = reached.map((p) => p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(names).toContain('bullmq');
    expect(names.filter((n) => NOT_IN_CLIENT.test(n))).toEqual([]);
    expect(lockPaths.some((p) => p.endsWith('node_modules/fastify'))).toBe(true); // the check can see them
  });
});

describe('installed into an empty project, offline', () => {
  it('installs from the tarballs, building the native recorder', async () => {
    expect(install.status, install.out).toBe(0);
    expect(install.out).toContain('recfleet_recorder.node');
    for (const name of INSTALLED) {
      // Copies from the tarballs, not links into the checkout.
      const where = await realpath(join(project, 'node_modules', name));
      expect(where.startsWith(project), `${name} → ${where}`).toBe(true);
    }
    // Built here by the package's install script, not copied from the checkout's build.
    const addon = join(project, 'node_modules/@recfleet/engine-binding/build/Release/recfleet_recorder.node');
    expect(existsSync(addon), addon).toBe(true);
    expect(install.out).not.toContain('not yet covered by allowScripts');
    expect(install.ms).toBeLessThan(90_000);
  });

  it('says which FFmpeg packages to install when the native build cannot find them', () => {
    const script = join(project, 'node_modules/@recfleet/engine-binding/scripts/build-native.mjs');
    // pkg-config looking in an empty directory: what a host without the FFmpeg dev packages answers.
    const r = runIn(
      process.execPath,
      [script],
      projectEnv({ PKG_CONFIG_LIBDIR: project, PKG_CONFIG_PATH: '' }),
    );
    expect(r.status).toBe(1);
    expect(r.out).toContain('apt-get install libavformat-dev libavcodec-dev libavutil-dev');
    expect(r.out).toContain('dnf install ffmpeg ffmpeg-devel');
    expect(r.out).toContain('npm rebuild @recfleet/engine-binding');
  });

  it('imports the client from ESM and from CommonJS', async () => {
    await writeFile(
      join(project, 'esm.mjs'),
      "import { RecordingClient, verifyWebhookSignature } from '@recfleet/client';\n" +
        "console.log(typeof RecordingClient, typeof verifyWebhookSignature, import.meta.resolve('@recfleet/client'));\n",
    );
    await writeFile(
      join(project, 'cjs.cjs'),
      "const { RecordingClient, RecordingApiClient } = require('@recfleet/client');\n" +
        "console.log(typeof RecordingClient, typeof RecordingApiClient, require.resolve('@recfleet/client'));\n",
    );
    const esm = runIn(process.execPath, ['esm.mjs']);
    expect(esm.status, esm.out).toBe(0);
    expect(esm.out.trim()).toBe(
      `function function file://${project}/node_modules/@recfleet/client/dist/index.js`,
    );
    const cjs = runIn(process.execPath, ['cjs.cjs']);
    expect(cjs.status, cjs.out).toBe(0);
    expect(cjs.out.trim()).toBe(
      `function function ${project}/node_modules/@recfleet/client/dist/cjs/index.js`,
    );
  });

  it('has the commands: npx recfleet --help, and the services answer --help and --version', () => {
    const help = runIn('npx', ['--no-install', 'recfleet', '--help']);
    expect(help.status, help.out).toBe(0);
    expect(help.out).toContain('Usage: recfleet');
    for (const bin of ['recfleet-worker', 'recfleet-api', 'recfleet-webhooks']) {
      const version = runIn('npx', ['--no-install', bin, '--version']);
      expect(version.status, `${bin}: ${version.out}`).toBe(0);
      expect(version.out.trim()).toBe('0.1.0');
      expect(runIn('npx', ['--no-install', bin, '--help']).out).toContain('--config');
    }
  });

  describe('records with the installed worker and CLI', () => {
    let redis: TestRedis;
    let channels: ChannelServer;
    let publisher: TestPublisher;
    let worker: ManagedProcess | undefined;

    beforeAll(async () => {
      redis = await startTestRedis();
      channels = await ChannelServer.start();
      publisher = TestPublisher.start({
        url: channels.rtmpUrl('app', 'packed'),
        width: 320,
        height: 180,
        frameRate: 25,
        gop: 25,
      });
      await channels.waitForPublish('app', 'packed');
    });
    afterAll(async () => {
      await worker?.stop('SIGTERM', 10_000);
      await publisher?.stop();
      await channels?.stop();
      await redis?.stop();
    });

    it('records a few seconds of a channel, ended and whole', async () => {
      expect(install.status).toBe(0);
      const storage = join(project, 'recordings');
      await writeFile(
        join(project, 'worker.yaml'),
        [
          `redisUrl: ${redis.url}`,
          `spoolDir: ${join(project, 'spool')}`,
          'storageProfiles:',
          '  local:',
          '    type: local',
          `    root: ${storage}`,
          '',
        ].join('\n'),
      );
      worker = new ManagedProcess(
        'installed-worker',
        join(project, 'node_modules/.bin/recfleet-worker'),
        ['--config', 'worker.yaml'],
        { cwd: project, env: projectEnv({ RECFLEET_READY_LINE: '1' }) },
      );
      await worker.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 30_000);

      const env = projectEnv({ RECFLEET_REDIS_URL: redis.url });
      const start = runIn(
        'npx',
        [
          '--no-install',
          'recfleet',
          'start',
          '--app-id',
          'app',
          '--channel',
          'packed',
          '--uid',
          '1',
          '--profile',
          'local',
          '--segment-seconds',
          '1',
          '--max-duration-seconds',
          '4',
          '--recording-id',
          'packed-1',
          '--source-url',
          channels.rtmpUrl('app', 'packed'),
        ],
        env,
      );
      expect(start.status, start.out).toBe(0);
      expect(start.out.trim()).toBe('packed-1');
      const watch = await runAsync('npx', ['--no-install', 'recfleet', 'watch', 'packed-1'], env);
      expect(watch.status, watch.out).toBe(0);

      const playlist = join(storage, 'packed-1_packed.m3u8');
      const text = await readFile(playlist, 'utf8');
      expect(text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
      const seconds = probeDuration(playlist);
      expect(seconds).toBeGreaterThan(3);
      expect(seconds).toBeLessThan(6);
      expect(decodePlaylist(playlist).errors).toBe('');
    }, 60_000);
  });
});
