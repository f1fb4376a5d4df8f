/**
 * A channel recording's lifecycle without the native addon or a channel server: a scripted directory
 * in which the test makes users publish, change and leave, and scripted recorders that write real
 * segment files; Redis (a private redis-server), BullMQ and the local store are real. Users joining at
 * different times, leaving and coming back, an update of the subscriptions, maxUsers, the recorder's
 * own uid, idle timeouts, stop and cancel, fencing, and a resume after a crash are driven here.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  backedUpSetKey,
  ChannelManifestSchema,
  parseFailure,
  parseRecordingJob,
  recordingRedisKeys,
  trackSegmentsKey,
  type ChannelManifest,
  type ManifestUser,
  type RecordingResult,
} from '@recfleet/contract';
import {
  LocalDiskStorage,
  manifestObjectKey,
  StorageError,
  userTrackObjectKeys,
  type IndexedSegment,
  type StorageAdapter,
} from '@recfleet/storage';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupDrainWorker } from '../backup-drain-worker.js';
import { WorkerConfigSchema } from '../config.js';
import { createLogger } from '../logger.js';
import { RecordingFailedError } from '../recording-failure.js';
import type { RecordingOwnership } from '../recording-ownership.js';
import { RecordingRecord } from '../recording-record.js';
import { SessionFencedError } from '../session-lifecycle.js';
import {
  ScriptedDirectory,
  ScriptedRecorder,
  SessionTestbed,
  storeWithPut,
  takeOver,
  TEST_OWNERSHIP,
  testOwnership,
  type RecordedEvent,
  type RunContext,
} from '../test-support.js';
import { ChannelRecordingSession, type ChannelSessionOptions } from './channel-recording-session.js';
import { ChannelStandby } from './channel-standby.js';

const PREFIX = 'chan';
const TOKEN = 'tok-3f9a-secret';
let bed: SessionTestbed;

beforeAll(async () => {
  bed = await SessionTestbed.start(PREFIX);
});
afterAll(async () => {
  await bed?.stop();
});

interface ChannelRun {
  recorders: ScriptedRecorder[];
  outcome: Promise<RecordingResult | Error>;
  /** The job's first and, after a hand-off, second run. */
  outcomes: Promise<RecordingResult | Error>[];
  job(): Promise<Job>;
  sessions: ChannelRecordingSession[];
  /** Each run's ownership (a test stops one's heartbeat to play its worker's crash). */
  ownerships: RecordingOwnership[];
}

function channelSession(
  c: Pick<RunContext, 'job' | 'token' | 'record' | 'log' | 'ownership'>,
  directory: ScriptedDirectory,
  recorders: ScriptedRecorder[],
  extra: Partial<ChannelSessionOptions> = {},
): ChannelRecordingSession {
  return new ChannelRecordingSession({
    job: c.job,
    token: c.token,
    spec: parseRecordingJob(c.job.data),
    createRecorder: () => {
      const r = new ScriptedRecorder({ segmentMs: 80 });
      recorders.push(r);
      return r;
    },
    directory,
    store: new LocalDiskStorage(bed.storeRoot),
    record: c.record,
    redis: bed.redis,
    ownership: c.ownership,
    uploadSlots: bed.slots,
    uploadAttemptTimeoutMs: 5000,
    backedUpSetKey: backedUpSetKey(PREFIX),
    spoolDir: bed.spoolDir,
    progressIntervalMs: 100,
    gapSeconds: 2,
    controlPollMs: 20,
    log: c.log,
    ...extra,
  });
}

/** Runs a channel recording job (uid 1, the channel `room`) with the scripted directory. */
async function runChannel(
  recordingId: string,
  directory: ScriptedDirectory,
  recordingConfig: Record<string, unknown> = {},
  extra: Partial<ChannelSessionOptions> = {},
): Promise<ChannelRun> {
  const recorders: ScriptedRecorder[] = [];
  const ownerships: RecordingOwnership[] = [];
  const run = await bed.run(
    recordingId,
    { token: TOKEN, recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 5, ...recordingConfig } },
    (c) => {
      ownerships.push(c.ownership);
      return channelSession(c, directory, recorders, extra);
    },
    2,
  );
  return {
    recorders,
    outcome: run.outcomes[0]!,
    outcomes: run.outcomes,
    job: run.job,
    sessions: run.sessions,
    ownerships,
  };
}

const events = (id: string): Promise<RecordedEvent[]> => bed.events(id);

