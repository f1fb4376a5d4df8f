/**
 * Fault: Redis hangs (SIGSTOP: it accepts connections and answers nothing) and Redis dies, under the
 * API process (`recfleet-api`, dashboards on). Every answer comes within its bound — the API's routes
 * and the dashboards 503 within 3 s, /healthz within 1 s saying `not_answering` or `down` — and once
 * Redis is back everything answers again; a start answered 503 during the hang starts when retried.
 */
import { recordingRedisKeys } from '@recfleet/contract';
import { FaultRedis } from './fault-redis.js';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from '../src/harness/api-process.js';

const KEY = 'hung-redis-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
/** The answers' bounds (the API's Redis bound is 2.5 s), with room for the HTTP round trip. */
const ROUTE_BOUND_MS = 3000;
const HEALTH_BOUND_MS = 1000;

let fault: FaultRedis;
let redis: Redis;
let api: Awaited<ReturnType<typeof startApiProcess>>;
let existing: string;

beforeAll(async () => {
  fault = await FaultRedis.start();
  redis = fault.redis;
  api = await startApiProcess({ redisUrl: fault.url, apiKeys: [KEY] });
  const res = await post(startBody('hung-existing'));
  expect(res.status).toBe(201);
  existing = 'hung-existing';
});

afterAll(async () => {
  await api?.stop();
  await fault?.stop();
});

let uid = 1;
function startBody(recordingId: string): Record<string, unknown> {
  return {
    recordingId,
    appId: 'hung',
    channel: 'lobby',
    uid: uid++,
    sourceUrl: 'rtmp://127.0.0.1:1/hung/lobby',
    storage: { profile: 'local' },
  };
}

function post(body: unknown): Promise<Response> {
  return fetch(`${api.baseUrl}/v1/recordings`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** One request, timed; its body read. */
async function timed(
  path: string,
  init: RequestInit = {},
): Promise<{ ms: number; status: number; type: string; body: Record<string, unknown> }> {
  const startedAt = Date.now();
  const res = await fetch(`${api.baseUrl}${path}`, { ...init, headers: { ...auth, ...init.headers } });
  const text = await res.text();
  return {
    ms: Date.now() - startedAt,
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

/** Every route a hung or dead Redis must not hold: [label, path, init]. */
function boundedRequests(): [string, string, RequestInit][] {
  return [
    ['GET /v1/recordings/:id', `/v1/recordings/${existing}`, {}],
    ['GET /v1/recordings', '/v1/recordings?limit=5', {}],
    [
      'POST /v1/recordings',
      '/v1/recordings',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(startBody('hung-during-outage')),
      },
    ],
    ['POST /v1/recordings/:id/stop', `/v1/recordings/${existing}/stop`, { method: 'POST' }],
    ['GET /v1/recordings/:id/events', `/v1/recordings/${existing}/events`, {}],
    ['GET /recordings/api/recordings', '/recordings/api/recordings', {}],
    ['GET /admin/queues/api/queues', '/admin/queues/api/queues?page=1&jobsPerPage=10', {}],
    ['GET /admin/queues/api/redis/stats', '/admin/queues/api/redis/stats', {}],
  ];
}

async function expectBounded(health: 'not_answering' | 'down'): Promise<void> {
  const probe = await timed('/healthz');
  expect(probe.status).toBe(503);
  expect(probe.body).toEqual({ status: 'unavailable', redis: health });
  expect(probe.ms).toBeLessThan(HEALTH_BOUND_MS);
  // All at once, as a busy API gets them: each within its bound.
  const answers = await Promise.all(boundedRequests().map(([, path, init]) => timed(path, init)));
  answers.forEach((a, i) => {
    const label = boundedRequests()[i]![0];
    expect(a.status, label).toBe(503);
    expect(a.ms, label).toBeLessThan(ROUTE_BOUND_MS);
    if (label.startsWith('GET /admin')) {
      expect(a.body, label).toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    } else {
      expect(a.type, label).toContain('application/problem+json');
      expect(a.body, label).toMatchObject({ status: 503, code: 'REDIS_UNAVAILABLE' });
    }
  });
  // A health probe still answers at once while those wait.
  const again = await timed('/healthz');
  expect(again.ms).toBeLessThan(HEALTH_BOUND_MS);
}

async function expectAnswering(): Promise<void> {
  await expect
    .poll(async () => (await timed('/healthz')).body.redis, { timeout: 10_000, interval: 200 })
    .toBe('up');
  expect((await timed(`/v1/recordings/${existing}`)).status).toBe(200);
  expect((await timed('/v1/recordings')).status).toBe(200);
  expect((await timed('/admin/queues/api/redis/stats')).status).toBe(200);
  expect((await timed('/recordings/api/recordings')).status).toBe(200);
}

describe('the API with Redis hung (SIGSTOP)', () => {
  it('answers 503 within 3 s on every route, /healthz within 1 s (not_answering), and recovers', async () => {
    await expectAnswering();
    fault.hang();
    try {
      await expectBounded('not_answering');
      // Hung for longer than the bounds: still bounded, nothing piles up.
      await new Promise((r) => setTimeout(r, 4000));
      await expectBounded('not_answering');
    } finally {
      fault.resume();
    }
    await expectAnswering();
    // The start answered 503 may or may not have reached Redis: retried, it starts (or is found).
    const retried = await post(startBody('hung-during-outage'));
    expect([200, 201]).toContain(retried.status);
    const status = await timed('/v1/recordings/hung-during-outage');
    expect(status.body).toMatchObject({ state: 'queued', jobState: 'waiting' });
  });
});

describe('the API process stopped while Redis is hung', () => {
  it('shuts down on SIGTERM within seconds, webhook dispatcher and dashboards included', async () => {
    const other = await startApiProcess({
      redisUrl: fault.url,
      apiKeys: [KEY],
      webhookSecret: 'whsec-hung-0123456789',
    });
    fault.hang();
    try {
      // Requests under way while it stops.
      const pending = [timed('/v1/recordings'), timed('/admin/queues/api/queues')].map((p) =>
        p.catch(() => undefined),
      );
      await new Promise((r) => setTimeout(r, 1500));
      const stoppingAt = Date.now();
      // SIGKILL after 15 s would make the exit code -1: a clean exit is 0.
      await other.stop('SIGTERM', 15_000);
      expect(Date.now() - stoppingAt).toBeLessThan(8000);
      expect(await other.waitExit()).toBe(0);
      await Promise.all(pending);
    } finally {
      fault.resume();
    }
  });
});

describe('the API with Redis dead', () => {
  it('answers 503 within 3 s, /healthz within 1 s (down), and serves again after the restart', async () => {
    await fault.server.kill();
    try {
      await expectBounded('down');
    } finally {
      await fault.server.restart();
    }
    await expectAnswering();
    expect(await redis.exists(recordingRedisKeys('recfleet', existing).record)).toBe(1);
  });
});
