/**
 * RecordingClient.update and the channel part of the read model against a real Redis: the record's
 * `kind` and subscriptions written at start, updates merged and versioned atomically, refusals that
 * change nothing, and the users hash read back as the worker writes it.
 */
import {
  InvalidRecordingJobError,
  type ManifestUser,
  RECORDINGS_QUEUE,
  recordingRedisKeys,
  runScript,
  storageProfilesKey,
} from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NotAChannelRecordingError, RecordingClient, RecordingEndedError } from './recording-client.js';

let server: RedisServer;
let redis: Redis;
let client: RecordingClient;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url);
  client = new RecordingClient({ redisUrl: server.url });
});
afterAll(async () => {
  await client?.close();
  redis?.disconnect();
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
  await redis.sadd(storageProfilesKey('recfleet'), 'local');
});

let uid = 1;
function channelJob(recordingConfig: Record<string, unknown> = {}) {
  return { appId: 'app', channel: 'room', uid: uid++, storage: { profile: 'local' }, recordingConfig };
}
const record = (id: string): string => recordingRedisKeys('recfleet', id).record;

describe('start', () => {
  it("writes the recording's kind, and a channel recording's subscriptions as version 0", async () => {
    const channel = await client.start(channelJob({ subscribeAudioUids: [1, 2] }));
    expect(
      await redis.hmget(record(channel.recordingId), 'kind', 'subscriptions', 'subscriptionsVersion'),
    ).toEqual(['channel', JSON.stringify({ subscribeAudioUids: [1, 2] }), '0']);
    const single = await client.start({ ...channelJob(), sourceUrl: 'rtmp://127.0.0.1/app/s' });
    expect(await redis.hmget(record(single.recordingId), 'kind', 'subscriptions')).toEqual([
      'single_stream',
      null,
    ]);
    const got = await client.get(channel.recordingId);
    expect(got).toMatchObject({
      kind: 'channel',
      subscriptions: { subscribeAudioUids: [1, 2] },
      subscriptionsVersion: 0,
      users: [],
    });
    expect((await client.get(single.recordingId)).users).toBeUndefined();
  });
});

