/**
 * Fault: `kill -9` of the owner of a recording with `redundancy: 2`, twice in one recording, then a SIGTERM
 * of the owner (a graceful hand-off: it ends at its next cut, and its standby claims first). Three worker
 * processes on three hosts (their HOSTNAME); one owns the recording, a standby on another host records
 * the same source into its spool. Each kill: the standby claims the recording within the takeover time
 * and delivers from the first segment the dead owner had not — the one open at the kill among them — and
 * the dead owner's job, back in the queue once its lock expires, makes a live worker the new standby;
 * the dead host starts again (its spool recovery delivers what the owner had reserved). The hand-off
 * loses nothing either: the owner's last segment ends where the standby's next begins.
 * Afterwards: one playlist, every segment in the store, the segments chained on the source's clock (each
 * starts exactly where the one before it ends: no gap, no overlap), one discontinuity per takeover and
 * none elsewhere, media time equal to the publisher's wall time within one GOP (0 s lost), it decodes
 * without an error line, one terminal event.
 */
import { join } from 'node:path';
import { isTerminalEvent, type RecordingEvent } from '@recfleet/contract';
import { recordingObjectKeys, type IndexedSegment } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled, USER_MEDIA } from '../src/harness/channel-fleet.js';
import { StandbyHosts } from '../src/harness/standby-hosts.js';
import { readPlaylist } from '../src/harness/channel-media.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { segmentIndex } from '../src/harness/recording-state.js';
import { measureContinuity } from '../src/harness/media-continuity.js';

const GOP_SECONDS = USER_MEDIA.gop / USER_MEDIA.frameRate;
const APP = 'standby';
const CHANNEL = 'room';
/** The owner's losses, in order: crashes, then a graceful hand-off (SIGTERM) to the standby. */
const FAULTS = ['kill -9', 'kill -9', 'SIGTERM'] as const;
const KILLS = FAULTS.length;
let fleet: ChannelFleet;
let hosts: StandbyHosts;

beforeAll(async () => {
  fleet = await ChannelFleet.start();
  hosts = new StandbyHosts(fleet, 'redundant-kill-9');
  await fleet.publish(APP, CHANNEL, 1);
  for (const host of ['host-1', 'host-2', 'host-3']) await hosts.start(host);
});
afterAll(async () => {
  await fleet?.stop();
});

const index = (recordingId: string): Promise<IndexedSegment[]> =>
  segmentIndex(fleet.redisClient, recordingId);

describe('kill -9 of the owner of a recording with redundancy 2', () => {
  it(`loses no media over ${FAULTS.join(', ')}: the standby delivers from the first segment the owner did not`, async () => {
    const userUrl = `${fleet.server.rtmpBaseUrl}${fleet.server.userStreamPath(APP, CHANNEL, 1)}`;
    const { recordingId } = await fleet.client.start({
      appId: APP,
      channel: CHANNEL,
      uid: 100,
      sourceUrl: `${userUrl}?sign=${fleet.server.channelToken(APP, CHANNEL)}`,
      recordingConfig: { segmentSeconds: 2, maxIdleSeconds: 30, redundancy: 2 },
      storage: { profile: 'local' },
    });
    const followed = fleet.follow(recordingId);
    const events = followed.events;
    const uploaded = (): number => events.filter((e) => e.type === 'uploaded_segment').length;

    for (let kill = 1; kill <= KILLS; kill++) {
      const fault = FAULTS[kill - 1]!;
      // An owner and a live standby on another host, and segments delivered since the last takeover.
      const delivered = uploaded();
      const { before: record, at: killedAt } = await hosts.loseOwner(
        recordingId,
        fault,
        async () => (await hosts.standbyLive(recordingId)) && uploaded() >= delivered + 2,
      );
      await expect
        .poll(() => events.filter((e) => e.type === 'takeover').length, {
          timeout: scaled(20_000),
          interval: 100,
        })
        .toBe(kill);
      const takeover = events.filter((e) => e.type === 'takeover').at(-1)!;
      process.stderr.write(
        `redundant-kill-9: ${fault} ${kill}: taken over ${takeover.at - killedAt} ms after, ${JSON.stringify(takeover.data)}\n`,
      );
      expect((await fleet.record(recordingId)).ownerHost).toBe(record.standbyHost);
      // The host comes back: its spool recovery delivers what the dead owner had reserved, and drops
      // what it had as a standby; the next standby may be there.
      await hosts.start(record.ownerHost!);
    }
    await expect.poll(uploaded, { timeout: scaled(20_000) }).toBeGreaterThanOrEqual(uploaded() + 2);
    await fleet.client.stop(recordingId);
    const stoppedAt = Date.now();
    await followed.done;

    const segments = await index(recordingId);
    const playlistPath = join(fleet.storageRoot, recordingObjectKeys(recordingId, CHANNEL).playlistKey);
    const playlist = await readPlaylist(playlistPath);
    const c = measureContinuity(playlist, segments, stoppedAt);
    process.stderr.write(`redundant-kill-9: ${JSON.stringify({ ...c, problems: undefined })}\n`);
    // The takeovers' discontinuities (another recorder's timestamps) are the only ones.
    const seams = c.problems.filter((p) => p.startsWith('discontinuity before'));
    expect(seams).toHaveLength(KILLS);
    expect(c.problems.filter((p) => !seams.includes(p))).toEqual([]);
    for (let i = 1; i < segments.length; i++) {
      const [a, b] = [segments[i - 1]!, segments[i]!];
      expect(b.sourceStartMs, `segment ${b.sequence} starts where ${a.sequence} ends`).toBe(a.sourceEndMs);
    }
    expect(c.lostSeconds, 'media lost').toBeLessThanOrEqual(GOP_SECONDS);
    expect(c.lostSeconds, 'media beyond the wall time').toBeGreaterThanOrEqual(-GOP_SECONDS);
    expect(decodePlaylist(playlistPath).errors).toBe('');
    // One owner per stretch, three stretches: never two writers of one segment.
    expect(new Set(segments.map((s) => s.epoch)).size).toBe(KILLS + 1);
    const all: RecordingEvent[] = await fleet.allEvents(recordingId);
    expect(all.filter((e) => isTerminalEvent(e.type)).map((e) => e.type)).toEqual(['uploaded']);
    await expect
      .poll(async () => (await fleet.client.get(recordingId)).jobState, { timeout: scaled(15_000) })
      .toBe('completed');
  });
});
