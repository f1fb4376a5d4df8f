/**
 * A channel of users recorded end to end with the real parts: a worker process whose channel directory
 * is the embedded channel server, three users publishing test patterns, the producer's RecordingClient.
 * User 11 is there before the recording starts, user 12 joins later, leaves and comes back, user 13
 * publishes all along but is not subscribed until an update adds them. The media is judged by FFmpeg
 * alone: every stretch of every playlist is placed on its publisher's own timeline by picture (the
 * publisher's frame number), so durations and program date-times are compared with what the publishers
 * really did, and the manifest's timeline with when the server saw them come and go.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ChannelManifestSchema,
  encodeChannelForKey,
  type RecordingEvent,
  type RecordingResult,
} from '@recfleet/contract';
import type { ChannelUserPublisher } from '@recfleet/embedded';
import { LIVE_PLAYLIST_SUFFIX } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled, USER_MEDIA } from '../src/harness/channel-fleet.js';
import {
  checkTrackObjects,
  DATE_TOLERANCE_MS,
  measureStretches,
  programDateProblems,
  readPlaylist,
  segmentObjects,
  type MeasuredStretch,
} from '../src/harness/channel-media.js';
import { decodePlaylist } from '../src/harness/media-check.js';

const APP = 'e2e';
const CHANNEL = 'call 7';
const RECORDER_UID = 9;
const [A, B, C] = [11, 12, 13];
const SOURCE = { pattern: 'testsrc2', ...USER_MEDIA };
/** What the issue asks of durations and the timeline: within 1 s (program dates: channel-media.ts). */
const TIMELINE_TOLERANCE_MS = 1000;
/** The publishers' keyframe interval. */
const GOP_MS = (USER_MEDIA.gop / USER_MEDIA.frameRate) * 1000;