describe('update', () => {
  it('replaces the lists it names, removes those set to null, and counts versions', async () => {
    const { recordingId } = await client.start(
      channelJob({ subscribeAudioUids: [1, 2], unsubscribeVideoUids: [9] }),
    );
    expect(await client.update(recordingId, { subscribeAudioUids: [3] })).toEqual({
      recordingId,
      subscriptions: { subscribeAudioUids: [3], unsubscribeVideoUids: [9] },
      version: 1,
    });
    expect(await client.update(recordingId, { unsubscribeVideoUids: null, subscribeVideoUids: [] })).toEqual({
      recordingId,
      subscriptions: { subscribeAudioUids: [3], subscribeVideoUids: [] },
      version: 2,
    });
    expect(await client.get(recordingId)).toMatchObject({
      subscriptions: { subscribeAudioUids: [3], subscribeVideoUids: [] },
      subscriptionsVersion: 2,
    });
  });

  it('refuses, changing nothing: a bad body, a result breaking the exclusion, an ended, single-stream or unknown recording', async () => {
    const { recordingId } = await client.start(channelJob({ subscribeAudioUids: [1] }));
    const before = await redis.hgetall(record(recordingId));
    const refusal = (body: unknown, id = recordingId): Promise<unknown> =>
      client.update(id, body).catch((e: unknown) => e);

    const bad = (await refusal({ subscribeAudioUids: [0, 'x'], mode: 'mix' })) as InvalidRecordingJobError;
    expect(bad).toBeInstanceOf(InvalidRecordingJobError);
    expect(bad.problems.map((p) => p.field).sort()).toEqual([
      'mode',
      'subscribeAudioUids.0',
      'subscribeAudioUids.1',
    ]);
    expect(((await refusal({})) as InvalidRecordingJobError).problems).toEqual([
      { field: '(update)', rule: expect.stringContaining('must name at least one of subscribeAudioUids') },
    ]);
    // Merged into [1]: a subscribe and an unsubscribe list of audio at once.
    const merged = (await refusal({ unsubscribeAudioUids: [2] })) as InvalidRecordingJobError;
    expect(merged.problems).toEqual([
      { field: 'unsubscribeAudioUids', rule: expect.stringContaining('subscribeAudioUids ([1])') },
    ]);
    // …which the same update can resolve by removing the other list.
    expect(await redis.hgetall(record(recordingId))).toEqual(before);

    const single = await client.start({ ...channelJob(), sourceUrl: 'rtmp://127.0.0.1/app/s' });
    expect(await refusal({ subscribeAudioUids: [1] }, single.recordingId)).toBeInstanceOf(
      NotAChannelRecordingError,
    );
    expect(await refusal({ subscribeAudioUids: [1] }, 'no-such-recording')).toMatchObject({
      code: 'RECORDING_NOT_FOUND',
    });
    await redis.hset(record(recordingId), 'state', 'uploaded');
    const ended = await refusal({ subscribeAudioUids: [5] });
    expect(ended).toBeInstanceOf(RecordingEndedError);
    expect(ended).toMatchObject({ code: 'RECORDING_ENDED', httpStatus: 409, state: 'uploaded' });
    expect(await redis.hgetall(record(recordingId))).toEqual({ ...before, state: 'uploaded' });

    await redis.hset(record(recordingId), 'state', 'recording');
    expect(
      await client.update(recordingId, { subscribeAudioUids: null, unsubscribeAudioUids: [2] }),
    ).toMatchObject({ subscriptions: { unsubscribeAudioUids: [2] }, version: 1 });
  });

  it('a record without kind or subscriptions (written by an older start) is decided by its job data', async () => {
    const queue = new Queue(RECORDINGS_QUEUE, {
      connection: new Redis(server.url, { maxRetriesPerRequest: null }),
      prefix: 'recfleet',
    });
    try {
      const channel = await client.start(channelJob({ unsubscribeVideoUids: [4] }));
      const single = await client.start({ ...channelJob(), sourceUrl: 'rtmp://127.0.0.1/app/s' });
      for (const id of [channel.recordingId, single.recordingId]) {
        await redis.hdel(record(id), 'kind', 'subscriptions', 'subscriptionsVersion');
      }
      expect((await client.get(channel.recordingId)).kind).toBe('channel');
      expect(await client.update(channel.recordingId, { subscribeAudioUids: [7] })).toEqual({
        recordingId: channel.recordingId,
        subscriptions: { unsubscribeVideoUids: [4], subscribeAudioUids: [7] },
        version: 1,
      });
      expect(await redis.hget(record(channel.recordingId), 'kind')).toBe('channel');
      await expect(client.update(single.recordingId, { subscribeAudioUids: [7] })).rejects.toBeInstanceOf(
        NotAChannelRecordingError,
      );
      // Without its job nothing says it is a channel recording: refused rather than guessed.
      await queue.remove(single.recordingId);
      await expect(client.update(single.recordingId, { subscribeAudioUids: [7] })).rejects.toMatchObject({
        code: 'NOT_A_CHANNEL_RECORDING',
      });
    } finally {
      await queue.close();
    }
  });

  it('concurrent updates of different lists are all kept: each merges into the version it read', async () => {
    const { recordingId } = await client.start(channelJob());
    const others = Array.from({ length: 4 }, () => new RecordingClient({ redisUrl: server.url }));
    try {
      const fields = [
        'subscribeAudioUids',
        'subscribeVideoUids',
        'unsubscribeAudioUids',
        'unsubscribeVideoUids',
      ];
      // Audio (and video) subscribe/unsubscribe exclude each other: two of the four must be refused.
      const outcomes = await Promise.allSettled(
        others.map((c, i) => c.update(recordingId, { [fields[i]!]: [i + 1] })),
      );
      const kept = outcomes.filter((o) => o.status === 'fulfilled');
      expect(kept).toHaveLength(2);
      const final = await client.get(recordingId);
      expect(final.subscriptionsVersion).toBe(2);
      expect(Object.keys(final.subscriptions!)).toHaveLength(2);
      for (const o of outcomes.filter((x) => x.status === 'rejected')) {
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(InvalidRecordingJobError);
      }
    } finally {
      for (const c of others) await c.close();
    }
  });

  it('the script itself refuses a stale version, a final state and a single stream', async () => {
    const { recordingId } = await client.start(channelJob());
    const run = (args: (string | number)[]): Promise<unknown> =>
      runScript(
        redis,
        'updateSubscriptions',
        [record(recordingId)],
        [...args, 'uploaded', 'backed_up', 'failed'],
      );
    expect(await run(['{"subscribeAudioUids":[1]}', '5', 1, 'channel'])).toEqual(['changed', '0']);
    expect(await run(['{"subscribeAudioUids":[1]}', '0', 1, 'channel'])).toEqual(['updated', '1']);
    await redis.hset(record(recordingId), 'kind', 'single_stream');
    expect(await run(['{}', '1', 1, 'channel'])).toEqual(['not_a_channel', 'single_stream']);
    await redis.hset(record(recordingId), 'state', 'failed');
    expect(await run(['{}', '1', 1, 'channel'])).toEqual(['ended', 'failed']);
    expect(await redis.hget(record(recordingId), 'subscriptions')).toBe('{"subscribeAudioUids":[1]}');
  });
});

