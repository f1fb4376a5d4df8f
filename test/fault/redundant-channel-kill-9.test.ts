/**
 * Fault: `kill -9`, then SIGTERM, of the owner of a channel recording with `redundancy: 2` — two users
 * publishing, three worker processes on three hosts (their HOSTNAME). A standby on another host joins
 * the channel and records every user the owner records, each cutting where the owner's track cuts (the
 * source's clock). Each fault, once the standby has two finished segments of each user (its first may
 * start where it joined, mid-segment; see README, Redundant recording): the standby claims the recording and every user's track continues with
 * the standby's recorder from the first segment the owner had not delivered — the one open at the kill
 * among them — and a new standby is recruited from the lost owner's job; the killed host starts again.
 * Afterwards, for every user: one playlist, its segments chained on the source's clock (each starts
 * exactly where the one before it ends: no gap, no overlap), one discontinuity per takeover and none
 * elsewhere, media time equal to the publisher's wall time within one GOP (0 s lost), FFmpeg decodes it
 * without an error line; one terminal event for the recording.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isTerminalEvent, type RecordingEvent } from '@recfleet/contract';
import { userTrackObjectKeys } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled, USER_MEDIA } from '../src/harness/channel-fleet.js';
import { StandbyHosts } from '../src/harness/standby-hosts.js';
import { readPlaylist } from '../src/harness/channel-media.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { measureContinuity } from '../src/harness/media-continuity.js';

const GOP_SECONDS = USER_MEDIA.gop / USER_MEDIA.frameRate;
const APP = 'standby';
const CHANNEL = 'class';
const USERS = [21, 22];
const FAULTS = ['kill -9', 'SIGTERM'] as const;

let fleet: ChannelFleet;
let hosts: StandbyHosts;

beforeAll(async () => {
  fleet = await ChannelFleet.start();
  hosts = new StandbyHosts(fleet, 'redundant-channel');
  for (const uid of USERS) await fleet.publish(APP, CHANNEL, uid);
  for (const host of ['host-1', 'host-2', 'host-3']) await hosts.start(host);
});
afterAll(async () => {
  await fleet?.stop();
});

/** How many finished segments the standby on `host` keeps of a user's track. */
async function standbyWindow(host: string, recordingId: string, track: string): Promise<number> {
  const dir = join(fleet.dir, `spool-${host}`, recordingId, '.standby', track);
  const files = await readdir(dir).catch(() => [] as string[]);
  return files.filter((f) => f.endsWith('.ts')).length;
}

describe('kill -9 and SIGTERM of the owner of a channel recording with redundancy 2', () => {
  it("loses no media of any user: every user's track continues with the standby's recorder", async () => {
    const { recordingId } = await fleet.start({
      appId: APP,
      channel: CHANNEL,
      uid: 1,
      recordingConfig: { segmentSeconds: 2, maxIdleSeconds: 30, redundancy: 2 },
    });
    const followed = fleet.follow(recordingId);
    const { events } = followed;
    const uploaded = (uid: number): number =>
      events.filter((e) => e.type === 'uploaded_segment' && e.data.uid === uid).length;

    for (const [i, fault] of FAULTS.entries()) {
      const delivered = USERS.map(uploaded);
      const { before: record, at: killedAt } = await hosts.loseOwner(recordingId, fault, async () => {
        const more = USERS.every((uid, k) => uploaded(uid) >= delivered[k]! + 2);
        if (!(more && (await hosts.standbyLive(recordingId)))) return false;
        const r = await fleet.record(recordingId);
        // Two finished segments of every user in the standby's window: its first may start
        // mid-segment (it joined then), the second and later ones cut where the owner cuts.
        const windows = await Promise.all(
          USERS.map((uid) => standbyWindow(r.standbyHost!, recordingId, `${uid}-av`)),
        );
        return windows.every((w) => w >= 2);
      });
      try {
        await expect
          .poll(() => events.filter((e) => e.type === 'takeover').length, {
            timeout: scaled(20_000),
            interval: 100,
          })
          .toBe(USERS.length * (i + 1));
      } catch (err) {
        await hosts.diagnose(recordingId);
        throw err;
      }
      for (const t of events.filter((e) => e.type === 'takeover').slice(-USERS.length)) {
        process.stderr.write(
          `redundant-channel: ${fault}: ${String(t.data.track)} taken over ${t.at - killedAt} ms after, ${JSON.stringify(t.data)}\n`,
        );
      }
      expect((await fleet.record(recordingId)).ownerHost).toBe(record.standbyHost);
      await hosts.start(record.ownerHost!);
    }
    const last = USERS.map(uploaded);
    await expect
      .poll(() => USERS.every((uid, k) => uploaded(uid) >= last[k]! + 2), { timeout: scaled(20_000) })
      .toBe(true);
    await fleet.client.stop(recordingId);
    const stoppedAt = Date.now();
    await followed.done;

    for (const uid of USERS) {
      const track = `${uid}-av`;
      const segments = await fleet.trackIndex(recordingId, track);
      const key = userTrackObjectKeys(recordingId, CHANNEL, uid, 'av').playlistKey;
      const playlistPath = join(fleet.storageRoot, key);
      const c = measureContinuity(await readPlaylist(playlistPath), segments, stoppedAt);
      process.stderr.write(`redundant-channel: ${track} ${JSON.stringify({ ...c, problems: undefined })}\n`);
      const seams = c.problems.filter((p) => p.startsWith('discontinuity before'));
      expect(seams, track).toHaveLength(FAULTS.length);
      expect(
        c.problems.filter((p) => !seams.includes(p)),
        track,
      ).toEqual([]);
      for (let k = 1; k < segments.length; k++) {
        const [a, b] = [segments[k - 1]!, segments[k]!];
        expect(b.sourceStartMs, `${track}: segment ${b.sequence} starts where ${a.sequence} ends`).toBe(
          a.sourceEndMs,
        );
      }
      expect(c.lostSeconds, `${track}: media lost`).toBeLessThanOrEqual(GOP_SECONDS);
      expect(c.lostSeconds, `${track}: media beyond the wall time`).toBeGreaterThanOrEqual(-GOP_SECONDS);
      expect(decodePlaylist(playlistPath).errors, track).toBe('');
      expect(new Set(segments.map((s) => s.epoch)).size, track).toBe(FAULTS.length + 1);
    }
    const all: RecordingEvent[] = await fleet.allEvents(recordingId);
    expect(all.filter((e) => isTerminalEvent(e.type)).map((e) => e.type)).toEqual(['uploaded']);
    await expect
      .poll(async () => (await fleet.client.get(recordingId)).jobState, { timeout: scaled(15_000) })
      .toBe('completed');
  });
});
