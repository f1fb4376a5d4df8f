/**
 * A gap is a gap for a channel's users too, through a real worker process: user 1 of a channel of two
 * publishes through a TCP proxy that holds back every byte for 4 s without closing anything (a stalled
 * uplink: the channel server still lists them as publishing, so it is no leave). User 1's track gets a
 * `gap` event with its uid and track and the silence's seconds, its playlist one discontinuity, and
 * it goes on in the same playlist; user 2's track has neither. One terminal event, `uploaded`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isTerminalEvent } from '@recfleet/contract';
import { TestPublisher } from '@recfleet/embedded';
import { userTrackObjectKeys } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled, USER_MEDIA } from '../src/harness/channel-fleet.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { TcpProxy } from '../src/harness/tcp-proxy.js';

const APP = 'gaps';
const CHANNEL = 'stall';
let fleet: ChannelFleet;
let proxy: TcpProxy;
let stalled: TestPublisher;
beforeAll(async () => {
  fleet = await ChannelFleet.start();
  await fleet.worker('w');
  proxy = await TcpProxy.start(fleet.server.port);
  const url = fleet.server.userRtmpUrl(APP, CHANNEL, 1).replace(`:${fleet.server.port}/`, `:${proxy.port}/`);
  stalled = TestPublisher.start({ url, ...USER_MEDIA, pattern: 'testsrc2' });
  await fleet.publish(APP, CHANNEL, 2);
});
afterAll(async () => {
  await stalled?.stop();
  await proxy?.close();
  await fleet?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a channel user whose uplink stalls', () => {
  it(
    'has a gap in its own track: a gap event with its uid, a discontinuity, the same playlist',
    async () => {
      const { recordingId } = await fleet.start({
        appId: APP,
        channel: CHANNEL,
        uid: 100,
        recordingConfig: { segmentSeconds: 1, gapSeconds: 2 },
      });
      const { events, done } = fleet.follow(recordingId);
      const segmentsOf = (uid: number): number =>
        events.filter((e) => e.type === 'segment' && e.data.uid === uid).length;
      await expect
        .poll(() => segmentsOf(1) >= 2 && segmentsOf(2) >= 2, { timeout: scaled(30_000), interval: 200 })
        .toBe(true);
      proxy.cut();
      await sleep(4000);
      proxy.restore();
      await expect
        .poll(() => events.filter((e) => e.type === 'gap').length, { timeout: scaled(20_000), interval: 200 })
        .toBe(1);
      const before = segmentsOf(1);
      await expect.poll(() => segmentsOf(1), { timeout: scaled(20_000) }).toBeGreaterThanOrEqual(before + 2);
      await fleet.client.stop(recordingId);
      await done;

      const gap = events.find((e) => e.type === 'gap')!;
      expect(gap.data).toMatchObject({ uid: 1, track: '1-av' });
      expect(gap.data.seconds).toBeGreaterThanOrEqual(3);
      expect(gap.data.seconds).toBeLessThanOrEqual(6);
      // User 1 left only when the recording ended: the stall was no leave.
      const left = events.filter((e) => e.type === 'user_left' && e.data.uid === 1).map((e) => e.data.reason);
      expect(left).toEqual(['recording_ended']);
      expect(events.filter((e) => isTerminalEvent(e.type)).map((e) => e.type)).toEqual(['uploaded']);
      for (const [uid, discontinuities] of [
        [1, 1],
        [2, 0],
      ] as const) {
        const path = join(
          fleet.storageRoot,
          userTrackObjectKeys(recordingId, CHANNEL, uid, 'av').playlistKey,
        );
        const playlist = await readFile(path, 'utf8');
        expect(playlist.match(/#EXT-X-DISCONTINUITY\n/g) ?? [], `user ${uid}`).toHaveLength(discontinuities);
        expect(decodePlaylist(path).errors, `user ${uid} decodes`).toBe('');
      }
    },
    scaled(120_000),
  );
});
