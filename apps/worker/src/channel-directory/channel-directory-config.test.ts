import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadWorkerConfig } from '../config.js';
import { openChannelDirectory } from './channel-directory-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-directory-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(channelDirectory: unknown, env: Record<string, string> = {}) {
  const file = join(dir, 'worker.json');
  await writeFile(file, JSON.stringify({ channelDirectory }));
  return loadWorkerConfig({ RECFLEET_CONFIG: file, ...env });
}

function problemOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('worker config: channelDirectory', () => {
  it('defaults to the embedded channel server on its usual ports', () => {
    expect(loadWorkerConfig({}).channelDirectory).toEqual({
      type: 'node-media-server',
      rtmpUrl: 'rtmp://127.0.0.1:1935',
      apiUrl: 'http://127.0.0.1:8000',
      pollIntervalMs: 250,
      unreachableTimeoutMs: 10_000,
    });
    expect(openChannelDirectory(loadWorkerConfig({}).channelDirectory, {}).kind).toBe('node-media-server');
  });

  it('takes the API secret from the environment or a file, resolved at start-up', async () => {
    const config = await load({ type: 'node-media-server', apiSecret: { env: 'NMS_JWT' } }, { NMS_JWT: 'x' });
    expect(config.channelDirectory.apiSecret).toEqual({ env: 'NMS_JWT' });
    await writeFile(join(dir, 'secret'), 'from-file\n');
    await expect(
      load({ type: 'node-media-server', apiSecret: { file: join(dir, 'secret') } }),
    ).resolves.toBeDefined();
  });

  it('names the key of a secret that cannot be resolved, and of every bad field', async () => {
    const file = join(dir, 'worker.json');
    await writeFile(
      file,
      JSON.stringify({ channelDirectory: { type: 'node-media-server', apiSecret: { env: 'NOPE' } } }),
    );
    expect(problemOf(() => loadWorkerConfig({ RECFLEET_CONFIG: file }))).toContain(
      'channelDirectory.apiSecret: environment variable NOPE is not set',
    );
    await writeFile(
      file,
      JSON.stringify({
        channelDirectory: { type: 'node-media-server', rtmpUrl: 'http://x', pollIntervalMs: 1, colour: 1 },
      }),
    );
    const message = problemOf(() => loadWorkerConfig({ RECFLEET_CONFIG: file }));
    expect(message).toContain('channelDirectory.rtmpUrl');
    expect(message).toContain('channelDirectory.pollIntervalMs');
    expect(message).toContain('colour');
    await writeFile(file, JSON.stringify({ channelDirectory: { type: 'janus' } }));
    expect(problemOf(() => loadWorkerConfig({ RECFLEET_CONFIG: file }))).toContain('channelDirectory.type');
  });
});
