/**
 * Fault: the worker holding a three-user channel recording dies (`kill -9`) while the segments it
 * finished still wait in its spool (its store throttles every request), or is told to stop (SIGTERM)
 * while another worker is there. Either way another worker process resumes every user's track within
 * the kill→resume bound of a single stream (10 s), each in the same playlist after one discontinuity;
 * after a crash the killed host's spool recovery delivers what it had finished into each user's
 * playlist. Checked object by object in S3 (s3rver), and by FFmpeg.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { ChannelManifestSchema, encodeChannelForKey, type RecordingEvent } from '@recfleet/contract';
import type { ChannelUserPublisher } from '@recfleet/embedded';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCorruptingProxy, type CorruptingProxy } from '../src/fakes/corrupting-proxy.js';
import { ChannelFleet, scaled, USER_MEDIA } from '../src/harness/channel-fleet.js';
import {
  checkTrackObjects,
  measureStretches,
  programDateProblems,
  readPlaylist,
  segmentObjects,
} from '../src/harness/channel-media.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { s3rverProfile, s3rverStorage } from '../src/harness/s3rver-bucket.js';

const APP = 'fault';
const USERS = [11, 12, 13];
/** The bound the single-stream kill test holds a resume to (README: lockSeconds + 2 × stalledCheckSeconds + join). */
const RESUME_BOUND_MS = 10_000;
const SOURCE = { pattern: 'testsrc2', ...USER_MEDIA };

let fleet: ChannelFleet;
let s3: { run(): Promise<{ port: number }>; close(): Promise<void> };
let s3Url: string;
let throttling: CorruptingProxy;
let clean: CorruptingProxy;

/** A worker host whose store is reached through `proxy`. */
function worker(name: string, proxy: CorruptingProxy, spool = name) {
  return fleet.worker(
    name,
    { storageProfiles: { s3: s3rverProfile(proxy.url) }, uploadAttemptTimeoutSeconds: 3 },
    spool,
  );
}

beforeAll(async () => {
  fleet = await ChannelFleet.start();
  s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: join(fleet.dir, 's3'), silent: true });
  const { port } = await s3.run();
  s3Url = `http://127.0.0.1:${port}`;
  await s3rverStorage(s3Url).client.send(new CreateBucketCommand({ Bucket: 'rec' }));
  throttling = await startCorruptingProxy(s3Url);
  clean = await startCorruptingProxy(s3Url);
});

afterAll(async () => {
  await fleet?.stop();
  await throttling?.close();
  await clean?.close();
  await s3?.close();
});

const ofType = (events: RecordingEvent[], type: string, uid?: number): RecordingEvent[] =>
  events.filter((e) => e.type === type && (uid === undefined || e.data.uid === uid));

/** The three users publishing in `channel`, and a recording of them on S3 that the first worker takes. */
async function recordThree(channel: string): Promise<{
  recordingId: string;
  events: RecordingEvent[];
  done: Promise<void>;
  publishers: ChannelUserPublisher[];
}> {
  const publishers = await Promise.all(USERS.map((uid) => fleet.publish(APP, channel, uid)));
  const { recordingId } = await fleet.start({
    appId: APP,
    channel,
    uid: 1,
    storageProfile: 's3',
    recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 20, maxUsers: 4 },
  });
  const { events, done } = fleet.follow(recordingId);
  return { recordingId, events, done, publishers };
}

/** Waits until every user has `n` events of `type` after `since`. */
async function eachUser(events: RecordingEvent[], type: string, n: number, since = 0, timeout = 20_000) {
  await expect
    .poll(() => USERS.map((uid) => ofType(events, type, uid).filter((e) => e.at > since).length >= n), {
      timeout: scaled(timeout),
      interval: 100,
    })
    .toEqual(USERS.map(() => true));
}

/** When each user's track started again after `since` (its `started` event), ms after `since`. */
function resumeTimes(events: RecordingEvent[], since: number): Record<string, number> {
  return Object.fromEntries(
    events.filter((e) => e.type === 'started' && e.at > since).map((e) => [e.data.track, e.at - since]),
  );
}

/** A user track of the recording, and whether it went on under the second owner. */
interface ExpectedTrack {
  uid: number;
  type: 'av' | 'audio';
  resumed: boolean;
}

const AV_TRACKS: ExpectedTrack[] = USERS.map((uid) => ({ uid, type: 'av', resumed: true }));

/**
 * The recording in S3, object by object and by FFmpeg: each track's playlist lists exactly the indexed
 * segments, each there with its size; a resumed track's were recorded under two owners' epochs, with one
 * discontinuity where the second took over; every segment either owner reported is in it; FFmpeg decodes
 * it without an error line, and its dates match the publisher's clock in every stretch. The final
 * manifest has every track with its figures.
 */
