import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { format, resolveConfig } from 'prettier';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  apiConfigJsonSchema,
  loadApiConfig,
  loadWebhooksConfig,
  webhookSecrets,
  webhooksConfigJsonSchema,
} from './config.js';
import { ConfigError } from './config-file.js';

const KEYS = 'key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb';
const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const OLD_SECRET = `whsec_${Buffer.from('fedcba9876543210fedcba9876543210').toString('base64')}`;
const root = fileURLToPath(new URL('../../../', import.meta.url));

function refusal(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

async function tempFile(name: string, text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'recfleet-api-config-')), name);
  await writeFile(file, text);
  return file;
}

describe('API config', () => {
  it('reads the environment, with defaults', () => {
    const config = loadApiConfig({ RECFLEET_API_KEYS: ` ${KEYS} `, RECFLEET_API_PORT: '0' });
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      keyPrefix: 'recfleet',
      host: '127.0.0.1',
      port: 0,
      apiKeys: ['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb'],
    });
    expect(webhookSecrets(config.webhooks)).toEqual([]);
  });

  it('reads a JSON file named by RECFLEET_API_CONFIG; the environment wins', async () => {
    const file = await tempFile(
      'api.json',
      JSON.stringify({ port: 9000, apiKeys: ['file-key-cccccccccccc'], webhooks: { maxAttempts: 3 } }),
    );
    const config = loadApiConfig({
      RECFLEET_API_CONFIG: file,
      RECFLEET_REDIS_URL: 'redis://redis:6380',
      RECFLEET_WEBHOOK_SECRET: SECRET,
    });
    expect(config).toMatchObject({
      port: 9000,
      redisUrl: 'redis://redis:6380',
      apiKeys: ['file-key-cccccccccccc'],
    });
    expect(config.webhooks).toMatchObject({ secret: SECRET, maxAttempts: 3 });
  });

  it('reads YAML (--config wins over the variable), with $schema and secrets from files', async () => {
    const keyFile = await tempFile('api-key', 'yaml-key-dddddddddddd\n');
    const secretFile = await tempFile('webhook-secret', `${SECRET}\n`);
    const file = await tempFile(
      'api.yaml',
      [
        '$schema: https://recfleet.dev/schema/api-config.schema.json',
        'port: 9001',
        'apiKeys:',
        `  - { file: ${keyFile} }`,
        '  - { env: SECOND_KEY }',
        'webhooks:',
        `  secret: { file: ${secretFile} }`,
        `  previousSecrets: [${OLD_SECRET}]`,
      ].join('\n'),
    );
    const config = loadApiConfig(
      { RECFLEET_API_CONFIG: '/nonexistent.json', SECOND_KEY: 'env-key-eeeeeeeeeeee' },
      file,
    );
    expect(config.port).toBe(9001);
    expect(config.apiKeys).toEqual(['yaml-key-dddddddddddd', 'env-key-eeeeeeeeeeee']);
    expect(webhookSecrets(config.webhooks)).toEqual([SECRET, OLD_SECRET]);
  });

  it('reads the keys and the secret from …_FILE variables', async () => {
    const keys = await tempFile('keys', 'file-key-ffffffffffff\nfile-key-gggggggggggg\n');
    const secret = await tempFile('secret', `${SECRET}\n`);
    const config = loadApiConfig({ RECFLEET_API_KEYS_FILE: keys, RECFLEET_WEBHOOK_SECRET_FILE: secret });
    expect(config.apiKeys).toEqual(['file-key-ffffffffffff', 'file-key-gggggggggggg']);
    expect(config.webhooks.secret).toBe(SECRET);
  });

  it.each([
    [{}, /apiKeys: /],
    [{ RECFLEET_API_KEYS: 'short' }, /apiKeys\.0 \(from RECFLEET_API_KEYS\): must be at least 16 characters/],
    [{ RECFLEET_API_KEYS: KEYS, RECFLEET_API_PORT: 'eighty' }, /port \(from RECFLEET_API_PORT\): /],
    [{ RECFLEET_API_KEYS: KEYS, RECFLEET_API_PORT: '70000' }, /port \(from RECFLEET_API_PORT\): /],
    [
      { RECFLEET_API_KEYS: KEYS, RECFLEET_REDIS_URL: 'http://x' },
      /redisUrl \(from RECFLEET_REDIS_URL\): must be a redis/,
    ],
    [
      { RECFLEET_API_KEYS: KEYS, RECFLEET_WEBHOOK_SECRET: 'tiny' },
      /webhooks\.secret \(from RECFLEET_WEBHOOK_SECRET\): must be whsec_<base64 key> or at least 16/,
    ],
    [
      { RECFLEET_API_KEYS: KEYS, RECFLEET_WEBHOOK_SECRET_FILE: '/nonexistent/tiny' },
      /RECFLEET_WEBHOOK_SECRET_FILE: cannot read secret file \/nonexistent\/tiny/,
    ],
    [{ RECFLEET_API_KEYS: KEYS, RECFLEET_LOG_LEVEL: 'loud' }, /logLevel \(from RECFLEET_LOG_LEVEL\): /],
  ])('names the bad key (%o)', (env, message) => {
    const text = refusal(() => loadApiConfig(env));
    expect(text).toMatch(message);
    expect(text).not.toContain('tiny"');
  });

  it('names unknown keys, unreadable secret files and unparsable files', async () => {
    const file = await tempFile(
      'api.json',
      JSON.stringify({ apiKeys: [{ file: '/nonexistent/key' }], prot: 80, webhooks: { retries: 1 } }),
    );
    const text = refusal(() => loadApiConfig({ RECFLEET_API_CONFIG: file }));
    expect(text).toContain(file);
    expect(text).toMatch(/^ {2}prot: /m);
    expect(text).toMatch(/^ {2}webhooks\.retries: /m);
    expect(text).toMatch(/^ {2}apiKeys\.0: cannot read secret file \/nonexistent\/key/m);
    const yaml = await tempFile('api.yaml', 'apiKeys: [unclosed');
    expect(refusal(() => loadApiConfig({}, yaml))).toMatch(/is not valid YAML/);
  });
});

