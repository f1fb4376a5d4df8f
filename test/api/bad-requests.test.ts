/**
 * The API process under generated bad requests (bad-requests.ts): at least 250 per route, sent byte for
 * byte. Never a 5xx; every refusal is a problem+json body that does not echo the request; every 400
 * names the field (or the part of the request) at fault; nothing a refused request could write is
 * written — Redis holds exactly what it held before, every key and value, so no record and no job —
 * and the API still serves afterwards.
 */
import { RECORDINGS_QUEUE, storageProfilesKey } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from '../src/harness/api-process.js';
import { type BadRequest, badRequests, type Fixture } from './bad-requests.js';
import { rawRequest } from './raw-http.js';

const KEY = 'bad-requests-key-0123456789';
const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

let redisServer: RedisServer;
let redis: Redis;
let api: Awaited<ReturnType<typeof startApiProcess>>;
let fixture: Fixture;

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${api.baseUrl}${path}`, {
    method,
    headers: body === undefined ? { authorization: auth.authorization } : auth,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Every key and value in Redis, as comparable data. */
async function everything(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await redis.keys('*')).sort()) {
    const type = await redis.type(key);
    if (type === 'string') out[key] = await redis.get(key);
    else if (type === 'hash') out[key] = await redis.hgetall(key);
    else if (type === 'set') out[key] = (await redis.smembers(key)).sort();
    else if (type === 'zset') out[key] = await redis.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'list') out[key] = await redis.lrange(key, 0, -1);
    else if (type === 'stream') out[key] = await redis.xrange(key, '-', '+');
    else out[key] = type;
  }
  return out;
}

beforeAll(async () => {
  redisServer = await RedisServer.start();
  redis = new Redis(redisServer.url);
  await redis.sadd(storageProfilesKey('recfleet'), 'local');
  api = await startApiProcess({ redisUrl: redisServer.url, apiKeys: [KEY] });
  const start = async (body: Record<string, unknown>): Promise<string> => {
    const res = await call('POST', '/v1/recordings', {
      appId: 'fuzz',
      channel: 'fixture',
      storage: { profile: 'local' },
      ...body,
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { recordingId: string }).recordingId;
  };
  fixture = {
    key: KEY,
    channelId: await start({ recordingId: 'fuzz-channel', uid: 1 }),
    singleId: await start({
      recordingId: 'fuzz-single',
      uid: 2,
      sourceUrl: 'rtmp://127.0.0.1:1/fuzz/single',
    }),
    endedId: await start({ recordingId: 'fuzz-ended', uid: 3, sourceUrl: 'rtmp://127.0.0.1:1/fuzz/ended' }),
  };
  expect((await call('DELETE', `/v1/recordings/${fixture.endedId}`)).status).toBe(202);
});

afterAll(async () => {
  await api?.stop();
  redis?.disconnect();
  await redisServer?.stop();
});

/** What is wrong with one answer, or undefined when it is a proper refusal. */
function judge(
  c: BadRequest,
  status: number,
  headers: Record<string, string>,
  body: Buffer,
): string | undefined {
  if (status >= 500) return `answered ${status}: ${body.toString('utf8').slice(0, 300)}`;
  if (status < 400) return `accepted (${status}): ${body.toString('utf8').slice(0, 300)}`;
  if (!(headers['content-type'] ?? '').startsWith('application/problem+json')) {
    return `${status} with content type ${headers['content-type']}: ${body.toString('utf8').slice(0, 200)}`;
  }
  if (body.length > 4096) return `a ${body.length}-byte problem (it echoes the request)`;
  let problem: { status?: number; code?: string; errors?: { field: string; rule: string }[] };
  try {
    problem = JSON.parse(body.toString('utf8')) as typeof problem;
  } catch {
    return `a problem that is not JSON: ${body.toString('latin1').slice(0, 200)}`;
  }
  if (problem.status !== status) return `problem status ${problem.status} on a ${status}`;
  if (typeof problem.code !== 'string') return 'a problem without a code';
  if (status === 400) {
    const fields = (problem.errors ?? []).map((e) => e.field);
    if (fields.length === 0) return `a 400 naming no field: ${body.toString('utf8').slice(0, 300)}`;
    if (c.field !== undefined && !fields.some((f) => f === c.field || f.startsWith(`${c.field}.`))) {
      return `a 400 naming ${fields.join(', ')}, not ${c.field}`;
    }
  }
  return undefined;
}

describe('generated bad requests to every route of the API process', () => {
  it('are refused: never a 5xx, problems naming the field, nothing written; the API serves afterwards', async () => {
    const cases = badRequests(fixture);
    const perRoute = new Map<string, number>();
    for (const c of cases) perRoute.set(c.route, (perRoute.get(c.route) ?? 0) + 1);
    for (const [route, count] of perRoute) {
      if (route !== 'other') expect(count, route).toBeGreaterThanOrEqual(250);
    }
    expect(perRoute.size).toBe(8);

    const before = await everything();
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (const c of cases) {
      const res = await rawRequest(api.port, c.request);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const wrong = judge(c, res.status, res.headers, res.body);
      if (wrong) failures.push(`${c.route} — ${c.what}: ${wrong}`);
    }
    expect(failures, `${failures.length} of ${cases.length} not refused properly`).toEqual([]);
    // Refusals of every kind were made (what the generator is for).
    for (const status of [400, 401, 404, 409, 413, 414, 415, 431])
      expect(statuses.get(status), String(status)).toBeGreaterThan(0);

    expect(await everything()).toEqual(before);
    // The queue holds the fixture's two jobs still (the ended one's was removed): no job was added.
    expect(await redis.llen(`recfleet:${RECORDINGS_QUEUE}:wait`)).toBe(2);
    expect(api.running).toBe(true);
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', `/v1/recordings/${fixture.channelId}`)).status).toBe(200);
    const started = await call('POST', '/v1/recordings', {
      appId: 'fuzz',
      channel: 'after',
      uid: 9,
      sourceUrl: 'rtmp://127.0.0.1:1/fuzz/after',
      storage: { profile: 'local' },
    });
    expect(started.status).toBe(201);
    const list = (await (await call('GET', '/v1/recordings?limit=10')).json()) as { recordings: unknown[] };
    expect(list.recordings).toHaveLength(4);
  });
});
