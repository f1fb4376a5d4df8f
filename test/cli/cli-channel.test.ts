/**
 * `recfleet` on channel recordings, as users run it (the built `dist/cli/main.js` in its own process)
 * against a real Redis: `update` and its exit codes, `start` with subscriptions, `status` listing the
 * users, and `watch` printing users as they come and go. The worker's part (the record's state, the
 * users hash, the events) is written as the worker writes it.
 */
import {
  type ManifestUser,
  recordingRedisKeys,
  type RecordingEventType,
  storageProfilesKey,
} from '@recfleet/contract';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';
import { runCliProcess, type CliRun } from './cli-process.js';

let server: TestRedis;
let redis: Redis;

function cli(args: readonly string[]): Promise<CliRun> {
  return runCliProcess(args, { RECFLEET_REDIS_URL: server.url });
}

let uid = 900;
async function start(extra: string[] = []): Promise<string> {
  const run = await cli([
    'start',
    '--app-id',
    'app',
    '--channel',
    'room',
    '--uid',
    String(uid++),
    '--profile',
    'local',
    ...extra,
  ]);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim();
}

const record = (id: string): string => recordingRedisKeys('recfleet', id).record;

/** An event as the worker appends it to the recording's stream. */
async function event(
  id: string,
  type: RecordingEventType,
  data: Record<string, unknown> = {},
): Promise<void> {
  await redis.xadd(
    recordingRedisKeys('recfleet', id).events,
    '*',
    'type',
    type,
    'at',
    Date.now(),
    'data',
    JSON.stringify(data),
  );
}

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis(server.url);
  await redis.sadd(storageProfilesKey('recfleet'), 'local');
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('recfleet update', () => {
  it('changes the subscriptions: a list replaces, "none" removes, an empty value is the empty list', async () => {
    const id = await start(['--subscribe-audio-uids', '1,2', '--max-users', '4']);
    expect(JSON.parse((await redis.hget(record(id), 'subscriptions'))!)).toEqual({
      subscribeAudioUids: [1, 2],
    });
    await redis.hset(record(id), 'state', 'recording');

    const run = await cli(['update', id, '--subscribe-audio-uids', '3', '--unsubscribe-video-uids', '7,8']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`update stored for ${id} (version 1): audio of 3; video of all but 7, 8`);

    const json = await cli([
      'update',
      id,
      '--subscribe-audio-uids',
      'none',
      '--unsubscribe-video-uids',
      '',
      '--json',
    ]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      recordingId: id,
      subscriptions: { unsubscribeVideoUids: [] },
      version: 2,
    });
  });

  it('a refused update exits 2 with every bad field and its flag, also when Redis is down', async () => {
    const id = await start();
    const before = await redis.hgetall(record(id));
    const args = [
      'update',
      id,
      '--subscribe-audio-uids',
      '1,x',
      '--unsubscribe-video-uids',
      '0',
      '--subscribe-video-uids',
      '4,4',
    ];
    for (const extra of [[], ['--redis-url', 'redis://127.0.0.1:1']]) {
      const run = await cli([...args, ...extra]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('invalid update (3 problems)');
      expect(run.stderr).toContain(
        'invalid --subscribe-audio-uids (subscribeAudioUids.1): must be a number (got "x")',
      );
      expect(run.stderr).toMatch(/invalid --unsubscribe-video-uids \(unsubscribeVideoUids\.0\): .*1/);
      expect(run.stderr).toMatch(
        /invalid --subscribe-video-uids \(subscribeVideoUids\): must not list a uid twice/,
      );
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    const none = await cli(['update', id, '--json']);
    expect(none.code).toBe(2);
    expect(JSON.parse(none.stdout).error.problems).toEqual([
      { field: '(update)', rule: expect.stringContaining('must name at least one of') },
    ]);
    // Merged into what the recording has, the result would break the exclusion.
    await cli(['update', id, '--subscribe-video-uids', '5']);
    const merged = await cli(['update', id, '--unsubscribe-video-uids', '6']);
    expect(merged.code).toBe(2);
    expect(merged.stderr).toContain(
      'invalid --unsubscribe-video-uids (unsubscribeVideoUids): must not be given while the recording has subscribeVideoUids ([5])',
    );
    expect(await redis.hget(record(id), 'subscriptionsVersion')).toBe('1');
    expect({
      ...(await redis.hgetall(record(id))),
      subscriptions: '',
      subscriptionsVersion: '',
      updatedAt: '',
    }).toEqual({
      ...before,
      subscriptions: '',
      subscriptionsVersion: '',
      updatedAt: '',
    });
  });

  it('exit codes of refused recordings: ended 6, unknown 4, single stream 2', async () => {
    const ended = await start();
    await redis.hset(record(ended), 'state', 'uploaded');
    const endedRun = await cli(['update', ended, '--subscribe-audio-uids', '1', '--json']);
    expect(endedRun.code).toBe(6);
    expect(JSON.parse(endedRun.stdout).error).toMatchObject({ code: 'RECORDING_ENDED', state: 'uploaded' });
    expect((await cli(['update', 'no-such-recording', '--subscribe-audio-uids', '1'])).code).toBe(4);
    const single = await start(['--source-url', 'rtmp://127.0.0.1:1935/app/one']);
    const singleRun = await cli(['update', single, '--subscribe-audio-uids', '1']);
    expect(singleRun.code).toBe(2);
    expect(singleRun.stderr).toContain('records one stream');
    // A start that gives a single stream channel-only options is refused, naming the flags.
    const base = ['start', '--app-id', 'a', '--channel', 'c', '--uid', '5', '--profile', 'local'];
    const bad = await cli([...base, '--source-url', 'rtmp://h/a/s', '--max-users', '3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'invalid --max-users (recordingConfig.maxUsers): applies to channel recordings only',
    );
    const badUid = await cli([...base, '--unsubscribe-audio-uids', '1,y']);
    expect(badUid.code).toBe(2);
    expect(badUid.stderr).toContain(
      'invalid --unsubscribe-audio-uids (recordingConfig.unsubscribeAudioUids.1): must be a number (got "y")',
    );
  });
});

describe('recfleet status and watch of a channel recording', () => {
  const user = (id: string, uid: number, joinedAt: string, leftAt?: string): ManifestUser => ({
    uid,
    intervals: [
      { joinedAt, ...(leftAt ? { leftAt, reason: 'left' as const } : {}), audio: true, video: uid !== 43 },
    ],
    tracks: [
      {
        type: uid === 43 ? 'audio' : 'av',
        playlistKey: `${id}_room__uid_s_${uid}__uid_e_${uid === 43 ? 'audio' : 'av'}.m3u8`,
        playlist: `${id}_room__uid_s_${uid}__uid_e_${uid === 43 ? 'audio' : 'av'}.m3u8`,
        segments: uid === 43 ? 3 : 5,
        durationSeconds: uid === 43 ? 6 : 10,
        firstProgramDateTime: joinedAt,
      },
    ],
  });

  it('status lists the users (uid, present, tracks, segments, recorded); --json has them with the manifest', async () => {
    const id = await start();
    await redis.hset(record(id), { state: 'recording', manifestKey: `${id}_room.json` });
    await redis.hset(recordingRedisKeys('recfleet', id).users, {
      43: JSON.stringify(user(id, 43, '2026-03-01T10:00:04.000Z', '2026-03-01T10:00:10.000Z')),
      42: JSON.stringify(user(id, 42, '2026-03-01T10:00:00.000Z')),
    });
    const human = await cli(['status', id]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/kind\s+channel/);
    expect(human.stdout).toMatch(/subscribe\s+audio of all; video of all \(version 0\)/);
    expect(human.stdout).toMatch(new RegExp(`manifest\\s+${id}_room\\.json`));
    expect(human.stdout).toMatch(/users\s+2/);
    const rows = human.stdout.split('\n').filter((l) => /^\s+\d+\s/.test(l));
    expect(rows.map((l) => l.trim().split(/\s+/).slice(0, 4))).toEqual([
      ['42', 'yes', 'av', '5'],
      ['43', 'no', 'audio', '3'],
    ]);
    expect(rows[0]).toContain('10.0 s');
    const json = JSON.parse((await cli(['status', id, '--json'])).stdout) as {
      kind: string;
      manifestKey: string;
      users: (ManifestUser & { present: boolean })[];
    };
    expect(json.kind).toBe('channel');
    expect(json.manifestKey).toBe(`${id}_room.json`);
    expect(json.users.map((u) => [u.uid, u.present, u.tracks[0]!.type])).toEqual([
      [42, true, 'av'],
      [43, false, 'audio'],
    ]);
  });

  it('watch prints users joining and leaving, users not recorded and updates as they come; --json keeps JSON lines', async () => {
    const id = await start();
    const watching = cli(['watch', id]);
    const watchingJson = cli(['watch', id, '--json']);
    await new Promise((r) => setTimeout(r, 1000));
    await event(id, 'joined');
    await event(id, 'user_joined', { uid: 42, audio: true, video: true, recorded: true, track: '42-av' });
    await event(id, 'started', { uid: 42, track: '42-av' });
    await event(id, 'user_not_recorded', { uid: 77, reason: 'max_users' });
    await event(id, 'updated', { subscriptions: { unsubscribeAudioUids: [42] }, version: 1 });
    await event(id, 'user_left', { uid: 42, reason: 'unsubscribed' });
    await event(id, 'user_joined', { uid: 43, audio: true, video: false, recorded: false });
    await event(id, 'stopped', { reason: 'requested' });
    await redis.hset(record(id), 'state', 'uploaded');
    await event(id, 'uploaded', { segments: 0, durationSeconds: 0, bytes: 0 });
    const run = await watching;
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n').filter((l) => l.includes('user') || l.includes('subscriptions'));
    expect(lines.map((l) => l.slice(l.indexOf(id) + id.length).trim())).toEqual([
      'user 42 joined (audio+video), recorded as 42-av',
      'user 77 not recorded (max_users)',
      'subscriptions updated (version 1): audio of all but 42; video of all',
      'user 42 left (unsubscribed)',
      'user 43 joined (audio), not recorded',
    ]);
    const json = await watchingJson;
    expect(json.code).toBe(0);
    const types = json.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(
      expect.arrayContaining(['user_joined', 'user_not_recorded', 'updated', 'user_left', 'outcome']),
    );
    const joined = json.stdout.split('\n').find((l) => l.includes('"user_joined"'))!;
    expect(JSON.parse(joined)).toMatchObject({
      recordingId: id,
      type: 'user_joined',
      data: { uid: 42, track: '42-av' },
    });
  });
});