async function verifyResumed(
  recordingId: string,
  channel: string,
  events: RecordingEvent[],
  publishers: ChannelUserPublisher[],
  tracks: ExpectedTrack[],
): Promise<Record<string, unknown>> {
  const local = join(fleet.dir, `download-${recordingId}`);
  await mkdir(local);
  const s = s3rverStorage(s3Url);
  for (const o of await s.list('')) {
    if (o.key.startsWith(recordingId)) await writeFile(join(local, o.key), (await s.get(o.key))!);
  }
  const base = `${recordingId}_${encodeChannelForKey(channel)}`;
  const manifest = ChannelManifestSchema.parse(
    JSON.parse(await readFile(join(local, `${base}.json`), 'utf8')),
  );
  expect(manifest.ended).toBe(true);
  const listed: string[] = [];
  const figures: Record<string, unknown> = {};
  for (const { uid, type, resumed } of tracks) {
    const id = `${uid}-${type}`;
    const index = await fleet.trackIndex(recordingId, id);
    const playlist = await readPlaylist(join(local, `${base}__uid_s_${uid}__uid_e_${type}.m3u8`));
    expect(playlist.ended).toBe(true);
    expect(await checkTrackObjects(local, playlist, index)).toEqual([]);
    listed.push(...playlist.entries.map((e) => e.uri));
    expect(new Set(index.map((x) => x.epoch)).size, `owners of ${id}'s segments`).toBe(resumed ? 2 : 1);
    expect(index.map((x) => x.sequence)).toEqual([...index.keys()]);
    const reported = ofType(events, 'segment', uid)
      .filter((e) => e.data.track === id)
      .map((e) => e.data.sequence as number);
    expect(
      index.map((x) => x.sequence),
      `every segment reported for ${id} is delivered`,
    ).toEqual(expect.arrayContaining(reported));
    expect(playlist.entries.filter((e) => e.discontinuity)).toHaveLength(resumed ? 1 : 0);
    expect(decodePlaylist(playlist.path).errors, `ffmpeg on ${id}'s playlist`).toBe('');
    const inManifest = manifest.users.find((u) => u.uid === uid)?.tracks.find((t) => t.type === type);
    expect(inManifest?.segments, `${id} in the manifest`).toBe(index.length);
    if (type !== 'av') continue;
    const publisher = publishers[USERS.indexOf(uid)]!;
    // The truth is the publisher's timeline as the server saw it (see channel-users.test.ts).
    const stretches = measureStretches(playlist, SOURCE, () => publisher.timelineOrigin!);
    figures[id] = {
      segments: index.length,
      // Media the resume lost (negative: media recorded twice, before and after the discontinuity).
      ...(resumed ? { gapMs: Math.round(stretches[1]!.startMs - stretches[0]!.endMs) } : {}),
      dateErrorsMs: stretches.map((x) => x.programDateTimeErrorsMs),
    };
    expect(stretches.flatMap((x, i) => programDateProblems(x, `${id}, stretch ${i}`))).toEqual([]);
  }
  expect(await segmentObjects(local, recordingId)).toEqual(listed.sort());
  return figures;
}

