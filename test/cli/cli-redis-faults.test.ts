/**
 * Faults under the CLI, as users run it (the built `recfleet` in its own process): `watch` rides through
 * a Redis restart (killed, AOF restart on the same port) and a hung Redis (SIGSTOP/SIGCONT) and exits
 * with the recording's outcome; `--max-wait` gives up (exit 5) on a Redis that never returns; every
 * other command exits 5 within 3 s on a hung Redis. The recording's events are written here as a worker
 * writes them (XADD on its events stream, the terminal `uploaded` with its record's final state).
 */
import { RECORDING_EVENT_TYPES, recordingRedisKeys } from '@recfleet/contract';
import { RecordingClient } from '@recfleet/client';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultRedis, type WorkerEvents } from '../api/fault-redis.js';
import { runCliProcess } from './cli-process.js';

const MAIN = fileURLToPath(new URL('../../apps/cli/dist/main.js', import.meta.url));
/** The CLI's bound on a Redis call. */
const BOUND_MS = 3000;

let fault: FaultRedis;
let redisServer: FaultRedis['server'];
let redis: Redis;
let client: RecordingClient;
let worker: WorkerEvents;
/** How long the CLI takes to start and exit with nothing to do (the bounds come on top). */
let startupMs: number;

beforeAll(async () => {
  fault = await FaultRedis.start();
  ({ redis, worker, server: redisServer } = fault);
  client = new RecordingClient({ redisUrl: redisServer.url });
  const startedAt = Date.now();
  await runCliProcess(['--version'], {});
  startupMs = Date.now() - startedAt;
});

afterAll(async () => {
  await client?.close();
  await fault?.stop();
});

let uid = 1;
async function newRecording(): Promise<string> {
  const { recordingId } = await client.start({
    appId: 'cli',
    channel: 'faults',
    uid: uid++,
    sourceUrl: 'rtmp://127.0.0.1:1/cli/faults',
    storage: { profile: 'local' },
  });
  return recordingId;
}

/** The worker's end of a recording: its final state, then the terminal event. */
async function uploaded(recordingId: string, segments: number): Promise<void> {
  const result = {
    recordingId,
    channel: 'faults',
    outcome: 'uploaded',
    stopReason: 'requested',
    storageProfile: 'local',
    playlistKey: `${recordingId}.m3u8`,
    playlistLocation: `file:///tmp/${recordingId}.m3u8`,
    segments,
    durationSeconds: segments,
    bytes: segments * 1000,
  };
  await redis.hset(recordingRedisKeys('recfleet', recordingId).record, {
    state: 'uploaded',
    updatedAt: Date.now(),
    result: JSON.stringify(result),
  });
  await worker.append(recordingId, 'uploaded', {
    segments,
    durationSeconds: segments,
    bytes: segments * 1000,
  });
}

/** `recfleet watch` in its own process; its output as it comes. */
function watch(args: string[]): { out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN, 'watch', ...args, '--redis-url', redisServer.url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { out: () => stdout, err: () => stderr, exit };
}

