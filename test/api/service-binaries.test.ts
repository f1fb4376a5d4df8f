/**
 * `recfleet-api` and `recfleet-webhooks` as an operator runs them: `--help` and `--version` answer
 * without starting anything (no config, no Redis needed), `--config FILE` takes YAML or JSON (secrets
 * from files included), a bad config stops the process naming the key (exit 78), a bad flag is a usage
 * error (exit 2).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBin, startApiProcess } from '../src/harness/api-process.js';
import { type NodeRun, runNode } from '../src/harness/run-node.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';

const KEY = 'binary-key-0123456789abcdef';
const SECRET = `whsec_${Buffer.from('binary-webhook-key-0123456789abc').toString('base64')}`;

/** Runs a bin with only PATH and HOME from this environment (nothing configures it). */
function run(bin: string, args: string[], env: Record<string, string> = {}): Promise<NodeRun> {
  return runNode(bin, args, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env });
}

let dir: string;
let redis: TestRedis;
let version: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-bins-'));
  redis = await startTestRedis();
  version = (
    JSON.parse(await readFile(new URL('../../apps/api/package.json', import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version;
});
afterAll(async () => {
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe.each([
  ['recfleet-api', 'RECFLEET_API_CONFIG', 'api-config.schema.json'],
  ['recfleet-webhooks', 'RECFLEET_WEBHOOKS_CONFIG', 'webhooks-config.schema.json'],
] as const)('%s', (name, variable, schema) => {
  const bin = apiBin(name);

  it('answers --help and -h without a config or Redis, listing its options and variables', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run(bin, [flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(`Usage: ${name} [--config FILE]`);
      expect(r.stdout).toContain(`$${variable}`);
      expect(r.stdout).toContain(schema);
      expect(r.stdout).toMatch(/RECFLEET_WEBHOOK_SECRET_FILE +webhooks\.secret/);
      expect(r.stdout).toContain('78 invalid config');
      expect(r.ms).toBeLessThan(5000);
    }
  });

  it('answers --version', async () => {
    const r = await run(bin, ['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('refuses an unknown flag or an argument with exit code 2', async () => {
    for (const args of [['--port', '80'], ['serve']]) {
      const r = await run(bin, args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^${name}: .*\\(run "${name} --help"\\)\\n$`));
    }
  });

  it('stops at a bad config naming the key and the file (exit code 78)', async () => {
    const file = join(dir, `${name}-bad.yaml`);
    await writeFile(file, 'redisUrl: http://not-redis\nwebhooks:\n  retries: 3\n');
    const r = await run(bin, ['--config', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(/^ {2}redisUrl: must be a redis/m);
    expect(r.stderr).toMatch(/^ {2}webhooks\.retries: /m);
  });
});

describe('recfleet-api --config', () => {
  it('runs on a YAML config whose key and secret are files, and serves', async () => {
    const keyFile = join(dir, 'api-key');
    const secretFile = join(dir, 'webhook-secret');
    await writeFile(keyFile, `${KEY}\n`);
    await writeFile(secretFile, `${SECRET}\n`);
    const file = join(dir, 'api.yaml');
    await writeFile(
      file,
      [
        '$schema: https://recfleet.dev/schema/api-config.schema.json',
        `redisUrl: ${redis.url}`,
        'port: 0',
        'apiKeys:',
        `  - { file: ${keyFile} }`,
        'webhooks:',
        `  secret: { file: ${secretFile} }`,
      ].join('\n'),
    );
    // The config alone: no key or secret in the environment.
    const api = await startApiProcess({ redisUrl: redis.url, apiKeys: [], args: ['--config', file] });
    try {
      const res = await fetch(`${api.baseUrl}/v1/recordings`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      expect(res.status).toBe(200);
      expect(api.output()).not.toContain(KEY);
      expect(api.output()).not.toContain(SECRET);
    } finally {
      await api.stop();
    }
  });
});
