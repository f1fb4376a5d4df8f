import {
  CONTROL_REQUESTS,
  ERROR_CODES,
  MAX_IDLE_SECONDS_RULE,
  RECORDING_EVENT_TYPES,
  RECORDING_STATES,
  RECORDINGS_QUEUE,
  recordingRedisKeys,
  recordingsIndexKey,
  storageProfilesKey,
  STOP_REASONS,
  SUBSCRIPTION_FIELDS,
  type RecordingEvent,
  UID_LIST_MAX,
  UID_RULE,
} from '@recfleet/contract';
import { freePort, RedisServer } from '@recfleet/embedded';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LIST_LIMIT_RULE, RecordingClient } from '@recfleet/client';
import { buildApiServer } from './server.js';

const KEY = 'test-key-0123456789abcdef';
const OTHER_KEY = 'second-key-0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };

let redisServer: RedisServer;
let redis: Redis;
let queue: Queue;
let client: RecordingClient;
let app: FastifyInstance;

beforeAll(async () => {
  redisServer = await RedisServer.start();
  redis = new Redis(redisServer.url);
  queue = new Queue(RECORDINGS_QUEUE, {
    connection: new Redis(redisServer.url, { maxRetriesPerRequest: null }),
    prefix: 'recfleet',
  });
  client = new RecordingClient({ redisUrl: redisServer.url });
  app = buildApiServer({ client, apiKeys: [KEY, OTHER_KEY] });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await client?.close();
  await queue?.close();
  redis?.disconnect();
  await redisServer?.stop();
});

beforeEach(async () => {
  await redis.flushall();
  await redis.sadd(storageProfilesKey('recfleet'), 'local', 'archive');
});

let uid = 100;
function valid(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { appId: 'app1', channel: 'room 1', uid: uid++, storage: { profile: 'local' }, ...extra };
}