describe('recfleet watch through Redis faults', () => {
  it('a Redis restart (killed, AOF back on the same port after 6 s): exit 0 with the outcome', async () => {
    const id = await newRecording();
    const w = watch([id]);
    await worker.append(id, 'started');
    await worker.segments(id, 0, 1);
    await expect.poll(w.out, { timeout: 10_000 }).toMatch(/recording .* 1 segments/);
    await redisServer.kill();
    await new Promise((r) => setTimeout(r, 6000));
    await redisServer.restart();
    await worker.segments(id, 1, 1);
    await uploaded(id, 2);
    expect(await w.exit).toBe(0);
    expect(w.out()).toContain(`${id} uploaded: 2.0 s, 2 segments; playlist file:///tmp/${id}.m3u8`);
    expect(w.err()).toMatch(/Redis unavailable since .*waiting for it as long as it takes/);
    expect(w.err()).toMatch(/Redis is back after \d+ s; watching on after event \d+-\d+/);
  });

  it('a hung Redis (SIGSTOP until watch notices, 4 s more, SIGCONT): exit 0 with the outcome, every event shown once', async () => {
    const id = await newRecording();
    const w = watch([id, '--json']);
    await worker.append(id, 'started');
    await worker.segments(id, 0, 1);
    await expect.poll(w.out, { timeout: 10_000 }).toContain('"uploaded_segment"');
    fault.hang();
    try {
      await expect.poll(w.err, { timeout: 10_000 }).toMatch(/Redis unavailable since/);
      await new Promise((r) => setTimeout(r, 4000));
    } finally {
      fault.resume();
    }
    await worker.segments(id, 1, 1);
    await uploaded(id, 2);
    expect(await w.exit).toBe(0);
    const lines = w
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id?: string; type: string; outcome?: string });
    const events = lines.filter((l) => l.type !== 'outcome');
    const stream = await worker.ids(id);
    expect(events.map((e) => e.id)).toEqual(stream);
    expect(lines.at(-1)).toMatchObject({ type: 'outcome', outcome: 'uploaded', exitCode: 0 });
    expect(w.err()).toMatch(/Redis is back after/);
  });

  it('--max-wait: a Redis that never returns ends the watch with exit 5 after that long', async () => {
    const id = await newRecording();
    const w = watch([id, '--max-wait', '2']);
    await worker.append(id, 'started');
    await expect.poll(w.out, { timeout: 10_000 }).toMatch(/recording/);
    await redisServer.kill();
    const lostAt = Date.now();
    try {
      expect(await w.exit).toBe(5);
      // Noticed within the read's bound (a dead Redis at once), then 2 s of patience.
      expect(Date.now() - lostAt).toBeLessThan(2000 + BOUND_MS + 1500);
      expect(w.err()).toMatch(/waiting for it at most 2 s \(--max-wait\)/);
      expect(w.err()).toMatch(/Redis has not answered for 2 s \(--max-wait\)/);
    } finally {
      await redisServer.restart();
    }
    expect((await runCliProcess(['watch', id, '--max-wait', '0'], {})).code).toBe(2);
  });

  it('prints event types it does not know as their type and data, and a failing storage in status', async () => {
    const id = await newRecording();
    await worker.append(id, 'started');
    await worker.append(id, 'a_future_event', { streams: [{ type: 'video', width: 1280, height: 720 }] });
    await redis.hset(
      recordingRedisKeys('recfleet', id).record,
      'storageError',
      JSON.stringify({ code: 'STORAGE_AUTH', since: Date.UTC(2026, 0, 2), message: 'access denied' }),
    );
    const status = await runCliProcess(['status', id, '--redis-url', redisServer.url], {});
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /storage\s+storage failing \(STORAGE_AUTH\) since 2026-01-02T00:00:00\.000Z: access denied/,
    );
    const json = await runCliProcess(['status', id, '--json', '--redis-url', redisServer.url], {});
    expect(JSON.parse(json.stdout)).toMatchObject({
      storageError: { code: 'STORAGE_AUTH', since: Date.UTC(2026, 0, 2), message: 'access denied' },
    });
    expect(RECORDING_EVENT_TYPES).not.toContain('a_future_event');
    const w = watch([id]);
    await uploaded(id, 0);
    expect(await w.exit).toBe(0);
    expect(w.out()).toContain(
      `${id}  a_future_event {"streams":[{"type":"video","width":1280,"height":720}]}`,
    );
  });
});

describe('every other command on a hung Redis', () => {
  it('exits 5 within 3 s (plus the process start): status, list, start, stop, watch', async () => {
    const id = await newRecording();
    fault.hang();
    try {
      const commands = [
        ['status', id],
        ['list'],
        ['stop', id],
        ['watch', id],
        [
          'start',
          '--app-id',
          'cli',
          '--channel',
          'hung',
          '--uid',
          '7',
          '--profile',
          'local',
          '--source-url',
          'rtmp://127.0.0.1:1/cli/hung',
        ],
      ];
      // One at a time: each measured alone, as a user runs it.
      for (const args of commands) {
        const startedAt = Date.now();
        const run = await runCliProcess([...args, '--redis-url', redisServer.url], {});
        const ms = Date.now() - startedAt;
        expect(run.code, args[0]).toBe(5);
        expect(run.stderr.trim().split('\n'), args[0]).toHaveLength(1);
        expect(ms, args[0]).toBeLessThan(BOUND_MS + startupMs + 500);
      }
    } finally {
      fault.resume();
    }
  });

  it('a recording id made of digits is refused naming the flag and the field (exit 2), with or without Redis', async () => {
    for (const url of [redisServer.url, 'redis://127.0.0.1:1']) {
      const run = await runCliProcess(
        [
          'start',
          '--recording-id',
          '123',
          '--app-id',
          'cli',
          '--channel',
          'digits',
          '--uid',
          '1',
          '--profile',
          'local',
          '--redis-url',
          url,
        ],
        {},
      );
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/invalid --recording-id \(recordingId\): must be .*not all digits/);
    }
    expect(await redis.exists(recordingRedisKeys('recfleet', '123').record)).toBe(0);
  });
});
