/**
 * What the engine sees of a source's trouble reaches the recording's events through a real worker
 * process: a publisher on the embedded channel server (node-media-server) at 640×360 is replaced at once
 * by one at 1280×720 on the same path (node-media-server keeps the recorder's play session and sends the
 * new sequence headers) → `stream_changed` with the new streams; later the publisher is away for 4 s and
 * comes back → `gap` with its length. The final playlist has a discontinuity at each.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordingEvent } from '@recfleet/contract';
import { TestPublisher } from '@recfleet/embedded';
import { recordingObjectKeys } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled } from '../src/harness/channel-fleet.js';

const APP = 'change';
let fleet: ChannelFleet;
const publishers: TestPublisher[] = [];
beforeAll(async () => {
  fleet = await ChannelFleet.start();
  await fleet.worker('w');
});
afterAll(async () => {
  await Promise.all(publishers.map((p) => p.stop()));
  await fleet?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function publish(channel: string, width: number, height: number): TestPublisher {
  const p = TestPublisher.start({
    url: fleet.server.rtmpUrl(APP, channel),
    width,
    height,
    frameRate: 15,
    gop: 15,
  });
  publishers.push(p);
  return p;
}

async function eventsOf(recordingId: string, type: string): Promise<RecordingEvent[]> {
  return (await fleet.allEvents(recordingId)).filter((e) => e.type === type);
}

describe('a source that changes and pauses, through a worker', () => {
  it(
    'reports stream_changed with the new streams and gap with its seconds',
    async () => {
      const channel = 'resize';
      const { recordingId } = await fleet.client.start({
        appId: APP,
        channel,
        uid: 7,
        sourceUrl: fleet.server.rtmpUrl(APP, channel),
        recordingConfig: { segmentSeconds: 2, maxIdleSeconds: 30, gapSeconds: 2 },
        storage: { profile: 'local' },
      });
      const followed = fleet.follow(recordingId);
      const small = publish(channel, 640, 360);
      await expect
        .poll(async () => (await eventsOf(recordingId, 'segment')).length, { timeout: scaled(20_000) })
        .toBeGreaterThanOrEqual(1);
      await small.stop();
      const large = publish(channel, 1280, 720);
      await expect
        .poll(async () => (await eventsOf(recordingId, 'stream_changed')).length, { timeout: scaled(20_000) })
        .toBe(1);
      await sleep(3000);
      await large.stop();
      await sleep(4000);
      const back = publish(channel, 1280, 720);
      await expect
        .poll(async () => (await eventsOf(recordingId, 'gap')).length, { timeout: scaled(20_000) })
        .toBe(1);
      await sleep(3000);
      await fleet.client.stop(recordingId);
      await followed.done;
      await back.stop();

      const [changed] = await eventsOf(recordingId, 'stream_changed');
      const streams = changed!.data.streams as { kind: string; width?: number; height?: number }[];
      expect(streams.find((s) => s.kind === 'video')).toMatchObject({ width: 1280, height: 720 });
      expect(streams.map((s) => s.kind).sort()).toEqual(['audio', 'video']);
      const [gap] = await eventsOf(recordingId, 'gap');
      expect(gap!.data.seconds).toBeGreaterThanOrEqual(3.5);
      expect(gap!.data.seconds).toBeLessThanOrEqual(6);
      expect(await eventsOf(recordingId, 'uploaded')).toHaveLength(1);
      const playlist = await readFile(
        join(fleet.storageRoot, recordingObjectKeys(recordingId, channel).playlistKey),
        'utf8',
      );
      expect(playlist.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(2);
    },
    scaled(120_000),
  );
});