/** Segment events of one user's track. */
async function trackSegments(id: string, track: string): Promise<RecordedEvent[]> {
  return (await events(id)).filter((e) => e.type === 'segment' && e.data.track === track);
}

async function userEvents(id: string, uid: number): Promise<string[]> {
  return (await events(id))
    .filter((e) => e.type.startsWith('user_') && e.data.uid === uid)
    .map((e) => `${e.type}${e.data.reason ? `:${String(e.data.reason)}` : ''}`);
}

function playlistOf(id: string, uid: number, type: 'av' | 'audio' | 'video' = 'av'): Promise<string> {
  return readFile(join(bed.storeRoot, userTrackObjectKeys(id, 'room', uid, type).playlistKey), 'utf8');
}

function listed(playlist: string): string[] {
  return playlist.split('\n').filter((l) => l.endsWith('.ts'));
}

async function manifestOf(id: string): Promise<ChannelManifest> {
  const text = await readFile(join(bed.storeRoot, manifestObjectKey(id, 'room')), 'utf8');
  return ChannelManifestSchema.parse(JSON.parse(text));
}

async function usersHash(id: string): Promise<Map<number, ManifestUser>> {
  const hash = await bed.redis.hgetall(recordingRedisKeys(PREFIX, id).users);
  return new Map(Object.entries(hash).map(([uid, v]) => [Number(uid), JSON.parse(v) as ManifestUser]));
}

async function trackIndex(id: string, track: string): Promise<IndexedSegment[]> {
  return (await bed.redis.hvals(trackSegmentsKey(PREFIX, id, track)))
    .map((v) => JSON.parse(v) as IndexedSegment)
    .sort((a, b) => a.sequence - b.sequence);
}

/** What a producer's update does to the record (updateSubscriptions-1): new lists, next version. */
async function updateSubscriptions(id: string, subscriptions: Record<string, number[]>): Promise<number> {
  const key = recordingRedisKeys(PREFIX, id).record;
  await bed.redis.hset(key, 'subscriptions', JSON.stringify(subscriptions));
  await bed.redis.hincrby(key, 'subscriptionsVersion', 1);
  return Date.now();
}

const requestControl = (id: string, request: 'stop' | 'cancel'): Promise<number> =>
  bed.redis.hset(recordingRedisKeys(PREFIX, id).record, 'control', request);