describe('the users of a channel recording', () => {
  it('lists the users hash by uid, each present or not, with the worker’s per-user progress', async () => {
    const { recordingId } = await client.start(channelJob());
    const keys = recordingRedisKeys('recfleet', recordingId);
    const user = (uid: number, leftAt?: string): ManifestUser => ({
      uid,
      intervals: [
        {
          joinedAt: '2026-01-01T00:00:00.000Z',
          ...(leftAt ? { leftAt, reason: 'left' as const } : {}),
          audio: true,
          video: true,
        },
      ],
      tracks: [
        {
          type: 'av',
          playlistKey: `${recordingId}_room__uid_s_${uid}__uid_e_av.m3u8`,
          playlist: `${recordingId}_room__uid_s_${uid}__uid_e_av.m3u8`,
          segments: 2,
          durationSeconds: 4,
          firstProgramDateTime: '2026-01-01T00:00:00.100Z',
        },
      ],
    });
    await redis.hset(keys.users, {
      30: JSON.stringify(user(30)),
      4: JSON.stringify(user(4, '2026-01-01T00:00:09.000Z')),
      5: '{"not":"a user"}',
    });
    await redis.hset(keys.record, { state: 'recording', manifestKey: `${recordingId}_room.json` });
    const w = new Worker(
      RECORDINGS_QUEUE,
      async (job) => {
        await job.updateProgress({
          durationSeconds: 8,
          segments: 4,
          bytes: 100,
          segmentsUploaded: 4,
          bytesUploaded: 100,
          users: [
            { uid: 30, track: '30-av', segments: 3, durationSeconds: 6 },
            { uid: 4, track: '4-av', segments: 1, durationSeconds: 2 },
          ],
        });
        await new Promise((r) => setTimeout(r, 10_000));
      },
      { connection: new Redis(server.url, { maxRetriesPerRequest: null }), prefix: 'recfleet' },
    );
    w.on('error', () => undefined);
    try {
      await expect
        .poll(async () => (await client.get(recordingId)).progress?.users?.length ?? 0, { timeout: 5000 })
        .toBe(2);
      const got = await client.get(recordingId);
      expect(got.manifestKey).toBe(`${recordingId}_room.json`);
      expect(got.users!.map((u) => [u.uid, u.present])).toEqual([
        [4, false],
        [30, true],
      ]);
      expect(got.users![1]!.progress).toEqual([{ uid: 30, track: '30-av', segments: 3, durationSeconds: 6 }]);
      expect(got.users![0]!.tracks[0]!.firstProgramDateTime).toBe('2026-01-01T00:00:00.100Z');
    } finally {
      await w.close(true);
    }
  });
});
