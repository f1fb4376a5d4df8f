import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadWorkerConfig } from './config.js';

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
});