const atLeast = (id: string, track: string, n: number): Promise<void> =>
  expect
    .poll(async () => (await trackSegments(id, track)).length, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(n);

/** A recording of users 10 and 20, once each has `segments` segments. */
async function twoUsersRecording(
  id: string,
  segments: number,
): Promise<{ run: ChannelRun; directory: ScriptedDirectory }> {
  const directory = new ScriptedDirectory();
  const run = await runChannel(id, directory);
  directory.publish(10);
  directory.publish(20);
  await atLeast(id, '10-av', segments);
  await atLeast(id, '20-av', segments);
  return { run, directory };
}

describe('channel recording session', () => {
  it('records three users who come at different times, one leaving and coming back, one added by an update', async () => {
    const id = 'chan-three';
    const directory = new ScriptedDirectory();
    const run = await runChannel(id, directory, { unsubscribeAudioUids: [30], unsubscribeVideoUids: [30] });
    await expect.poll(() => bed.eventTypes(id)).toContain('joined');
    expect(directory.joins).toEqual([{ appId: 'app', channel: 'room', recorderUid: 1, token: TOKEN }]);

    directory.publish(10);
    await atLeast(id, '10-av', 2);
    directory.publish(20);
    await atLeast(id, '20-av', 2);
    directory.leave(20);
    await expect.poll(() => userEvents(id, 20)).toContain('user_left:left');
    const beforeReturn = (await trackSegments(id, '20-av')).length;
    directory.publish(30);
    await expect.poll(() => userEvents(id, 30)).toEqual(['user_joined', 'user_not_recorded:unsubscribed']);
    directory.publish(20);
    await atLeast(id, '20-av', beforeReturn + 2);
    const updatedAt = await updateSubscriptions(id, {});
    await atLeast(id, '30-av', 2);
    await requestControl(id, 'stop');
    const result = (await run.outcome) as RecordingResult;

    // Three playlists and the manifest, named as documented; the result names the manifest as its entry.
    const manifestKey = manifestObjectKey(id, 'room');
    expect(result).toMatchObject({
      outcome: 'uploaded',
      stopReason: 'requested',
      playlistKey: manifestKey,
      manifestKey,
      users: 3,
    });
    expect(result.playlists!.map((p) => p.key).sort()).toEqual(
      [10, 20, 30].map((uid) => userTrackObjectKeys(id, 'room', uid, 'av').playlistKey),
    );
    // The one who left and came back: one playlist, one discontinuity, where they came back.
    const twenty = await playlistOf(id, 20);
    expect(twenty.match(/#EXT-X-DISCONTINUITY/g)).toHaveLength(1);
    const segmentsOf20 = await trackSegments(id, '20-av');
    const back = segmentsOf20.findIndex((e) => e.data.discontinuity === true);
    expect(back).toBe(beforeReturn);
    expect(segmentsOf20.map((e) => e.data.sequence)).toEqual([...segmentsOf20.keys()]);
    expect(listed(twenty)).toEqual(
      segmentsOf20.map((e) =>
        userTrackObjectKeys(id, 'room', 20, 'av').segmentName(e.data.sequence as number),
      ),
    );
    for (const uid of [10, 20, 30])
      expect((await playlistOf(id, uid)).trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    expect((await playlistOf(id, 10)).includes('#EXT-X-DISCONTINUITY')).toBe(false);

    // The one added by the update: applied within a second, their playlist starts there.
    const all = await events(id);
    const updated = all.find((e) => e.type === 'updated')!;
    expect(updated.data).toEqual({ subscriptions: {}, version: 1 });
    expect(updated.at - updatedAt).toBeLessThan(1000);
    const thirtyJoined = all.find(
      (e) => e.type === 'user_joined' && e.data.uid === 30 && e.data.recorded === true,
    )!;
    expect(thirtyJoined.at).toBeGreaterThanOrEqual(updated.at);
    expect((await trackSegments(id, '30-av'))[0]!.at).toBeGreaterThanOrEqual(updated.at);
    expect(await userEvents(id, 30)).toEqual([
      'user_joined',
      'user_not_recorded:unsubscribed',
      'user_joined',
      'user_left:recording_ended',
    ]);
    expect(await userEvents(id, 20)).toEqual([
      'user_joined',
      'user_left:left',
      'user_joined',
      'user_left:recording_ended',
    ]);

    // Per-user events carry the user and the track; progress has totals and per-user figures.
    expect(
      all.filter((e) => e.type === 'uploaded_segment').every((e) => typeof e.data.track === 'string'),
    ).toBe(true);
    expect(all.find((e) => e.type === 'started')!.data).toMatchObject({ uid: 10, track: '10-av' });
    const progress = all.filter((e) => e.type === 'progress').at(-1)!;
    expect(progress.data.users).toEqual(
      expect.arrayContaining([expect.objectContaining({ uid: 20, track: '20-av' })]),
    );
    const jobProgress = (await run.job()).progress as { users: unknown[]; segments: number };
    expect(jobProgress.users).toHaveLength(3);
    expect(jobProgress.segments).toBe(result.segments);

    // The manifest lists every user with their timeline and playlist, as the users hash does.
    const manifest = await manifestOf(id);
    expect(manifest).toMatchObject({ recordingId: id, appId: 'app', channel: 'room', ended: true });
    expect(manifest.users.map((u) => u.uid)).toEqual([10, 20, 30]);
    const u20 = manifest.users[1]!;
    expect(u20.intervals.map((i) => i.reason)).toEqual(['left', 'recording_ended']);
    expect(u20.tracks).toEqual([
      expect.objectContaining({
        type: 'av',
        playlist: `${id}_room__uid_s_20__uid_e_av.m3u8`,
        segments: segmentsOf20.length,
      }),
    ]);
    expect(u20.tracks[0]!.firstProgramDateTime).toBeDefined();
    expect(Date.parse(manifest.users[2]!.intervals[0]!.joinedAt)).toBeGreaterThanOrEqual(updatedAt - 50);
    expect(manifest.notRecorded).toEqual([expect.objectContaining({ uid: 30, reason: 'unsubscribed' })]);
    expect([...(await usersHash(id)).values()].sort((a, b) => a.uid - b.uid)).toEqual(manifest.users);
    expect(await bed.recordFields(id)).toMatchObject({ manifestKey });
    // The token admits the recorder to the channel, and goes nowhere else.
    expect(run.recorders[0]!.options!.sourceUrl).toContain(TOKEN);
    expect(JSON.stringify(all)).not.toContain(TOKEN);
    expect(JSON.stringify(await bed.recordFields(id))).not.toContain(TOKEN);
    expect(await readdir(bed.spoolDir)).not.toContain(id);
  });

  it('ends with idle_timeout maxIdleSeconds after the start when nobody comes, with an empty manifest', async () => {
    const id = 'chan-nobody';
    const run = await runChannel(id, new ScriptedDirectory());
    await expect.poll(() => bed.eventTypes(id)).toContain('joined');
    const joinedAt = (await events(id)).find((e) => e.type === 'joined')!.at;
    const result = (await run.outcome) as RecordingResult;
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'idle_timeout', users: 0, segments: 0 });
    const stopped = (await events(id)).find((e) => e.type === 'stopped')!;
    expect(stopped.at - joinedAt).toBeGreaterThanOrEqual(5000);
    expect(stopped.at - joinedAt).toBeLessThan(6000);
    expect(await manifestOf(id)).toMatchObject({ ended: true, users: [], notRecorded: [] });
  });

  it('counts the idle time from the last recorded user leaving', async () => {
    const id = 'chan-last-leaves';
    const directory = new ScriptedDirectory();
    const run = await runChannel(id, directory);
    directory.publish(10);
    await atLeast(id, '10-av', 2);
    // Joined a while after the start: the idle time does not count from the start.
    await new Promise((r) => setTimeout(r, 3000));
    directory.leave(10);
    const leftAt = Date.now();
    const result = (await run.outcome) as RecordingResult;
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'idle_timeout', users: 1 });
    const stopped = (await events(id)).find((e) => e.type === 'stopped')!;
    expect(stopped.at - leftAt).toBeGreaterThanOrEqual(4900);
    expect(stopped.at - leftAt).toBeLessThan(6000);
    expect((await manifestOf(id)).users[0]!.intervals).toEqual([
      expect.objectContaining({ reason: 'left', audio: true, video: true }),
    ]);
  });

  it("fails with UID_CONFLICT when the recorder's uid publishes at the join", async () => {
    const id = 'chan-uid-conflict';
    const directory = new ScriptedDirectory();
    directory.publish(1);
    directory.publish(10);
    const run = await runChannel(id, directory);
    const outcome = await run.outcome;
    expect(outcome).toBeInstanceOf(RecordingFailedError);
    expect((outcome as RecordingFailedError).code).toBe('UID_CONFLICT');
    await expect.poll(async () => (await run.job()).failedReason).toBeDefined();
    expect(parseFailure((await run.job()).failedReason).code).toBe('UID_CONFLICT');
    expect(await bed.recordFields(id)).toMatchObject({ state: 'failed', errorCode: 'UID_CONFLICT' });
    // Nobody was recorded: no manifest, and the record names none.
    expect((await bed.recordFields(id)).manifestKey).toBeUndefined();
    expect(run.recorders).toHaveLength(0);
    expect(directory.memberships.size).toBe(0);
  });

  it('fails with the directory’s code when the channel refuses the token, which appears nowhere', async () => {
    const id = 'chan-auth';
    const directory = new ScriptedDirectory();
    const { RecfleetError } = await import('@recfleet/contract');
    directory.joinError = new RecfleetError('CHANNEL_AUTH_FAILED', 'the channel refused the token (expired)');
    const run = await runChannel(id, directory);
    const outcome = await run.outcome;
    expect((outcome as RecordingFailedError).code).toBe('CHANNEL_AUTH_FAILED');
    expect(await bed.recordFields(id)).toMatchObject({ state: 'failed', errorCode: 'CHANNEL_AUTH_FAILED' });
    expect(JSON.stringify(await events(id))).not.toContain(TOKEN);
  });

  it('lists no playlist for a user who recorded nothing (their stream could not be pulled)', async () => {
    const id = 'chan-nothing-recorded';
    const directory = new ScriptedDirectory();
    const run = await runChannel(id, directory);
    directory.publish(10);
    await atLeast(id, '10-av', 2);
    // User 50 comes once the channel no longer admits the recorder to new users' streams.
    const { RecfleetError } = await import('@recfleet/contract');
    directory.sourceUrlError = new RecfleetError('CHANNEL_AUTH_FAILED', "the job's token expired");
    directory.publish(50);
    await expect.poll(() => userEvents(id, 50)).toEqual(['user_joined', 'user_left:failed']);
    const failed = (await events(id)).find((e) => e.type === 'user_left' && e.data.uid === 50)!;
    expect(failed.data).toMatchObject({ track: '50-av', code: 'CHANNEL_AUTH_FAILED' });
    await requestControl(id, 'stop');
    const result = (await run.outcome) as RecordingResult;

    // Only user 10 has a playlist, in the store, the result and the manifest (a user with no track is
    // not one it lists); user 50's timeline stays in the users hash. Nothing of 50's is left anywhere.
    expect(result).toMatchObject({ outcome: 'uploaded', users: 1 });
    expect(result.playlists!.map((p) => p.uid)).toEqual([10]);
    const stored = await readdir(bed.storeRoot);
    expect(stored.filter((f) => f.startsWith(id) && !f.includes('__uid_s_10__'))).toEqual([
      `${manifestObjectKey(id, 'room')}`,
    ]);
    const manifest = await manifestOf(id);
    expect(manifest.users.map((u) => [u.uid, u.tracks.length])).toEqual([[10, 1]]);
    expect((await usersHash(id)).get(50)).toMatchObject({ tracks: [], intervals: [{ reason: 'failed' }] });
    expect(await readdir(bed.spoolDir)).not.toContain(id);
  });

  it("reports, and does not record, a later publisher with the recorder's uid and the users over maxUsers", async () => {
    const id = 'chan-max-users';
    const directory = new ScriptedDirectory();
    const run = await runChannel(id, directory, { maxUsers: 2 });
    await expect.poll(() => bed.eventTypes(id)).toContain('joined');
    directory.publish(10);
    directory.publish(20);
    await atLeast(id, '20-av', 1);
    directory.publish(30);
    directory.publish(1);
    await expect.poll(() => userEvents(id, 30)).toEqual(['user_joined', 'user_not_recorded:max_users']);
    await expect.poll(() => userEvents(id, 1)).toEqual(['user_joined', 'user_not_recorded:recorder_uid']);
    expect(await trackSegments(id, '30-av')).toEqual([]);
    // A slot frees: the user waiting longest is recorded from then on.
    directory.leave(10);
    await atLeast(id, '30-av', 2);
    await requestControl(id, 'stop');
    const result = (await run.outcome) as RecordingResult;
    expect(result.users).toBe(3);
    expect(result.playlists!.map((p) => p.uid).sort()).toEqual([10, 20, 30]);
    const joined10Left = (await events(id)).find((e) => e.type === 'user_left' && e.data.uid === 10)!;
    expect((await trackSegments(id, '30-av'))[0]!.at).toBeGreaterThanOrEqual(joined10Left.at);
    expect(run.recorders.every((r) => !r.options!.sourceUrl.includes('room_u1?'))).toBe(true);
    expect((await manifestOf(id)).notRecorded.map((n) => `${n.uid}:${n.reason}`).sort()).toEqual([
      '1:recorder_uid',
      '30:max_users',
    ]);
  });

  it('starts a track of the new type when a user stops publishing video, in its own playlist', async () => {
    const id = 'chan-type-change';
    const directory = new ScriptedDirectory();
    const run = await runChannel(id, directory, { streamTypes: 'both' });
    directory.publish(10);
    await atLeast(id, '10-av', 2);
    directory.publish(10, { audio: true, video: false });
    await atLeast(id, '10-audio', 2);
    await requestControl(id, 'stop');
    const result = (await run.outcome) as RecordingResult;
    expect(result.playlists!.map((p) => p.type)).toEqual(['av', 'audio']);
    expect(run.recorders.map((r) => r.options!.streamTypes)).toEqual(['both', 'audio']);
    expect(await userEvents(id, 10)).toEqual([
      'user_joined',
      'user_left:left',
      'user_joined',
      'user_left:recording_ended',
    ]);
    const manifest = await manifestOf(id);
    expect(manifest.users[0]!.intervals.map((i) => [i.audio, i.video])).toEqual([
      [true, true],
      [true, false],
    ]);
    expect(listed(await playlistOf(id, 10, 'audio'))[0]).toBe(
      userTrackObjectKeys(id, 'room', 10, 'audio').segmentName(0),
    );
  });

  it("ends every user's track on a cancel request", async () => {
    const id = 'chan-cancel';
    const { run } = await twoUsersRecording(id, 2);
    await requestControl(id, 'cancel');
    const result = (await run.outcome) as RecordingResult;
    expect(result).toMatchObject({ outcome: 'uploaded', stopReason: 'cancelled', users: 2 });
    expect(run.recorders.every((r) => r.state === 'released' || r.state === 'ended')).toBe(true);
    expect(await userEvents(id, 10)).toEqual(['user_joined', 'user_left:recording_ended']);
    expect(await userEvents(id, 20)).toEqual(['user_joined', 'user_left:recording_ended']);
    expect(await bed.recordFields(id)).toMatchObject({ state: 'uploaded', reason: 'cancelled' });
    expect((await manifestOf(id)).ended).toBe(true);
  });

  it('stops every track once a newer owner has claimed the recording, and leaves record and manifest alone', async () => {
    const id = 'chan-fenced';
    const { run, directory } = await twoUsersRecording(id, 2);
    await takeOver(bed.redis, PREFIX, id, 'other-host:1');
    const outcome = await run.outcome;
    expect(outcome).toBeInstanceOf(SessionFencedError);
    expect(run.recorders).toHaveLength(2);
    expect(run.recorders.every((r) => r.state === 'released' || r.state === 'ended')).toBe(true);
    const fields = await bed.recordFields(id);
    expect(fields).toMatchObject({ owner: 'other-host:1', state: 'recording' });
    const types = await bed.eventTypes(id);
    expect(types).not.toContain('uploaded');
    expect(types).not.toContain('user_left');
    expect((await manifestOf(id)).ended).toBe(false);
    expect((await playlistOf(id, 10)).includes('#EXT-X-ENDLIST')).toBe(false);
    expect(directory.memberships.size).toBe(0);
  });

  it("resumes every user's track after a crash: next sequence numbers, after a discontinuity, nothing finished lost", async () => {
    const id = 'chan-resume';
    const { run: first, directory } = await twoUsersRecording(id, 3);
    // The first worker dies: its recorders write nothing more, its heartbeat stops.
    for (const r of first.recorders) r.kill();
    await first.ownerships[0]!.release();
    const written = new Map(
      first.recorders.map((r) => [r.options!.sourceUrl.includes('_u10') ? 10 : 20, [...r.sequences]]),
    );
    // Its heartbeat goes stale (TEST_OWNERSHIP.takeoverAfterMs).
    await new Promise((r) => setTimeout(r, 700));

    // Another worker takes the job over (its lock expired) and claims the recording.
    const job = await first.job();
    const recorders: ScriptedRecorder[] = [];
    const log = createLogger('silent');
    const record = new RecordingRecord(bed.redis, PREFIX, id);
    const second = channelSession(
      { job, token: undefined, record, log, ownership: testOwnership(record, 'test:resumed', log) },
      directory,
      recorders,
    );
    const resumed = second.run();
    // The first worker's next write is refused: it stops.
    expect(await first.outcome).toBeInstanceOf(SessionFencedError);
    await expect.poll(() => recorders.length).toBe(2);
    for (const r of recorders) {
      const uid = r.options!.sourceUrl.includes('_u10') ? 10 : 20;
      expect(r.options!.startSequence).toBe(Math.max(...written.get(uid)!) + 1);
      expect(r.options!.discontinuity).toBe(true);
      // Its timeline goes on exactly where the last segment ends (scripted: at sequence + 1 s, 1 s long).
      expect(r.options!.timelineStartSeconds).toBeCloseTo(Math.max(...written.get(uid)!) + 2, 6);
    }
    await atLeast(id, '10-av', written.get(10)!.length + 2);
    await requestControl(id, 'stop');
    const result = await resumed;
    expect(result).toMatchObject({ outcome: 'uploaded', users: 2 });
    for (const uid of [10, 20]) {
      const index = await trackIndex(id, `${uid}-av`);
      expect(index.every((s) => s.location === 'primary')).toBe(true);
      const sequences = index.map((s) => s.sequence);
      // Every segment the first worker finished is in the playlist, then the second's after one discontinuity.
      expect(sequences.slice(0, written.get(uid)!.length)).toEqual(written.get(uid));
      expect(sequences).toEqual([...sequences.keys()]);
      const text = await playlistOf(id, uid);
      expect(listed(text)).toHaveLength(index.length);
      expect(text.match(/#EXT-X-DISCONTINUITY/g)).toHaveLength(1);
    }
    const manifest = await manifestOf(id);
    // The users were still there: their interval goes on, across the resume.
    expect(manifest.users.map((u) => u.intervals.length)).toEqual([1, 1]);
    expect(manifest.users[0]!.tracks[0]!.segments).toBe((await trackIndex(id, '10-av')).length);
    expect(await bed.recordFields(id)).toMatchObject({
      state: 'uploaded',
      epoch: '2',
      owner: 'test:resumed',
    });
  });

  it("a standby (redundancy 2) takes every user's track over from its window when the owner dies", async () => {
    const id = 'chan-standby';
    const { run: first, directory } = await twoUsersRecording(id, 2);
    // A worker on another host stands by: it records both users beside the owner.
    const record = new RecordingRecord(bed.redis, PREFIX, id);
    const rules = { ...TEST_OWNERSHIP, identity: 'other:standby', host: 'other' };
    expect(await record.takeStandby(rules)).toEqual({ type: 'standby' });
    const standbyRecorders: ScriptedRecorder[] = [];
    const spec = parseRecordingJob((await first.job()).data);
    const standby = new ChannelStandby({
      spec,
      record,
      identity: rules.identity,
      directory,
      recordingDir: join(bed.spoolDir, id),
      createRecorder: () => {
        const r = new ScriptedRecorder({ segmentMs: 80 });
        standbyRecorders.push(r);
        return r;
      },
      gapSeconds: 2,
      windowSeconds: 60,
      heartbeatMs: 100,
      log: createLogger('silent'),
    });
    await standby.start();
    expect(standbyRecorders.map((r) => r.options!.alignToSource)).toEqual([true, true]);
    await expect.poll(() => standbyRecorders.every((r) => r.sequences.length >= 3)).toBe(true);
    // Its heartbeat holds the standby role meanwhile.
    expect((await bed.recordFields(id)).standby).toBe(rules.identity);

    // The owner dies; the standby's worker claims the recording and hands its recorders to the session.
    for (const r of first.recorders) r.kill();
    await first.ownerships[0]!.release();
    const ownerLast = new Map(
      await Promise.all(
        [10, 20].map(async (uid) => [uid, (await trackIndex(id, `${uid}-av`)).length] as const),
      ),
    );
    await new Promise((r) => setTimeout(r, 700));
    const handover = standby.handOver();
    expect([...handover.keys()].sort()).toEqual(['10-av', '20-av']);
    const recorders: ScriptedRecorder[] = [];
    const log = createLogger('silent');
    const job = await first.job();
    const second = channelSession(
      { job, token: undefined, record, log, ownership: testOwnership(record, rules.identity, log) },
      directory,
      recorders,
      { standby: handover, alignToSource: true },
    );
    const resumed = second.run();
    expect(await first.outcome).toBeInstanceOf(SessionFencedError);
    await expect.poll(async () => (await events(id)).filter((e) => e.type === 'takeover').length).toBe(2);
    for (const uid of [10, 20]) await atLeast(id, `${uid}-av`, ownerLast.get(uid)! + 3);
    await requestControl(id, 'stop');
    const result = await resumed;
    expect(result).toMatchObject({ outcome: 'uploaded', users: 2 });
    // No recorder was started afresh: the standby's continued each user's track.
    expect(recorders).toHaveLength(0);
    for (const uid of [10, 20]) {
      const index = await trackIndex(id, `${uid}-av`);
      expect(index.map((s) => s.sequence)).toEqual([...index.keys()]);
      expect(index.every((s) => s.location === 'primary')).toBe(true);
      expect(new Set(index.map((s) => s.epoch))).toEqual(new Set([1, 2]));
      const text = await playlistOf(id, uid);
      expect(listed(text)).toHaveLength(index.length);
      expect(text.match(/#EXT-X-DISCONTINUITY/g)).toHaveLength(1);
    }
    // The window's files moved into the tracks' folders or went: the standby folder is empty.
    const left = await readdir(join(bed.spoolDir, id, '.standby'), { recursive: true }).catch(() => []);
    expect(left.filter((f) => f.endsWith('.ts'))).toEqual([]);
    const takeovers = (await events(id)).filter((e) => e.type === 'takeover');
    expect(takeovers.map((e) => e.data.track).sort()).toEqual(['10-av', '20-av']);
  });

  it("hands off at a segment boundary of every track; the next worker continues each user's playlist", async () => {
    const id = 'chan-handoff';
    const { run } = await twoUsersRecording(id, 2);
    await run.sessions[0]!.handOff();
    const first = await run.outcomes[0]!;
    expect((first as Error).name).toBe('WaitingError');
    const handedOff = run.recorders.map((r) => ({
      url: r.options!.sourceUrl,
      last: Math.max(...r.sequences),
    }));
    // Each user's recorder ended at its next cut, abandoning the segment that cut opened (not stopped
    // mid-segment, whose junction with the next owner's first segment does not decode cleanly).
    expect(run.recorders.map((r) => r.endedWith)).toEqual([
      { type: 'stopped', reason: 'cancelled' },
      { type: 'stopped', reason: 'cancelled' },
    ]);
    // The job runs again (here, on the same host): every user still publishing is recorded on.
    await expect.poll(() => run.recorders.length).toBe(4);
    for (const r of run.recorders.slice(2)) {
      const before = handedOff.find((h) => h.url === r.options!.sourceUrl)!;
      expect(r.options!.startSequence).toBe(before.last + 1);
      expect(r.options!.discontinuity).toBe(true);
    }
    await atLeast(id, '10-av', handedOff[0]!.last + 3);
    await requestControl(id, 'stop');
    const result = (await run.outcomes[1]!) as RecordingResult;
    expect(result).toMatchObject({ outcome: 'uploaded', users: 2 });
    const types = await bed.eventTypes(id);
    expect(types.filter((t) => t === 'handoff')).toHaveLength(1);
    // No user left at the hand-off: their intervals go on with the next worker.
    expect(await userEvents(id, 10)).toEqual(['user_joined', 'user_joined', 'user_left:recording_ended']);
    const manifest = await manifestOf(id);
    expect(manifest.users.map((u) => u.intervals.length)).toEqual([1, 1]);
    for (const uid of [10, 20]) {
      const text = await playlistOf(id, uid);
      expect(text.match(/#EXT-X-DISCONTINUITY/g)).toHaveLength(1);
      expect(listed(text)).toHaveLength((await trackIndex(id, `${uid}-av`)).length);
    }
    expect(await bed.recordFields(id)).toMatchObject({ state: 'uploaded', epoch: '2', owner: 'test:1' });
  });

  it('backs every track up when the primary refuses, and the drain then delivers every playlist and the manifest', async () => {
    const id = 'chan-backed-up';
    const local = new LocalDiskStorage(bed.storeRoot);
    let refusing = true;
    const primary = storeWithPut(local, (key, body) =>
      refusing
        ? Promise.reject(new StorageError('STORAGE_REFUSED', `${key}: refused`))
        : local.put(key, body),
    );
    const backupStore = new LocalDiskStorage(join(bed.dir, 'backup'));
    const directory = new ScriptedDirectory();
    const run = await runChannel(
      id,
      directory,
      {},
      {
        store: primary,
        backup: { policy: { store: backupStore, afterAttempts: 1, afterSeconds: 1 }, profile: 'backup' },
      },
    );
    directory.publish(10);
    directory.publish(20, { audio: true, video: false });
    await atLeast(id, '10-av', 2);
    await atLeast(id, '20-audio', 2);
    await requestControl(id, 'stop');
    const result = (await run.outcome) as RecordingResult;
    expect(result.outcome).toBe('backed_up');
    expect(await bed.recordFields(id)).toMatchObject({ state: 'backed_up', kind: 'channel' });
    // The primary took no manifest: the record names none until the drain has written it.
    expect((await bed.recordFields(id)).manifestKey).toBeUndefined();
    expect(await bed.redis.sismember(backedUpSetKey(PREFIX), id)).toBe(1);

    refusing = false;
    const config = WorkerConfigSchema.parse({ redisUrl: bed.url, keyPrefix: PREFIX });
    const stores: Record<string, StorageAdapter> = { local: primary, backup: backupStore };
    const drain = new BackupDrainWorker(config, { get: (name) => stores[name]! }, createLogger('silent'));
    try {
      expect(await drain.drainAll()).toBe(1);
    } finally {
      await drain.close();
    }
    expect(await bed.recordFields(id)).toMatchObject({
      state: 'uploaded',
      manifestKey: manifestObjectKey(id, 'room'),
    });
    for (const [uid, type, track] of [
      [10, 'av', '10-av'],
      [20, 'audio', '20-audio'],
    ] as const) {
      const index = await trackIndex(id, track);
      expect(index.every((s) => s.location === 'primary')).toBe(true);
      const text = await playlistOf(id, uid, type);
      expect(listed(text)).toHaveLength(index.length);
      expect(text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    }
    const manifest = await manifestOf(id);
    expect(manifest.ended).toBe(true);
    expect(manifest.users.map((u) => u.tracks[0]!.type)).toEqual(['av', 'audio']);
    // One terminal event (backed_up), then the drain's `drained`: not a second outcome.
    const all = await events(id);
    expect(
      all.filter((e) => ['uploaded', 'backed_up', 'fatal_error'].includes(e.type)).map((e) => e.type),
    ).toEqual(['backed_up']);
    expect(all.at(-1)).toMatchObject({
      type: 'drained',
      data: { playlistKey: manifestObjectKey(id, 'room') },
    });
  });
});