describe('a channel recording of three users when its worker goes', () => {
  it('kill -9: every user resumes elsewhere within the bound, with the subscriptions of an update; spool recovery delivers what the dead host finished', async () => {
    throttling.faults.throttleNext = 1_000_000;
    const a = await worker('a', throttling);
    const channel = 'crash room';
    const { recordingId, events, done, publishers } = await recordThree(channel);
    await eachUser(events, 'segment', 2);
    // An update before the crash: user 13's video is no longer recorded (their av track ends, an audio
    // track starts). The next owner must go on with it, not with the job's subscriptions.
    await fleet.client.update(recordingId, { unsubscribeVideoUids: [13] });
    const audioSegments = (): number =>
      ofType(events, 'segment', 13).filter((e) => e.data.track === '13-audio').length;
    await expect.poll(audioSegments, { timeout: scaled(10_000), interval: 100 }).toBeGreaterThanOrEqual(2);
    expect(ofType(events, 'user_left', 13).map((e) => [e.data.track, e.data.reason])).toEqual([
      ['13-av', 'unsubscribed'],
    ]);

    await worker('b', clean);
    const killedAt = Date.now();
    const tracks = ['11-av', '12-av', '13-av', '13-audio'];
    const reportedBeforeKill = Object.fromEntries(
      tracks.map((t) => [t, events.filter((e) => e.type === 'segment' && e.data.track === t).length]),
    );
    await a.kill();
    const resumedTracks = ['11-av', '12-av', '13-audio'];
    await expect
      .poll(() => resumedTracks.every((t) => resumeTimes(events, killedAt)[t] !== undefined), {
        timeout: scaled(15_000),
        interval: 100,
      })
      .toBe(true);
    const resumed = resumeTimes(events, killedAt);
    const joined = ofType(events, 'joined').find((e) => e.at > killedAt)!.at - killedAt;
    process.stdout.write(
      `kill -9 → joined ${joined} ms; each user's track started again: ${JSON.stringify(resumed)}\n`,
    );
    expect(Object.keys(resumed).sort()).toEqual([...resumedTracks].sort());
    for (const t of resumedTracks)
      expect(resumed[t], `track ${t} resumed`).toBeLessThanOrEqual(RESUME_BOUND_MS);

    await eachUser(events, 'uploaded_segment', 2, killedAt);
    await fleet.client.stop(recordingId);
    await done;
    expect(events.at(-1)?.type, JSON.stringify(events.at(-1)?.data)).toBe('uploaded');
    expect(await fleet.terminalEvents(recordingId)).toHaveLength(1);

    // The dead host had finished segments it could not deliver: they wait in one folder per track.
    const spool = join(fleet.dir, 'spool-a', recordingId);
    const waiting = Object.fromEntries(
      await Promise.all(
        tracks.map(async (t) => [
          t,
          (await readdir(join(spool, t)).catch(() => [])).filter((f) => f.endsWith('.ts')).length,
        ]),
      ),
    );
    process.stdout.write(
      `segments in the killed host's spool: ${JSON.stringify(waiting)}, reported before the kill: ${JSON.stringify(reportedBeforeKill)}\n`,
    );
    for (const t of tracks) expect(waiting[t], t).toBeGreaterThanOrEqual(reportedBeforeKill[t]! - 1);

    // The host comes back (its store fixed): spool recovery delivers them into each user's playlist.
    throttling.faults.throttleNext = 0;
    await worker('a2', clean, 'a');
    await expect
      .poll(
        async () => {
          const indexes = await Promise.all(tracks.map((t) => fleet.trackIndex(recordingId, t)));
          return indexes.every((index) => index.every((x) => x.location === 'primary'));
        },
        { timeout: scaled(30_000), interval: 250 },
      )
      .toBe(true);
    await expect.poll(() => readdir(spool).catch(() => []), { timeout: scaled(10_000) }).toEqual([]);

    const figures = await verifyResumed(recordingId, channel, events, publishers, [
      { uid: 11, type: 'av', resumed: true },
      { uid: 12, type: 'av', resumed: true },
      { uid: 13, type: 'av', resumed: false },
      { uid: 13, type: 'audio', resumed: true },
    ]);
    process.stdout.write(`kill -9, per track: ${JSON.stringify(figures)}\n`);
    for (const p of publishers) await p.stop();
  });

  it('SIGTERM with another worker present: every user is handed over at a segment boundary', async () => {
    for (const w of fleet.workers) await w.stop('SIGTERM', 15_000);
    const a = await worker('c', clean);
    const channel = 'handoff room';
    const { recordingId, events, done, publishers } = await recordThree(channel);
    await eachUser(events, 'uploaded_segment', 2);

    await worker('d', clean);
    const terminatedAt = Date.now();
    await a.stop('SIGTERM', 15_000);
    expect(a.running).toBe(false);
    expect(ofType(events, 'handoff')).toHaveLength(1);
    await eachUser(events, 'started', 1, terminatedAt, 15_000);
    const resumed = resumeTimes(events, terminatedAt);
    process.stdout.write(`SIGTERM → each user's track started again: ${JSON.stringify(resumed)}\n`);
    for (const uid of USERS)
      expect(resumed[`${uid}-av`], `user ${uid} resumed`).toBeLessThanOrEqual(RESUME_BOUND_MS);

    await eachUser(events, 'uploaded_segment', 2, terminatedAt);
    await fleet.client.stop(recordingId);
    await done;
    expect(events.at(-1)?.type, JSON.stringify(events.at(-1)?.data)).toBe('uploaded');
    expect(await fleet.terminalEvents(recordingId)).toHaveLength(1);
    await expect
      .poll(async () => (await fleet.client.get(recordingId)).jobState, { timeout: scaled(10_000) })
      .toBe('completed');
    // A hand-off loses no finished segment: every one reported is delivered, none of them in a spool.
    for (const uid of USERS) {
      const index = await fleet.trackIndex(recordingId, `${uid}-av`);
      expect(index.map((x) => x.sequence)).toEqual(
        ofType(events, 'segment', uid).map((e) => e.data.sequence),
      );
    }
    const figures = await verifyResumed(recordingId, channel, events, publishers, AV_TRACKS);
    process.stdout.write(`SIGTERM, per user: ${JSON.stringify(figures)}\n`);
    for (const p of publishers) await p.stop();
  });
});