let fleet: ChannelFleet;
beforeAll(async () => {
  fleet = await ChannelFleet.start();
});
afterAll(async () => {
  await fleet?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Where the publisher's timeline starts as the channel server saw it (its frames' arrival minus their
 * timestamps): the truth the recorder's dates are held to, free of the publisher's own encoding delay.
 */
function originOf(p: ChannelUserPublisher): number {
  if (p.timelineOrigin === undefined) throw new Error(`publisher ${p.uid} reported no timeline origin`);
  return p.timelineOrigin;
}

/** How much later the publisher's own clock puts its frame 0 than the server's view (for the figures). */
function clockShift(p: ChannelUserPublisher): number {
  return originOf(p) - (p.startedAt() ?? Number.NaN);
}

const ofType = (events: RecordingEvent[], type: string, uid?: number): RecordingEvent[] =>
  events.filter((e) => e.type === type && (uid === undefined || e.data.uid === uid));

describe('a channel of three users', () => {
  it('records each user into their own playlist, right in duration, dates and timeline', async () => {
    const worker = await fleet.worker('w1');
    const a = await fleet.publish(APP, CHANNEL, A);
    const c = await fleet.publish(APP, CHANNEL, C);
    const token = fleet.server.channelToken(APP, CHANNEL);
    const { recordingId } = await fleet.start({
      appId: APP,
      channel: CHANNEL,
      uid: RECORDER_UID,
      token,
      recordingConfig: {
        segmentSeconds: 1,
        maxIdleSeconds: 20,
        maxUsers: 4,
        unsubscribeAudioUids: [C],
        unsubscribeVideoUids: [C],
      },
    });
    const { events, done } = fleet.follow(recordingId);
    const recorded = (uid: number, n = 1): boolean =>
      ofType(events, 'user_joined', uid).filter((e) => e.data.recorded === true).length >= n;
    await expect.poll(() => recorded(A), { timeout: scaled(20_000), interval: 100 }).toBe(true);
    const joinedAt = ofType(events, 'joined')[0]!.at;

    await sleep(3000);
    const b1 = await fleet.publish(APP, CHANNEL, B);
    await expect.poll(() => recorded(B), { timeout: scaled(10_000), interval: 100 }).toBe(true);
    await sleep(3500);
    const b1Left = await b1.stop();
    await expect
      .poll(() => ofType(events, 'user_left', B).length, { timeout: scaled(10_000), interval: 100 })
      .toBe(1);
    await sleep(1500);
    const b2 = await fleet.publish(APP, CHANNEL, B);
    await expect.poll(() => recorded(B, 2), { timeout: scaled(10_000), interval: 100 }).toBe(true);
    await sleep(2000);
    const updatedAt = Date.now();
    const update = await fleet.client.update(recordingId, {
      unsubscribeAudioUids: null,
      unsubscribeVideoUids: null,
    });
    expect(update.version).toBe(1);
    await expect.poll(() => recorded(C), { timeout: scaled(10_000), interval: 100 }).toBe(true);
    await sleep(4000);
    const stopAt = Date.now();
    await fleet.client.stop(recordingId);
    await done;
    expect(events.at(-1)?.type, JSON.stringify(events.at(-1))).toBe('uploaded');

    // The result and the record name every playlist and the manifest.
    const base = `${recordingId}_${encodeChannelForKey(CHANNEL)}`;
    const playlistOf = (uid: number): string => `${base}__uid_s_${uid}__uid_e_av.m3u8`;
    const result = events.at(-1)!.data as unknown as RecordingResult;
    expect(result).toMatchObject({
      outcome: 'uploaded',
      stopReason: 'requested',
      manifestKey: `${base}.json`,
      playlistKey: `${base}.json`,
      users: 3,
    });
    expect(result.playlists?.map((p) => [p.uid, p.type, p.key]).sort()).toEqual(
      [A, B, C].map((uid) => [uid, 'av', playlistOf(uid)]),
    );
    const status = await fleet.client.get(recordingId);
    expect(status.state).toBe('uploaded');
    expect(status.users?.map((u) => u.uid).sort()).toEqual([A, B, C]);
    expect(status).toMatchObject({
      kind: 'channel',
      manifestKey: `${base}.json`,
      manifestLocation: join(fleet.storageRoot, `${base}.json`),
    });

    // Events: joins and leaves with uid and track, the update, one terminal event.
    const track = (uid: number): string => `${uid}-av`;
    expect(ofType(events, 'user_joined', C)[0]?.data).toMatchObject({ uid: C, recorded: false });
    expect(ofType(events, 'user_not_recorded', C)[0]?.data).toMatchObject({ uid: C, reason: 'unsubscribed' });
    expect(ofType(events, 'updated')).toHaveLength(1);
    expect(ofType(events, 'updated')[0]!.data).toMatchObject({ version: 1, subscriptions: {} });
    for (const uid of [A, B, C]) {
      const joins = ofType(events, 'user_joined', uid).filter((e) => e.data.recorded === true);
      expect(joins.map((e) => e.data.track)).toEqual(uid === B ? [track(B), track(B)] : [track(uid)]);
      const leaves = ofType(events, 'user_left', uid).map((e) => [e.data.track, e.data.reason]);
      expect(leaves).toEqual([...(uid === B ? [[track(B), 'left']] : []), [track(uid), 'recording_ended']]);
      expect(ofType(events, 'segment', uid).every((e) => e.data.track === track(uid))).toBe(true);
      expect(ofType(events, 'started', uid).length).toBe(uid === B ? 2 : 1);
    }
    expect(await fleet.terminalEvents(recordingId)).toHaveLength(1);
    // Progress has the totals and every user's figures.
    const progress = ofType(events, 'progress').at(-1)!.data as {
      segments: number;
      users: { uid: number; track: string; segments: number }[];
    };
    expect(progress.users.map((u) => u.track).sort()).toEqual([A, B, C].map(track));
    expect(progress.segments).toBe(progress.users.reduce((n, u) => n + u.segments, 0));

    // Every object in the store, one by one: each track's indexed segments with their sizes, listed in
    // its playlist in order, and nothing else of the recording.
    const root = fleet.storageRoot;
    const listed: string[] = [];
    for (const uid of [A, B, C]) {
      const playlist = await readPlaylist(join(root, playlistOf(uid)));
      expect(playlist.ended).toBe(true);
      expect(
        await checkTrackObjects(root, playlist, await fleet.trackIndex(recordingId, track(uid))),
      ).toEqual([]);
      listed.push(...playlist.entries.map((e) => e.uri));
    }
    expect(await segmentObjects(root, recordingId)).toEqual([...listed].sort());
    // Beside each complete playlist, its live one (a window of the newest segments, ended too).
    const everything = (await readdir(root)).filter((f) => f.startsWith(recordingId)).sort();
    const liveOf = (uid: number): string => playlistOf(uid).replace(/\.m3u8$/, LIVE_PLAYLIST_SUFFIX);
    expect(everything).toEqual(
      [...listed, ...[A, B, C].flatMap((uid) => [playlistOf(uid), liveOf(uid)]), `${base}.json`].sort(),
    );
    for (const uid of [A, B, C]) expect((await readPlaylist(join(root, liveOf(uid)))).ended).toBe(true);

    const publishersOf = (uid: number): ChannelUserPublisher[] =>
      uid === A ? [a] : uid === B ? [b1, b2] : [c];
    // The media, by FFmpeg: every playlist decodes without an error line; B's has one discontinuity.
    const measured = new Map<number, MeasuredStretch[]>();
    for (const uid of [A, B, C]) {
      const path = join(root, playlistOf(uid));
      expect(decodePlaylist(path).errors, `ffmpeg on ${uid}'s playlist`).toBe('');
      const playlist = await readPlaylist(path);
      expect(playlist.entries.filter((e) => e.discontinuity).length).toBe(uid === B ? 1 : 0);
      const publishers = publishersOf(uid);
      measured.set(
        uid,
        measureStretches(playlist, SOURCE, (stretch) => originOf(publishers[stretch]!)),
      );
    }

    // What each user's stretches should be: A from the join, B while publishing (twice), C from the
    // update, everyone to the stop.
    const expected = new Map<number, [number, number][]>([
      [A, [[joinedAt, stopAt]]],
      [
        B,
        [
          [b1.publishedAt, b1Left],
          [b2.publishedAt, stopAt],
        ],
      ],
      [C, [[updatedAt, stopAt]]],
    ]);
    const figures: Record<string, unknown>[] = [];
    for (const [uid, stretches] of measured) {
      const want = expected.get(uid)!;
      expect(stretches.length, `stretches of ${uid}`).toBe(want.length);
      stretches.forEach((s, i) => {
        const [from, to] = want[i]!;
        figures.push({
          uid,
          stretch: i,
          durationSeconds: Number(s.durationSeconds.toFixed(3)),
          expectedSeconds: (to - from) / 1000,
          fromFirstFrameSeconds: (to - s.startMs) / 1000,
          startErrorMs: Math.round(s.startMs - from),
          endErrorMs: Math.round(s.endMs - to),
          dateErrorsMs: [Math.min(...s.programDateTimeErrorsMs), Math.max(...s.programDateTimeErrorsMs)],
          // Against the publisher's own clock: the same, plus its encoding and sending.
          publisherClockErrorsMs: [
            Math.min(...s.programDateTimeErrorsMs),
            Math.max(...s.programDateTimeErrorsMs),
          ].map((e) => Math.round(e + clockShift(publishersOf(uid)[i]!))),
        });
      });
    }
    process.stdout.write(`channel users, measured: ${JSON.stringify(figures)}\n`);
    // Across users the dates agree with the publishers' timing: every date is off by about the same,
    // whoever the user.
    const dateErrors = [...measured.values()].flatMap((st) => st.flatMap((x) => x.programDateTimeErrorsMs));
    expect(Math.max(...dateErrors) - Math.min(...dateErrors), 'date errors across users').toBeLessThanOrEqual(
      DATE_TOLERANCE_MS,
    );
    for (const [uid, stretches] of measured) {
      const want = expected.get(uid)!;
      stretches.forEach((s, i) => {
        const [from, to] = want[i]!;
        const what = `user ${uid}, stretch ${i}`;
        // A recorder that starts on a user already publishing gets node-media-server's GOP cache: its
        // media begins at the keyframe before it asked, up to one GOP early.
        expect(s.startMs - from, `${what}: start`).toBeGreaterThanOrEqual(-(GOP_MS + DATE_TOLERANCE_MS));
        expect(s.startMs - from, `${what}: start`).toBeLessThanOrEqual(TIMELINE_TOLERANCE_MS);
        expect(Math.abs(s.endMs - to), `${what}: end`).toBeLessThanOrEqual(TIMELINE_TOLERANCE_MS);
        // FFmpeg's duration of the stretch is the time from its first frame to when it should end.
        expect(
          Math.abs(s.durationSeconds * 1000 - (to - s.startMs)),
          `${what}: duration`,
        ).toBeLessThanOrEqual(TIMELINE_TOLERANCE_MS);
        expect(programDateProblems(s, what)).toEqual([]);
      });
    }

    // The manifest: final, every user with their playlist and the timeline the server saw.
    const manifest = ChannelManifestSchema.parse(
      JSON.parse(await readFile(join(root, `${base}.json`), 'utf8')),
    );
    expect(manifest).toMatchObject({
      recordingId,
      appId: APP,
      channel: CHANNEL,
      ended: true,
      mode: 'individual',
    });
    expect(manifest.users.map((u) => u.uid).sort()).toEqual([A, B, C]);
    for (const u of manifest.users) {
      const want = expected.get(u.uid)!;
      expect(u.intervals.length, `intervals of ${u.uid}`).toBe(want.length);
      u.intervals.forEach((interval, i) => {
        const [from, to] = want[i]!;
        expect(Math.abs(Date.parse(interval.joinedAt) - from), `${u.uid} joined`).toBeLessThanOrEqual(
          TIMELINE_TOLERANCE_MS,
        );
        expect(Math.abs(Date.parse(interval.leftAt!) - to), `${u.uid} left`).toBeLessThanOrEqual(
          TIMELINE_TOLERANCE_MS,
        );
        expect(interval.reason).toBe(i < want.length - 1 ? 'left' : 'recording_ended');
        expect([interval.audio, interval.video]).toEqual([true, true]);
      });
      const stretches = measured.get(u.uid)!;
      expect(u.tracks).toHaveLength(1);
      expect(u.tracks[0]).toMatchObject({
        type: 'av',
        playlist: playlistOf(u.uid),
        segments: stretches.reduce((n, s) => n + s.segments, 0),
      });
      const seconds = stretches.reduce((n, s) => n + s.durationSeconds, 0);
      expect(Math.abs(u.tracks[0]!.durationSeconds - seconds)).toBeLessThanOrEqual(1);
      const firstDate = Date.parse(u.tracks[0]!.firstProgramDateTime!);
      expect(Math.abs(firstDate - stretches[0]!.startMs)).toBeLessThanOrEqual(DATE_TOLERANCE_MS);
    }

    // The channel token admitted the recorder and appears nowhere: not in the worker's output, the
    // record, the users, the indexes, the events, the job's log and result, or the store.
    // Nothing went wrong, so the worker warned of nothing.
    expect(
      worker
        .log()
        .split('\n')
        .filter((l) => /"level":[456]0/.test(l)),
    ).toEqual([]);
    const secret = token.slice(token.indexOf('-') + 1);
    expect(worker.log()).not.toContain(secret);
    expect(await fleet.redisText(recordingId)).not.toContain(secret);
    expect(await fleet.jobText(recordingId)).not.toContain(secret);
    for (const name of [`${base}.json`, ...[A, B, C].map(playlistOf)]) {
      expect(await readFile(join(root, name), 'utf8')).not.toContain(secret);
    }
  });
});
