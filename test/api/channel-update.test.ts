/**
 * Bad channel bodies against the producer API as a real process (`recfleet-api`) over a real Redis:
 * updates of a running channel recording (`PATCH /v1/recordings/:id`) and starts of channel recordings
 * that break the contract are refused with every bad field named, and Redis is byte for byte what it
 * was before (every key DUMPed before and after). Updates of an ended, unknown or single-stream
 * recording answer with their registry category's status: 409, 404 and 400.
 */
import { FINAL_STATES, recordingRedisKeys, storageProfilesKey, UID_LIST_MAX } from '@recfleet/contract';
import type { ManagedProcess } from '@recfleet/embedded';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from '../src/harness/api-process.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';

const KEY = 'channel-update-key-0123456789';
let redisServer: TestRedis;
let redis: Redis;
let api: ManagedProcess & { baseUrl: string };
let running: string;
let ended: string;
let single: string;

interface Problem {
  status: number;
  code: string;
  errors?: { field: string; rule: string }[];
}

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Problem & Record<string, unknown> }> {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Problem & Record<string, unknown> };
}

/** Every key of the database with its serialized value: equal snapshots mean nothing changed. */
async function snapshot(): Promise<Map<string, string>> {
  const keys = (await redis.keys('*')).sort();
  const values = await Promise.all(keys.map((k) => redis.dumpBuffer(k)));
  return new Map(keys.map((k, i) => [k, values[i]?.toString('base64') ?? '']));
}

let uid = 500;
function channelStart(recordingConfig: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    appId: 'app',
    channel: 'room 7',
    uid: uid++,
    storage: { profile: 'local' },
    recordingConfig,
    ...extra,
  };
}

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = new Redis(redisServer.url);
  await redis.sadd(storageProfilesKey('recfleet'), 'local');
  api = await startApiProcess({ redisUrl: redisServer.url, apiKeys: [KEY] });
  const start = async (body: unknown): Promise<string> => {
    const res = await call('POST', '/v1/recordings', body);
    expect(res.status).toBe(201);
    return res.json.recordingId as string;
  };
  running = await start(channelStart({ subscribeAudioUids: [1, 2], maxUsers: 4 }));
  ended = await start(channelStart());
  single = await start(channelStart({}, { sourceUrl: 'rtmp://127.0.0.1:1935/app/one' }));
  // As the worker leaves them: one recording, one finished.
  await redis.hset(recordingRedisKeys('recfleet', running).record, { state: 'recording', startedAt: 1 });
  await redis.hset(recordingRedisKeys('recfleet', ended).record, { state: FINAL_STATES[0] });
}, 60_000);

afterAll(async () => {
  await api?.stop('SIGTERM', 5000);
  redis?.disconnect();
  await redisServer?.stop();
});

const uids = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** [what, body, fields the problem must name] for `PATCH /v1/recordings/<running>`. */
const BAD_UPDATES: [string, unknown, string[]][] = [
  ['a uid that is not a number', { subscribeAudioUids: [1, 'x'] }, ['subscribeAudioUids.1']],
  ['a uid that is not an integer', { subscribeVideoUids: [1.5] }, ['subscribeVideoUids.0']],
  ['uid 0 (below the range)', { unsubscribeVideoUids: [0] }, ['unsubscribeVideoUids.0']],
  ['a negative uid', { subscribeAudioUids: [-3] }, ['subscribeAudioUids.0']],
  ['a uid above 2^32-1', { unsubscribeVideoUids: [2 ** 32] }, ['unsubscribeVideoUids.0']],
  ['more uids than a list may hold', { subscribeVideoUids: uids(UID_LIST_MAX + 1) }, ['subscribeVideoUids']],
  ['a uid listed twice', { subscribeAudioUids: [3, 3] }, ['subscribeAudioUids']],
  ['a list that is not an array', { subscribeAudioUids: '1,2' }, ['subscribeAudioUids']],
  [
    'subscribe and unsubscribe of video at once',
    { subscribeVideoUids: [1], unsubscribeVideoUids: [2] },
    ['unsubscribeVideoUids'],
  ],
  [
    'an unsubscribe list while the recording subscribes the same kind',
    { unsubscribeAudioUids: [5] },
    ['unsubscribeAudioUids'],
  ],
  ['an empty update', {}, ['(update)']],
  ['a mode (not something an update changes)', { mode: 'mix' }, ['mode', '(update)']],
  ['maxUsers beside a valid list', { subscribeAudioUids: [1], maxUsers: 3 }, ['maxUsers']],
  ['a misspelled list', { subscribeaudiouids: [1] }, ['subscribeaudiouids', '(update)']],
  ['a body that is an array', [1, 2], ['(update)']],
  ['a body that is not JSON', '{"subscribeAudioUids": [1,', ['(body)']],
  [
    'every problem at once',
    { subscribeAudioUids: [0, 0], unsubscribeAudioUids: ['a'], extra: true },
    ['subscribeAudioUids.0', 'subscribeAudioUids.1', 'unsubscribeAudioUids.0', 'extra'],
  ],
];