describe('webhooks config', () => {
  it('needs a secret, and reads the metrics port', () => {
    expect(refusal(() => loadWebhooksConfig({}))).toMatch(/webhooks: /);
    const config = loadWebhooksConfig({ RECFLEET_WEBHOOK_SECRET: SECRET, RECFLEET_METRICS_PORT: '0' });
    expect(config.metrics).toEqual({ host: '127.0.0.1', port: 0 });
    expect(webhookSecrets(config.webhooks)).toEqual([SECRET]);
  });
});

describe('the configs’ JSON Schemas and reference configs', () => {
  const schemas = [
    ['api-config.schema.json', apiConfigJsonSchema, 'api.yaml'],
    ['webhooks-config.schema.json', webhooksConfigJsonSchema, 'webhooks.yaml'],
  ] as const;

  it.each(schemas)(
    'packages/contract/schema/%s is generated from the zod schema (npm run -w @recfleet/api config-schemas)',
    async (name, generate) => {
      const file = join(root, 'packages/contract/schema', name);
      const options = (await resolveConfig(file)) ?? {};
      const text = await format(JSON.stringify(generate(), null, 2), { ...options, parser: 'json' });
      expect(await readFile(file, 'utf8')).toBe(text);
    },
  );

  it.each(schemas)(
    'infra/config/%s: the reference config keeps its schema, and loads',
    async (_name, generate, reference) => {
      const file = join(root, 'infra/config', reference);
      const value = parseYaml(await readFile(file, 'utf8')) as Record<string, unknown>;
      const validate = new Ajv2020({ strict: false }).compile(generate());
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
      expect(value.$schema).toBe(generate().$id);
      // Its secrets are files on the host; here the environment gives them.
      const env = { RECFLEET_API_KEYS: KEYS, RECFLEET_WEBHOOK_SECRET: SECRET };
      const config = reference === 'api.yaml' ? loadApiConfig(env, file) : loadWebhooksConfig(env, file);
      expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
      // Unknown keys are refused by the schema too, as by the process.
      expect(validate({ ...value, prot: 80 })).toBe(false);
    },
  );
});
