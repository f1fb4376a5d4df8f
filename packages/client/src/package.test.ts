import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLIENT_DIR = fileURLToPath(new URL('..', import.meta.url));
const CONTRACT_DIR = fileURLToPath(new URL('../../contract', import.meta.url));

/** What a service that imports the client may pull in: neither servers, dashboards nor storage SDKs. */
const HEAVY = [
  /^fastify$/,
  /^@fastify\//,
  /^@bull-board\//,
  /^@aws-sdk\//,
  /^ali-oss$/,
  /^qiniu$/,
  /^vitest$/,
];

/** Every package the client installs, transitively, read from the installed packages' manifests. */
async function dependencyClosure(): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (dir: string): Promise<void> => {
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    const require = createRequire(join(dir, 'package.json'));
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      if (seen.has(name)) continue;
      seen.add(name);
      let entry: string;
      try {
        entry = require.resolve(`${name}/package.json`);
      } catch {
        continue; // an optional dependency this platform does not install
      }
      await visit(dirname(entry));
    }
  };
  await visit(CLIENT_DIR);
  return seen;
}

describe('the @recfleet/client package', () => {
  let consumer: string;

  beforeAll(async () => {
    // A project of its own that has the packages installed, as a service would.
    consumer = await mkdtemp(join(tmpdir(), 'recfleet-consumer-'));
    await mkdir(join(consumer, 'node_modules', '@recfleet'), { recursive: true });
    await symlink(CLIENT_DIR, join(consumer, 'node_modules', '@recfleet', 'client'));
    await symlink(CONTRACT_DIR, join(consumer, 'node_modules', '@recfleet', 'contract'));
  });
  afterAll(async () => {
    await rm(consumer, { recursive: true, force: true });
  });

  const probe = `
    const names = ['RecordingClient', 'RecordingApiClient', 'verifyWebhookSignature', 'RecordingNotFoundError'];
    const missing = names.filter((n) => typeof client[n] !== 'function');
    const err = new client.RecordingNotFoundError('r1');
    const report = { missing, isRecfleetError: err instanceof contract.RecfleetError, exitCode: err.exitCode,
      scripts: contract.redisScriptSource('renewLock').length > 0 };`;

  it('is required from CommonJS (its own CommonJS build, and the contract’s)', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '-e',
        `const client = require('@recfleet/client'); const contract = require('@recfleet/contract');
         if (!require.resolve('@recfleet/client').includes('/dist/cjs/')) throw new Error('not the CommonJS build');
         ${probe} console.log(JSON.stringify(report));`,
      ],
      { cwd: consumer },
    );
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toEqual({ missing: [], isRecfleetError: true, exitCode: 4, scripts: true });
  });

  it('is imported from ESM', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import * as client from '@recfleet/client'; import * as contract from '@recfleet/contract';
         ${probe} console.log(JSON.stringify(report));`,
      ],
      { cwd: consumer },
    );
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toEqual({ missing: [], isRecfleetError: true, exitCode: 4, scripts: true });
  });

  it('installs no server, dashboard, storage SDK or test framework', async () => {
    const closure = await dependencyClosure();
    expect(closure).toContain('bullmq');
    expect([...closure].filter((name) => HEAVY.some((p) => p.test(name)))).toEqual([]);
  });
});

/** Every package of the repository that is published: the producer side, the worker and what they stand on. */
const PUBLISHED = [
  'packages/contract',
  'packages/client',
  'packages/embedded',
  'packages/engine-binding',
  'packages/storage',
  'apps/cli',
  'apps/api',
  'apps/worker',
  'apps/demo',
];

describe.each(PUBLISHED)('the manifest of %s', (dir) => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const read = async () =>
    JSON.parse(await readFile(join(root, dir, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
      description?: string;
      license?: string;
      repository?: { directory?: string };
      engines?: { node?: string };
      files?: string[];
      exports?: Record<string, unknown>;
      bin?: Record<string, string>;
    };

  it('is publishable: not private, described, licensed, with its repository directory and engines', async () => {
    const m = await read();
    expect(m.name).toMatch(/^@recfleet\/[a-z-]+$/);
    expect(m.private).toBeUndefined();
    expect(m.description?.length).toBeGreaterThan(20);
    expect(m.license).toBe('Apache-2.0');
    expect(m.repository?.directory).toBe(dir);
    expect(m.engines?.node).toBe('>=20.19');
    expect(m.files).toContain('dist');
    await expect(readFile(join(root, dir, 'README.md'), 'utf8')).resolves.toMatch(
      new RegExp(`^# ${m.name}\n`),
    );
  });

  it('exports only built files, each code entry with its types, and bins that exist', async () => {
    const m = await read();
    const targets = (value: unknown): string[] =>
      typeof value === 'string' ? [value] : Object.values(value as Record<string, unknown>).flatMap(targets);
    for (const [entry, value] of Object.entries(m.exports ?? {})) {
      if (entry === './package.json' || entry.startsWith('./schema/')) continue;
      const files = targets(value);
      expect(
        files.some((f) => f.endsWith('.d.ts')),
        `${entry} has types`,
      ).toBe(true);
      for (const f of files) {
        expect(f, entry).toMatch(/^\.\/dist\//);
        await expect(readFile(join(root, dir, f))).resolves.toBeDefined();
      }
    }
    for (const [name, file] of Object.entries(m.bin ?? {})) {
      const text = await readFile(join(root, dir, file), 'utf8');
      expect(text.startsWith('#!/usr/bin/env node\n'), name).toBe(true);
    }
  });
});