/** [what, start body, fields named] for `POST /v1/recordings`. */
const BAD_STARTS: [string, Record<string, unknown>, string[]][] = [
  [
    'a subscription uid that is not a number',
    channelStart({ subscribeAudioUids: ['a'] }),
    ['recordingConfig.subscribeAudioUids.0'],
  ],
  [
    'an out-of-range subscription uid',
    channelStart({ unsubscribeVideoUids: [0] }),
    ['recordingConfig.unsubscribeVideoUids.0'],
  ],
  [
    'too many subscription uids',
    channelStart({ subscribeVideoUids: uids(UID_LIST_MAX + 1) }),
    ['recordingConfig.subscribeVideoUids'],
  ],
  [
    'a subscription uid twice',
    channelStart({ subscribeAudioUids: [9, 9] }),
    ['recordingConfig.subscribeAudioUids'],
  ],
  [
    'subscribe and unsubscribe of audio at once',
    channelStart({ subscribeAudioUids: [1], unsubscribeAudioUids: [2] }),
    ['recordingConfig.unsubscribeAudioUids'],
  ],
  ['an unknown mode', channelStart({ mode: 'mix' }), ['recordingConfig.mode']],
  [
    'subscriptions on a job with sourceUrl',
    channelStart({ subscribeAudioUids: [1] }, { sourceUrl: 'rtmp://127.0.0.1/app/s' }),
    ['recordingConfig.subscribeAudioUids'],
  ],
  [
    'maxUsers on a job with sourceUrl',
    channelStart({ maxUsers: 4 }, { sourceUrl: 'rtmp://127.0.0.1/app/s' }),
    ['recordingConfig.maxUsers'],
  ],
  ['maxUsers 0', channelStart({ maxUsers: 0 }), ['recordingConfig.maxUsers']],
  ['maxUsers above its range', channelStart({ maxUsers: 65 }), ['recordingConfig.maxUsers']],
  [
    'a misspelled subscription field',
    channelStart({ subscribeAudioUid: [1] }),
    ['recordingConfig.subscribeAudioUid'],
  ],
];

describe('PATCH /v1/recordings/:id refuses bad updates, changing nothing', () => {
  it.each(BAD_UPDATES)('%s → 400 naming the field', async (_what, body, fields) => {
    const before = await snapshot();
    const res = await call('PATCH', `/v1/recordings/${running}`, body);
    expect(res.status).toBe(400);
    expect(res.json.status).toBe(400);
    expect(['INVALID_JOB', 'INVALID_REQUEST']).toContain(res.json.code);
    const named = (res.json.errors ?? []).map((e) => e.field);
    for (const field of fields) expect(named, JSON.stringify(res.json)).toContain(field);
    for (const e of res.json.errors ?? []) expect(e.rule).not.toBe('');
    expect(await snapshot()).toEqual(before);
  });

  it('an ended recording → 409, an unknown id → 404, a single stream → 400 (their categories)', async () => {
    const before = await snapshot();
    const body = { subscribeAudioUids: [1] };
    const endedRes = await call('PATCH', `/v1/recordings/${ended}`, body);
    expect(endedRes.status).toBe(409);
    expect(endedRes.json).toMatchObject({
      code: 'RECORDING_ENDED',
      type: expect.stringContaining('conflict'),
    });
    expect(String(endedRes.json.detail)).toContain('nothing to update');
    const unknown = await call('PATCH', '/v1/recordings/no-such-recording', body);
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe('RECORDING_NOT_FOUND');
    const notAnId = await call('PATCH', '/v1/recordings/..%2Fetc', body);
    expect(notAnId.status).toBe(404);
    const singleRes = await call('PATCH', `/v1/recordings/${single}`, body);
    expect(singleRes.status).toBe(400);
    expect(singleRes.json).toMatchObject({ code: 'NOT_A_CHANNEL_RECORDING' });
    expect(String(singleRes.json.detail)).toContain('sourceUrl');
    expect(await snapshot()).toEqual(before);
  });

  it('a good update is stored (202), versioned, and shown by GET; a merge patch body works too', async () => {
    const before = await snapshot();
    const res = await call('PATCH', `/v1/recordings/${running}`, {
      subscribeAudioUids: null,
      unsubscribeAudioUids: [5],
      subscribeVideoUids: [1, 2, 3],
    });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({
      recordingId: running,
      subscriptions: { unsubscribeAudioUids: [5], subscribeVideoUids: [1, 2, 3] },
      version: 1,
    });
    // The snapshot sees a change: the refusals above compared something real.
    expect(await snapshot()).not.toEqual(before);
    const patch = await fetch(`${api.baseUrl}/v1/recordings/${running}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ subscribeVideoUids: null }),
    });
    expect(patch.status).toBe(202);
    const got = await call('GET', `/v1/recordings/${running}`);
    expect(got.json).toMatchObject({
      kind: 'channel',
      subscriptions: { unsubscribeAudioUids: [5] },
      subscriptionsVersion: 2,
      users: [],
    });
    expect(got.json.subscriptions).not.toHaveProperty('subscribeVideoUids');
    expect((await call('GET', `/v1/recordings/${single}`)).json).toMatchObject({ kind: 'single_stream' });
  });
});

describe('POST /v1/recordings refuses bad channel starts, creating nothing', () => {
  it.each(BAD_STARTS)('%s → 400 naming the field', async (_what, body, fields) => {
    const before = await snapshot();
    const res = await call('POST', '/v1/recordings', body);
    expect(res.status).toBe(400);
    expect(res.json.code).toBe('INVALID_JOB');
    const named = (res.json.errors ?? []).map((e) => e.field);
    for (const field of fields) expect(named, JSON.stringify(res.json)).toContain(field);
    expect(await snapshot()).toEqual(before);
  });
});