async function post(body: unknown, headers: Record<string, string> = auth) {
  return app.inject({
    method: 'POST',
    url: '/v1/recordings',
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Everything a start could have written. */
async function footprint(): Promise<{ indexed: number; jobs: number; records: number }> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  return {
    indexed: await redis.zcard(recordingsIndexKey('recfleet')),
    jobs: Object.values(counts).reduce((a, b) => a + b, 0),
    records: (await redis.keys('recfleet:rec:*')).length,
  };
}

describe('auth', () => {
  it('serves /healthz without a key', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', redis: 'up' });
  });

  it('serves the OpenAPI document, its page for people and /metrics without a key', async () => {
    expect((await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(200);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(
      /^recfleet_api_requests_total\{method="GET",route="\/openapi.json",status="200"\} 1$/m,
    );
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
  });

  it.each([
    ['lower case', `bearer ${KEY}`],
    ['upper case, two spaces', `BEARER  ${KEY}`],
    ['mixed case', `bEaReR ${OTHER_KEY}`],
  ])('takes the Bearer scheme in any case (RFC 9110): %s', async (_name, authorization) => {
    const res = await app.inject({ method: 'GET', url: '/v1/recordings', headers: { authorization } });
    expect(res.statusCode).toBe(200);
  });

  it.each([
    ['missing', {}],
    ['wrong', { authorization: 'Bearer not-the-key-0123456789' }],
    ['a prefix of a valid key', { authorization: `Bearer ${KEY.slice(0, -1)}` }],
    ['malformed: Basic', { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` }],
    ['malformed: no scheme', { authorization: KEY }],
    ['malformed: empty bearer', { authorization: 'Bearer ' }],
    ['malformed: no space after the scheme', { authorization: `Bearer${KEY}` }],
    ['malformed: two tokens', { authorization: `Bearer ${KEY} ${KEY}` }],
  ])('refuses a %s key with 401 and changes nothing', async (_name, headers) => {
    const before = await footprint();
    const routes = [
      () => post(valid({ recordingId: 'unauth-1' }), headers),
      () => app.inject({ method: 'GET', url: '/v1/recordings', headers }),
      () => app.inject({ method: 'GET', url: '/v1/recordings/unauth-1', headers }),
      () => app.inject({ method: 'POST', url: '/v1/recordings/unauth-1/stop', headers }),
      () => app.inject({ method: 'DELETE', url: '/v1/recordings/unauth-1', headers }),
      () => app.inject({ method: 'GET', url: '/v1/recordings/unauth-1/events', headers }),
      () => app.inject({ method: 'GET', url: '/no-such-route', headers }),
    ];
    for (const route of routes) {
      const res = await route();
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json()).toMatchObject({
        status: 401,
        code: 'UNAUTHORIZED',
        type: expect.stringContaining('unauthenticated'),
      });
      expect(res.body).not.toContain(KEY);
    }
    expect(await footprint()).toEqual(before);
  });

  it('accepts every configured key', async () => {
    const res = await post(valid(), { authorization: `Bearer ${OTHER_KEY}` });
    expect(res.statusCode).toBe(201);
  });
});

describe('POST /v1/recordings refuses bad requests, naming the field and the rule', () => {
  const cases: [string, unknown, string][] = [
    ['recordingId with a slash', valid({ recordingId: '../x' }), 'recordingId'],
    ['empty recordingId', valid({ recordingId: '' }), 'recordingId'],
    ['recordingId of 65 characters', valid({ recordingId: 'x'.repeat(65) }), 'recordingId'],
    ['recordingId not a string', valid({ recordingId: 42 }), 'recordingId'],
    ['missing appId', { ...valid(), appId: undefined }, 'appId'],
    ['empty appId', valid({ appId: '' }), 'appId'],
    ['appId with a space', valid({ appId: 'a b' }), 'appId'],
    ['missing channel', { ...valid(), channel: undefined }, 'channel'],
    ['channel with a slash', valid({ channel: 'a/b' }), 'channel'],
    ['channel of 65 bytes', valid({ channel: 'x'.repeat(65) }), 'channel'],
    ['non-ASCII channel', valid({ channel: 'café' }), 'channel'],
    ['channel not a string', valid({ channel: 5 }), 'channel'],
    ['uid 0', valid({ uid: 0 }), 'uid'],
    ['uid 2^32', valid({ uid: 2 ** 32 }), 'uid'],
    ['fractional uid', valid({ uid: 1.5 }), 'uid'],
    ['uid as a string', valid({ uid: '7' }), 'uid'],
    ['token over 2048', valid({ token: 't'.repeat(2049) }), 'token'],
    ['sourceUrl of an unknown scheme', valid({ sourceUrl: 'gopher://x/y' }), 'sourceUrl'],
    ['segmentSeconds 0', valid({ recordingConfig: { segmentSeconds: 0 } }), 'recordingConfig.segmentSeconds'],
    [
      'segmentSeconds 61',
      valid({ recordingConfig: { segmentSeconds: 61 } }),
      'recordingConfig.segmentSeconds',
    ],
    ['maxIdleSeconds 4', valid({ recordingConfig: { maxIdleSeconds: 4 } }), 'recordingConfig.maxIdleSeconds'],
    [
      'fractional maxIdleSeconds',
      valid({ recordingConfig: { maxIdleSeconds: 10.5 } }),
      'recordingConfig.maxIdleSeconds',
    ],
    [
      'unknown streamTypes',
      valid({ recordingConfig: { streamTypes: 'data' } }),
      'recordingConfig.streamTypes',
    ],
    [
      'maxDurationSeconds 0',
      valid({ recordingConfig: { maxDurationSeconds: 0 } }),
      'recordingConfig.maxDurationSeconds',
    ],
    [
      'misspelled recordingConfig option',
      valid({ recordingConfig: { segmentSecs: 4 } }),
      'recordingConfig.segmentSecs',
    ],
    ['recordingConfig not an object', valid({ recordingConfig: 'fast' }), 'recordingConfig'],
    ['missing storage', { ...valid(), storage: undefined }, 'storage'],
    ['malformed storage profile', valid({ storage: { profile: 'Has Space' } }), 'storage.profile'],
    ['storage profile no worker knows', valid({ storage: { profile: 'nowhere' } }), 'storage.profile'],
    [
      'storage prefix escaping',
      valid({ storage: { profile: 'local', prefix: '../escape' } }),
      'storage.prefix',
    ],
    ['absolute storage prefix', valid({ storage: { profile: 'local', prefix: '/abs' } }), 'storage.prefix'],
    ['credentials in storage', valid({ storage: { profile: 'local', secret: 'x' } }), 'storage.secret'],
    ['unknown top-level field', valid({ storageCredentials: { key: 'x' } }), 'storageCredentials'],
    ['callbackUrl of another scheme', valid({ callbackUrl: 'ftp://example.com/hook' }), 'callbackUrl'],
    ['callbackUrl not a URL', valid({ callbackUrl: 'example.com/hook' }), 'callbackUrl'],
    ['callbackUrl over 2048', valid({ callbackUrl: `https://e.com/${'x'.repeat(2048)}` }), 'callbackUrl'],
    ['requestedAt set by the caller', valid({ requestedAt: 1 }), 'requestedAt'],
    ['a JSON array body', '[]', '(body)'],
    ['a JSON string body', '"start"', '(body)'],
    ['a JSON null body', 'null', '(body)'],
    ['a body that is not JSON', '{"appId": ', '(body)'],
  ];

  it.each(cases)('%s → 400 on %s', async (_name, body, field) => {
    const before = await footprint();
    const res = await post(body);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json<{
      type: string;
      title: string;
      status: number;
      detail: string;
      errors: { field: string; rule: string }[];
    }>();
    expect(problem).toMatchObject({
      status: 400,
      type: expect.stringContaining('invalid-argument'),
      code: expect.stringMatching(/^INVALID_(REQUEST|JOB)$/),
      title: expect.any(String),
      detail: expect.any(String),
    });
    expect(problem.errors.map((e) => e.field)).toEqual([field]);
    expect(problem.errors[0]!.rule.length).toBeGreaterThan(0);
    expect(await footprint()).toEqual(before);
  });

  it('names every bad field of one request', async () => {
    const res = await post({
      appId: 'a',
      channel: 'a/b',
      uid: 0,
      recordingConfig: { segmentSeconds: 0.5 },
      storage: { profile: 'nowhere' },
    });
    expect(res.statusCode).toBe(400);
    expect(
      res
        .json<{ errors: { field: string }[] }>()
        .errors.map((e) => e.field)
        .sort(),
    ).toEqual(['channel', 'recordingConfig.segmentSeconds', 'storage.profile', 'uid']);
  });

  it('tells which profiles the fleet knows', async () => {
    const res = await post(valid({ storage: { profile: 'nowhere' } }));
    expect(res.json<{ errors: { rule: string }[] }>().errors[0]!.rule).toMatch(/known: archive, local/);
  });

  it('refuses a body that is not JSON with 415', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/recordings',
      headers: { ...auth, 'content-type': 'text/plain' },
      payload: 'appId=x',
    });
    expect(res.statusCode).toBe(415);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('start, status, list, stop and cancel (no worker: recordings stay queued)', () => {
  it('starts once per recording id', async () => {
    const body = valid({ recordingId: 'same-id' });
    const first = await post(body);
    expect(first.statusCode).toBe(201);
    expect(first.headers.location).toBe('/v1/recordings/same-id');
    expect(first.json()).toEqual({ recordingId: 'same-id', created: true, state: 'queued' });
    const again = await post(body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ recordingId: 'same-id', created: false, state: 'queued' });
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    expect(await redis.xlen(recordingRedisKeys('recfleet', 'same-id').events)).toBe(1);
  });

  it('returns the active recording of the same app, channel and uid instead of starting another', async () => {
    const identity = valid();
    const first = (await post(identity)).json<{ recordingId: string }>();
    const second = await post({ ...identity, recordingId: 'another-id' });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ recordingId: first.recordingId, created: false });
    // Started concurrently: still one recording.
    const racing = valid();
    const answers = await Promise.all([post(racing), post(racing), post(racing)]);
    const ids = new Set(answers.map((r) => r.json<{ recordingId: string }>().recordingId));
    expect(ids.size).toBe(1);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 200, 201]);
    // Once the first is over (cancelled while queued), the identity may record again.
    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/recordings/${first.recordingId}`, headers: auth }))
        .statusCode,
    ).toBe(202);
    const third = await post(identity);
    expect(third.statusCode).toBe(201);
    expect(third.json<{ recordingId: string }>().recordingId).not.toBe(first.recordingId);
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('GET /v1/recordings/:id answers state, events and progress; unknown ids are 404', async () => {
    const { recordingId } = (await post(valid({ callbackUrl: 'https://hooks.example.com/r' }))).json<{
      recordingId: string;
    }>();
    const res = await app.inject({ method: 'GET', url: `/v1/recordings/${recordingId}`, headers: auth });
    expect(res.statusCode).toBe(200);
    const view = res.json<{
      state: string;
      jobState: string;
      events: RecordingEvent[];
      callbackUrl: string;
      channel: string;
    }>();
    expect(view).toMatchObject({
      recordingId,
      state: 'queued',
      jobState: 'waiting',
      channel: 'room 1',
      callbackUrl: 'https://hooks.example.com/r',
      segmentsIndexed: 0,
      eventsTruncated: false,
    });
    // No progress before a worker reports one.
    expect(view).not.toHaveProperty('progress');
    expect(view.events.map((e) => e.type)).toEqual(['queued']);
    for (const url of ['/v1/recordings/nope', '/v1/recordings/..%2Fx']) {
      const missing = await app.inject({ method: 'GET', url, headers: auth });
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({
        status: 404,
        code: 'RECORDING_NOT_FOUND',
        type: expect.stringContaining('not-found'),
      });
    }
  });

  it('GET and list answer storageError while uploads keep failing; an unreadable one is no failure', async () => {
    const failing = (await post(valid())).json<{ recordingId: string }>().recordingId;
    const unreadable = (await post(valid())).json<{ recordingId: string }>().recordingId;
    const since = Date.UTC(2026, 5, 1);
    await redis.hset(
      recordingRedisKeys('recfleet', failing).record,
      'storageError',
      JSON.stringify({
        code: 'STORAGE_AUTH',
        since,
        message: 'denied at https://u:pw-SECRET@s3.example/b?sig=x',
      }),
    );
    await redis.hset(recordingRedisKeys('recfleet', unreadable).record, 'storageError', '["STORAGE_AUTH"]');
    const view = (await app.inject({ method: 'GET', url: `/v1/recordings/${failing}`, headers: auth })).json<{
      storageError: { code: string; since: number; message: string };
    }>();
    expect(view.storageError).toMatchObject({ code: 'STORAGE_AUTH', since });
    expect(view.storageError.message).not.toContain('SECRET');
    const other = (
      await app.inject({ method: 'GET', url: `/v1/recordings/${unreadable}`, headers: auth })
    ).json();
    expect(other).not.toHaveProperty('storageError');
    const page = (await app.inject({ method: 'GET', url: '/v1/recordings', headers: auth })).json<{
      recordings: { recordingId: string; storageError?: unknown }[];
    }>();
    expect(page.recordings.find((r) => r.recordingId === failing)?.storageError).toMatchObject({
      code: 'STORAGE_AUTH',
    });
  });

  it('stop and cancel: 202, then 409 once the recording is over, 404 for unknown ids', async () => {
    const { recordingId } = (await post(valid())).json<{ recordingId: string }>();
    const stop = await app.inject({
      method: 'POST',
      url: `/v1/recordings/${recordingId}/stop`,
      headers: auth,
    });
    expect(stop.statusCode).toBe(202);
    // A queued recording no worker took is removed at once.
    expect(stop.json()).toEqual({ recordingId, requested: 'stop', state: 'failed' });
    const again = await app.inject({ method: 'DELETE', url: `/v1/recordings/${recordingId}`, headers: auth });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({
      status: 409,
      code: 'RECORDING_ENDED',
      type: expect.stringContaining('conflict'),
      detail: `recording ${recordingId} has already ended (state failed); there is nothing to cancel`,
    });
    for (const [method, url] of [
      ['POST', '/v1/recordings/unknown-1/stop'],
      ['DELETE', '/v1/recordings/unknown-1'],
    ] as const) {
      expect((await app.inject({ method, url, headers: auth })).statusCode).toBe(404);
    }
  });

  it('GET /v1/recordings lists newest first, filters and pages', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await post(valid({ appId: i % 2 === 0 ? 'even' : 'odd', channel: `ch${i}` }))).json<{
          recordingId: string;
        }>().recordingId,
      );
    }
    await app.inject({ method: 'DELETE', url: `/v1/recordings/${ids[2]}`, headers: auth });
    const list = async (query: string) => {
      const res = await app.inject({ method: 'GET', url: `/v1/recordings${query}`, headers: auth });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ recordings: { recordingId: string; state: string }[]; nextCursor?: string }>();
    };
    expect((await list('')).recordings.map((r) => r.recordingId)).toEqual([...ids].reverse());
    expect((await list('?appId=even')).recordings.map((r) => r.recordingId)).toEqual([
      ids[4],
      ids[2],
      ids[0],
    ]);
    expect((await list('?channel=ch3')).recordings.map((r) => r.recordingId)).toEqual([ids[3]]);
    expect((await list('?state=failed')).recordings.map((r) => r.recordingId)).toEqual([ids[2]]);
    expect((await list('?state=queued,recording&appId=even')).recordings.map((r) => r.recordingId)).toEqual([
      ids[4],
      ids[0],
    ]);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const p = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...p.recordings.map((r) => r.recordingId));
      cursor = p.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([...ids].reverse());
    for (const [query, field] of [
      ['?state=paused', 'state'],
      ['?limit=0', 'limit'],
      ['?limit=501', 'limit'],
      ['?limit=x', 'limit'],
      ['?cursor=garbage', 'cursor'],
      ['?chanel=ch1', 'chanel'],
    ]) {
      const res = await app.inject({ method: 'GET', url: `/v1/recordings${query}`, headers: auth });
      expect(res.statusCode, query).toBe(400);
      expect(
        res.json<{ errors: { field: string }[] }>().errors.map((e) => e.field),
        query,
      ).toEqual([field]);
    }
  });

  it('pages through recordings created in the same millisecond without losing or repeating any', async () => {
    const index = recordingsIndexKey('recfleet');
    const ids = Array.from({ length: 7 }, (_, i) => `tie-${i}`);
    for (const id of ids) {
      await redis.hset(recordingRedisKeys('recfleet', id).record, {
        recordingId: id,
        state: 'queued',
        appId: 'a',
        channel: 'c',
        uid: 1,
        createdAt: 1000,
      });
      await redis.zadd(index, 1000, id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.list({ limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.recordings.map((r) => r.recordingId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('replays the events of a recording that is over as server-sent events', async () => {
    const { recordingId } = (await post(valid())).json<{ recordingId: string }>();
    await app.inject({ method: 'DELETE', url: `/v1/recordings/${recordingId}`, headers: auth });
    const res = await app.inject({
      method: 'GET',
      url: `/v1/recordings/${recordingId}/events`,
      headers: auth,
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    // Cancelled in the queue: its `fatal_error` (CANCELLED) ends the stream as any failure would.
    expect(res.body).toMatch(
      /^retry: 2000\n\nid: \d+-\d+\nevent: queued\ndata: \{.*"type":"queued".*\}\n\nid: \d+-\d+\nevent: fatal_error\ndata: \{.*"code":"CANCELLED".*\}\n\n$/,
    );
    const missing = await app.inject({ method: 'GET', url: '/v1/recordings/unknown/events', headers: auth });
    expect(missing.statusCode).toBe(404);
  });
});

describe('GET /openapi.json', () => {
  it('serves an OpenAPI 3 document with every route and the contract schema', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json', headers: auth });
    expect(res.statusCode).toBe(200);
    const doc = JSON.parse(res.body) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/livez',
      '/metrics',
      '/openapi.json',
      '/v1/recordings',
      '/v1/recordings/{id}',
      '/v1/recordings/{id}/events',
      '/v1/recordings/{id}/stop',
    ]);
    expect(Object.keys(doc.paths['/v1/recordings']!)).toEqual(['post', 'get']);
    expect(Object.keys(doc.components.schemas.StartRecordingRequest!.properties!)).toEqual(
      expect.arrayContaining(['appId', 'channel', 'uid', 'storage', 'callbackUrl', 'recordingConfig']),
    );
    // Every $ref resolves.
    for (const [, name] of res.body.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      expect(doc.components.schemas[name!], name).toBeDefined();
    }
  });
});

describe('the OpenAPI document is derived from the contract', () => {
  it('lists the vocabulary, the codes and the rules as the contract defines them', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json', headers: auth });
    type Schema = {
      properties: Record<
        string,
        Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> }
      >;
    };
    const doc = res.json<{
      components: { schemas: Record<string, Schema> };
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; schema: Record<string, unknown> }[] }>
      >;
    }>();
    const s = doc.components.schemas;
    expect(s.Recording!.properties.state!.enum).toEqual([...RECORDING_STATES]);
    expect(s.StartRecordingResponse!.properties.state!.enum).toEqual([...RECORDING_STATES]);
    expect(s.ControlResponse!.properties.requested!.enum).toEqual([...CONTROL_REQUESTS]);
    expect(s.RecordingEvent!.properties.type!.enum).toEqual([...RECORDING_EVENT_TYPES]);
    expect(s.Problem!.properties.code!.enum).toEqual(Object.keys(ERROR_CODES));
    expect(s.Recording!.properties.result!.properties!.stopReason!.enum).toEqual([...STOP_REASONS]);
    const idle = s.StartRecordingRequest!.properties.recordingConfig!.properties!.maxIdleSeconds!;
    expect(idle).toMatchObject({
      minimum: MAX_IDLE_SECONDS_RULE.min,
      maximum: MAX_IDLE_SECONDS_RULE.max,
      default: MAX_IDLE_SECONDS_RULE.default,
    });
    // The update: one uid list per subscription field, each with the uid rule and the list limit.
    expect(doc.paths['/v1/recordings/{id}']!.patch).toBeDefined();
    const update = s.UpdateRecordingRequest!;
    expect(Object.keys(update.properties)).toEqual([...SUBSCRIPTION_FIELDS]);
    expect(JSON.stringify(update.properties.subscribeAudioUids)).toContain(`"maxItems":${UID_LIST_MAX}`);
    expect(JSON.stringify(update.properties.subscribeAudioUids)).toContain(`"maximum":${UID_RULE.max}`);
    expect(Object.keys(s.UpdateRecordingResponse!.properties)).toEqual([
      'recordingId',
      'subscriptions',
      'version',
    ]);
    for (const field of ['kind', 'subscriptions', 'subscriptionsVersion', 'manifestKey', 'users']) {
      expect(s.Recording!.properties[field], field).toBeDefined();
    }
    const params = doc.paths['/v1/recordings']!.get!.parameters!;
    expect(params.find((p) => p.name === 'limit')!.schema).toMatchObject({
      minimum: LIST_LIMIT_RULE.min,
      maximum: LIST_LIMIT_RULE.max,
      default: LIST_LIMIT_RULE.default,
    });
    expect(params.find((p) => p.name === 'state')!.schema).toMatchObject({
      items: { enum: [...RECORDING_STATES] },
    });
  });
});

describe('Redis unavailable', () => {
  it('answers 503 problems (REDIS_UNAVAILABLE) and an unhealthy /healthz', async () => {
    const down = new RecordingClient({
      redisUrl: `redis://:pw-SECRET@127.0.0.1:${await freePort()}`,
      redisTimeoutMs: 200,
    });
    const api = buildApiServer({ client: down, apiKeys: [KEY] });
    try {
      for (const [method, url] of [
        ['GET', '/v1/recordings'],
        ['GET', '/v1/recordings/some-id'],
        ['POST', '/v1/recordings/some-id/stop'],
        ['DELETE', '/v1/recordings/some-id'],
        ['PATCH', '/v1/recordings/some-id'],
      ] as const) {
        const res = await api.inject({
          method,
          url,
          headers: auth,
          ...(method === 'PATCH' ? { payload: { subscribeAudioUids: [1] } } : {}),
        });
        expect(res.statusCode, url).toBe(503);
        expect(res.json(), url).toMatchObject({
          status: 503,
          code: 'REDIS_UNAVAILABLE',
          type: expect.stringContaining('unavailable'),
        });
        expect(res.body).not.toContain('pw-SECRET');
      }
      const health = await api.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toEqual({ status: 'unavailable', redis: 'down' });
      // Liveness stays: restarting the process would not bring Redis back.
      const live = await api.inject({ method: 'GET', url: '/livez' });
      expect(live.statusCode).toBe(200);
      expect(live.json()).toEqual({ status: 'ok' });
    } finally {
      await api.close();
      await down.close();
    }
  });
});
