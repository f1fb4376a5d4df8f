/**
 * Fault: Redis is away in the middle of recordings — killed (kill -9) and started again from its AOF, or
 * hung (SIGSTOP) — while one worker process records a single stream and a channel recording of two users.
 * Nobody can claim anything while Redis is away, so the worker records on into its spool and, once Redis
 * answers again, delivers everything in order: one owner (epoch 1) from start to end, every playlist
 * continuous (contiguous sequence numbers, no discontinuity, each segment dated where the one before it
 * ended), its media time equal to the publisher's wall time within one GOP (0 s lost), each recording
 * `uploaded` with one terminal event, and its job completed (by whichever worker holds it: the job lock
 * lapses during the outage).
 *
 * The outage lasts RECFLEET_OUTAGE_SECONDS (default 15: three times the job lock, so the lock lapses as
 * it does in a long outage, and short enough for the suite); `RECFLEET_OUTAGE_SECONDS=60` runs the minute.
 */
import { join } from 'node:path';
import { recordingRedisKeys, type RecordingEvent } from '@recfleet/contract';
import { recordingObjectKeys, userTrackObjectKeys, type IndexedSegment } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled, USER_MEDIA, type FleetWorker } from '../src/harness/channel-fleet.js';
import { readPlaylist } from '../src/harness/channel-media.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { measureContinuity } from '../src/harness/media-continuity.js';

const OUTAGE_MS = Number(process.env.RECFLEET_OUTAGE_SECONDS ?? 15) * 1000;
const GOP_SECONDS = USER_MEDIA.gop / USER_MEDIA.frameRate;
const APP = 'outage';
const CHANNEL = 'room';
const USERS = [1, 2];

let fleet: ChannelFleet;
let worker: FleetWorker;
beforeAll(async () => {
  fleet = await ChannelFleet.start({ appendOnly: true });
  worker = await fleet.worker('w');
  for (const uid of USERS) await fleet.publish(APP, CHANNEL, uid);
});
afterAll(async () => {
  await fleet?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const uploadedOf = (events: RecordingEvent[], uid?: number): number =>
  events.filter((e) => e.type === 'uploaded_segment' && (uid === undefined || e.data.uid === uid)).length;

async function singleIndex(recordingId: string): Promise<IndexedSegment[]> {
  return (await fleet.redisClient.hvals(recordingRedisKeys('recfleet', recordingId).segments))
    .map((v) => JSON.parse(v) as IndexedSegment)
    .sort((a, b) => a.sequence - b.sequence);
}

/** Checks one track's playlist, index and media time; returns the media lost, in seconds. */
async function checkTrack(playlistKey: string, index: IndexedSegment[], stoppedAt: number): Promise<number> {
  const path = join(fleet.storageRoot, playlistKey);
  const c = measureContinuity(await readPlaylist(path), index, stoppedAt);
  process.stderr.write(`redis-outage: ${playlistKey}: ${JSON.stringify({ ...c, problems: undefined })}\n`);
  expect(c.problems, playlistKey).toEqual([]);
  expect(new Set(index.map((s) => s.epoch)), `${playlistKey}: one owner`).toEqual(new Set([1]));
  expect(c.lostSeconds, `${playlistKey}: media lost`).toBeLessThanOrEqual(GOP_SECONDS);
  expect(c.lostSeconds, `${playlistKey}: media beyond the wall time`).toBeGreaterThanOrEqual(-GOP_SECONDS);
  expect(decodePlaylist(path).errors, `${playlistKey} decodes`).toBe('');
  return c.lostSeconds;
}

let run = 0;
describe.each([
  ['killed (kill -9) and restarted from its AOF', (ms: number) => fleet.redis.crash(ms)],
  ['hung (SIGSTOP)', (ms: number) => fleet.redis.freeze(ms)],
])('Redis %s in the middle of recordings', (_name, outage) => {
  it(
    'records on through it and delivers everything in order: one playlist each, nothing lost, uploaded',
    async () => {
      run += 1;
      const userUrl = `${fleet.server.rtmpBaseUrl}${fleet.server.userStreamPath(APP, CHANNEL, 1)}`;
      const single = await fleet.client.start({
        appId: APP,
        channel: CHANNEL,
        uid: 100 + run,
        sourceUrl: `${userUrl}?sign=${fleet.server.channelToken(APP, CHANNEL)}`,
        recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 30 },
        storage: { profile: 'local' },
      });
      const channel = await fleet.start({ appId: APP, channel: CHANNEL, uid: 200 + run });
      const followed = [single, channel].map((r) => fleet.follow(r.recordingId));
      const [singleEvents, channelEvents] = followed.map((f) => f.events) as [
        RecordingEvent[],
        RecordingEvent[],
      ];
      await expect
        .poll(
          () => uploadedOf(singleEvents) >= 3 && USERS.every((uid) => uploadedOf(channelEvents, uid) >= 3),
          { timeout: scaled(30_000), interval: 200 },
        )
        .toBe(true);

      const downAt = Date.now();
      await outage(OUTAGE_MS);
      const upAt = Date.now();
      // Record on a while after it, then stop both.
      await sleep(scaled(6000));
      await Promise.all([single, channel].map((r) => fleet.client.stop(r.recordingId)));
      const stoppedAt = Date.now();
      await Promise.all(followed.map((f) => f.done));

      // Segments finished while Redis was away were recorded, and their events arrived after it.
      for (const events of [singleEvents, channelEvents]) {
        expect(events.some((e) => e.type === 'segment' && e.at > downAt + 2000 && e.at < upAt - 1000)).toBe(
          true,
        );
      }
      const losses: number[] = [];
      losses.push(
        await checkTrack(
          recordingObjectKeys(single.recordingId, CHANNEL).playlistKey,
          await singleIndex(single.recordingId),
          stoppedAt,
        ),
      );
      for (const uid of USERS) {
        losses.push(
          await checkTrack(
            userTrackObjectKeys(channel.recordingId, CHANNEL, uid, 'av').playlistKey,
            await fleet.trackIndex(channel.recordingId, `${uid}-av`),
            stoppedAt,
          ),
        );
      }
      process.stderr.write(
        `redis-outage: ${_name}, ${OUTAGE_MS / 1000} s: media lost per playlist ${losses.join(', ')} s\n`,
      );

      for (const { recordingId } of [single, channel]) {
        const record = await fleet.record(recordingId);
        expect(record, recordingId).toMatchObject({ state: 'uploaded', epoch: '1', terminal: 'uploaded' });
        expect((await fleet.terminalEvents(recordingId)).map((e) => e.type)).toEqual(['uploaded']);
        await expect
          .poll(async () => (await fleet.client.get(recordingId)).jobState, { timeout: scaled(15_000) })
          .toBe('completed');
      }
      const log = worker.log();
      expect(log).toContain('Redis unreachable');
      // The job locks lapsed meanwhile: the jobs came back to this worker, which held them as tickets.
      expect(log).toContain('holding its job until it ends');
      expect(log).not.toContain('fenced');
      expect(log).not.toContain('"job failed"');
    },
    scaled(60_000) + OUTAGE_MS * 2,
  );
});
