import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { format, resolveConfig } from 'prettier';
import { parse as parseYaml } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  loadWorkerConfig,
  redisUrlOrigin,
  WORKER_CONFIG_SCHEMA_ID,
  workerConfigJsonSchema,
} from './config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('worker config', () => {
  it('has sane defaults with no file', () => {
    const config = loadWorkerConfig({});
    expect(config.maxRecordings).toBe(50);
    expect(config.progressIntervalSeconds).toBe(60);
    expect(config.storageProfiles.local).toEqual({ type: 'local', root: '/var/lib/recfleet/recordings' });
  });

  it('names every bad key, including nested profile fields and misspellings', async () => {
    const file = join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({
        redisUrl: 'http://x',
        maxRecordings: 0,
        storageProfiles: { local: { type: 'local' } },
        spoolDri: '/x',
      }),
    );
    let message = '';
    try {
      loadWorkerConfig({ RECFLEET_CONFIG: file });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain('redisUrl:');
    expect(message).toContain('maxRecordings:');
    expect(message).toContain('storageProfiles.local.root:');
    expect(message).toContain('spoolDri');
  });

  it('lets the environment override the file', async () => {
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ redisUrl: 'redis://a:1' }));
    expect(loadWorkerConfig({ RECFLEET_CONFIG: file, RECFLEET_REDIS_URL: 'redis://b:2' }).redisUrl).toBe(
      'redis://b:2',
    );
  });

  it('reads a YAML file (given or named by RECFLEET_CONFIG) that names its $schema', async () => {
    const file = join(dir, 'worker.yaml');
    await writeFile(
      file,
      [
        `$schema: ${WORKER_CONFIG_SCHEMA_ID}`,
        '# a comment',
        'redisUrl: redis://redis:6379',
        'maxRecordings: 7',
        'storageProfiles:',
        '  archive: { type: local, root: /srv/archive }',
      ].join('\n'),
    );
    for (const config of [loadWorkerConfig({}, file), loadWorkerConfig({ RECFLEET_CONFIG: file })]) {
      expect(config).toMatchObject({ redisUrl: 'redis://redis:6379', maxRecordings: 7 });
      expect(Object.keys(config.storageProfiles)).toEqual(['archive']);
    }
    expect(redisUrlOrigin({}, file)).toBe(`redisUrl in ${file}`);
    expect(redisUrlOrigin({ RECFLEET_REDIS_URL: 'redis://x:1' }, file)).toBe('RECFLEET_REDIS_URL');
    expect(redisUrlOrigin({}, undefined)).toBe('the default redisUrl');
  });

  it('names the variable a bad value came from, and the file', async () => {
    const file = join(dir, 'worker.yml');
    await writeFile(file, 'spoolDir: /x\nlogLevel: loud\n');
    const load = () =>
      loadWorkerConfig({ RECFLEET_MAX_RECORDINGS: 'many', RECFLEET_HTTP_PORT: '70000' }, file);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`invalid worker config (${file})`);
    expect(load).toThrow(/^ {2}maxRecordings \(from RECFLEET_MAX_RECORDINGS\): /m);
    expect(load).toThrow(/^ {2}httpPort \(from RECFLEET_HTTP_PORT\): /m);
    expect(load).toThrow(/^ {2}logLevel: /m);
    await writeFile(file, 'redisUrl: [unclosed\n');
    expect(() => loadWorkerConfig({}, file)).toThrow(`config file ${file} is not valid YAML`);
  });
});

describe('the worker config’s JSON Schema and reference config', () => {
  it('packages/contract/schema/worker-config.schema.json is generated from the zod schema (npm run -w @recfleet/worker config-schema)', async () => {
    const file = join(root, 'packages/contract/schema/worker-config.schema.json');
    const options = (await resolveConfig(file)) ?? {};
    const text = await format(JSON.stringify(workerConfigJsonSchema(), null, 2), {
      ...options,
      parser: 'json',
    });
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('infra/config/worker.yaml keeps its schema, names it, and loads', async () => {
    const file = join(root, 'infra/config/worker.yaml');
    const value = parseYaml(await readFile(file, 'utf8')) as Record<string, unknown>;
    const validate = new Ajv2020({ strict: false }).compile(workerConfigJsonSchema());
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    expect(value.$schema).toBe(WORKER_CONFIG_SCHEMA_ID);
    const config = loadWorkerConfig({}, file);
    expect(config).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', httpPort: 9464 });
    // The schema refuses what the process refuses: an unknown key, a value out of range.
    expect(validate({ ...value, spoolDri: '/x' })).toBe(false);
    expect(validate({ ...value, maxRecordings: 0 })).toBe(false);
  });
});
