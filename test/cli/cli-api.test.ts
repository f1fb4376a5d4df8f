/**
 * `recfleet --api-url` for operators without Redis access: the same commands through the HTTP API, with
 * the same answers and exit codes as through Redis — a recording started, watched to its upload, listed,
 * stopped and cancelled against a real API process and worker; an ended recording refused (6), an unknown
 * one (4), a refused key (7), an API that is not there (5), a bad request (2). Global flags stand before
 * the command as well as after it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManagedProcess } from '@recfleet/embedded';
import { freePort } from '@recfleet/embedded';
import { startApiProcess } from '../src/harness/api-process.js';
import { FleetFixture } from '../src/harness/fleet-fixture.js';
import { type CliRun, runCliProcess, startArgs } from './cli-process.js';

const KEY = 'cli-api-key-0123456789abcdef';
const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);

let fleet: FleetFixture;
let api: ManagedProcess & { baseUrl: string };

/** `recfleet` with the API and its key in the environment, and no Redis URL. */
function viaApi(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCliProcess(args, {
    RECFLEET_API_URL: api.baseUrl,
    RECFLEET_API_KEY: KEY,
    RECFLEET_REDIS_URL: '',
    ...env,
  });
}

function viaRedis(args: readonly string[]): Promise<CliRun> {
  return runCliProcess(args, { RECFLEET_REDIS_URL: fleet.redis.url, RECFLEET_API_URL: '' });
}

beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'cli-api' });
  await fleet.worker('a');
  api = await startApiProcess({ redisUrl: fleet.redis.url, apiKeys: [KEY] });
});
afterAll(async () => {
  await api?.stop();
  await fleet?.stop();
});

describe('recfleet through the HTTP API', () => {
  it('starts, shows, lists, watches and stops a recording; an ended one is refused with 6 as through Redis', async () => {
    const started = await viaApi(startArgs(fleet, 11));
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^rec-/);

    await expect
      .poll(async () => JSON.parse((await viaApi(['status', id, '--json'])).stdout).state, {
        timeout: 20_000 * scale,
      })
      .toBe('recording');
    const listed = await viaApi(['list', '--json', '--channel', fleet.channel]);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { recordingId: string }[]).map((r) => r.recordingId)).toContain(id);

    const watching = viaApi(['watch', id, '--json']);
    await new Promise((r) => setTimeout(r, 2500));
    const stopped = await viaApi(['stop', id]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toContain(`stop requested for ${id}`);
    const watched = await watching;
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; outcome?: string });
    expect(lines.map((l) => l.type)).toEqual(
      expect.arrayContaining(['started', 'segment', 'stopped', 'uploaded']),
    );
    expect(lines.at(-1)).toMatchObject({ type: 'outcome', outcome: 'uploaded' });

    // The same answers through either: the status, and stop/cancel of the ended recording (6).
    const [a, b] = await Promise.all([viaApi(['status', id, '--json']), viaRedis(['status', id, '--json'])]);
    const strip = (text: string) => {
      const { jobState: _job, ...rest } = JSON.parse(text) as Record<string, unknown>;
      return rest;
    };
    expect(strip(a.stdout)).toEqual(strip(b.stdout));
    for (const command of ['stop', 'cancel']) {
      const [throughApi, throughRedis] = [await viaApi([command, id]), await viaRedis([command, id])];
      expect(throughApi.code, throughApi.stderr).toBe(6);
      expect(throughRedis.code, throughRedis.stderr).toBe(6);
      expect(throughApi.stderr).toBe(throughRedis.stderr);
      expect(throughApi.stderr).toContain(`recording ${id} has already ended (state uploaded)`);
    }
  });

  it('cancels a running recording', async () => {
    const started = await viaApi(startArgs(fleet, 12));
    const id = started.stdout.trim();
    await expect
      .poll(async () => JSON.parse((await viaApi(['status', id, '--json'])).stdout).state, {
        timeout: 20_000 * scale,
      })
      .toBe('recording');
    const cancelled = await viaApi(['cancel', id, '--json']);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ recordingId: id, requested: 'cancel' });
    const watched = await viaApi(['watch', id]);
    expect(watched.code).toBe(0);
  });

  it.each([
    [
      'an unknown recording',
      ['status', 'no-such-recording'],
      {},
      4,
      /no recording with id no-such-recording/,
    ],
    [
      'a refused key',
      ['list'],
      { RECFLEET_API_KEY: 'wrong-key-0123456789abcdef' },
      7,
      /API key is not valid/,
    ],
    [
      'a bad start, checked first',
      ['start', '--app-id', 'a'],
      {},
      2,
      /invalid --channel \(channel\): is required/,
    ],
    ['a bad list limit', ['list', '--limit', '0'], {}, 2, /limit/],
    ['no key', ['list'], { RECFLEET_API_KEY: '' }, 2, /needs an API key: set RECFLEET_API_KEY/],
    ['both Redis and the API', ['list', '--redis-url', 'redis://127.0.0.1:1'], {}, 2, /exclude each other/],
  ] as const)(
    'answers %s with the same exit code as through Redis (%#)',
    async (_name, args, env, code, message) => {
      const extra = (args as readonly string[]).includes('--redis-url') ? ['--api-url', api.baseUrl] : [];
      const r = await viaApi([...args, ...extra], env);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(message);
    },
  );

  it('answers 5 within the bound when the API is not there', async () => {
    const began = Date.now();
    const r = await viaApi(['status', 'rec-any'], {
      RECFLEET_API_URL: `http://127.0.0.1:${await freePort()}`,
    });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(
      /the recfleet API at http:\/\/127\.0\.0\.1:\d+ is not reachable \(ECONNREFUSED\)/,
    );
    expect(Date.now() - began).toBeLessThan(8000);
  });

  it('reads the key from RECFLEET_API_KEY_FILE', async () => {
    const file = join(fleet.dir, 'api-key');
    await writeFile(file, `${KEY}\n`);
    const r = await viaApi(['list', '--json'], { RECFLEET_API_KEY: '', RECFLEET_API_KEY_FILE: file });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('global flags before the command', () => {
  it('takes --redis-url, --api-url and --json before the command as after it', async () => {
    const redisFirst = await runCliProcess(
      ['--redis-url', fleet.redis.url, '--json', 'list', '--limit', '1'],
      {
        RECFLEET_REDIS_URL: '',
      },
    );
    expect(redisFirst.code, redisFirst.stderr).toBe(0);
    expect(JSON.parse(redisFirst.stdout)).toHaveLength(1);
    const apiFirst = await runCliProcess([`--api-url=${api.baseUrl}`, 'status', 'no-such-recording'], {
      RECFLEET_API_KEY: KEY,
    });
    expect(apiFirst.code).toBe(4);
    const badUrl = await runCliProcess(['--redis-url', 'http://x', 'status', 'x'], {});
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('--redis-url: ');
  });
});
