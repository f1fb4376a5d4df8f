import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiConfigError, loadApiConfig } from './config.js';

const KEYS = 'key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb';

function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadApiConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ApiConfigError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
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
    expect(config.webhooks.secret).toBeUndefined();
  });

  it('reads a file; the environment wins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'recfleet-api-config-'));
    const file = join(dir, 'api.json');
    await writeFile(
      file,
      JSON.stringify({ port: 9000, apiKeys: ['file-key-cccccccccccc'], webhooks: { maxAttempts: 3 } }),
    );
    const config = loadApiConfig({
      RECFLEET_API_CONFIG: file,
      RECFLEET_REDIS_URL: 'redis://redis:6380',
      RECFLEET_WEBHOOK_SECRET: 'whsec-0123456789abcdef',
    });
    expect(config).toMatchObject({
      port: 9000,
      redisUrl: 'redis://redis:6380',
      apiKeys: ['file-key-cccccccccccc'],
    });
    expect(config.webhooks).toMatchObject({ secret: 'whsec-0123456789abcdef', maxAttempts: 3 });
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
    [{ RECFLEET_API_KEYS: KEYS, RECFLEET_LOG_LEVEL: 'loud' }, /logLevel \(from RECFLEET_LOG_LEVEL\): /],
  ])('names the bad key (%o)', (env, message) => {
    const text = refusal(env);
    expect(text).toMatch(message);
    expect(text).not.toContain('tiny');
  });

  it('names unknown keys of the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'recfleet-api-config-'));
    const file = join(dir, 'api.json');
    await writeFile(
      file,
      JSON.stringify({ apiKeys: ['file-key-cccccccccccc'], prot: 80, webhooks: { retries: 1 } }),
    );
    const text = refusal({ RECFLEET_API_CONFIG: file });
    expect(text).toContain(file);
    expect(text).toMatch(/^ {2}prot: /m);
    expect(text).toMatch(/^ {2}webhooks\.retries: /m);
  });
});
