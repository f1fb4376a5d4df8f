/**
 * A gap is a gap: an FFmpeg publisher on the embedded channel server (node-media-server) stops for ~4 s
 * and a new one takes its place on the same path. node-media-server keeps the recorder's play session
 * through the publisher's absence and goes on with the new publisher's packets, timestamps stitched on,
 * so no read fails; only the arrival clock shows the hole. Whether the publisher ended cleanly (SIGTERM)
 * or was killed (SIGKILL), and whether the recorder kept its connection or lost it on a short read
 * timeout and rejoined, the recording must show the gap: one discontinuity, one SOURCE_GAP with its
 * length, the segment before it finished during the silence, media time equal to what was published
 * (within one GOP) and the segment after the gap dated at the new publisher's start. The truth is each publisher's own clock (TestPublisher `clock`).
 */
import { TestPublisher } from '@recfleet/embedded';
import type { SegmentEvent } from '@recfleet/engine-binding';
import { describe, expect, it } from 'vitest';
import { checkPlaylist, LiveChannelFixture, record, sleep, totalDuration } from './support.js';

const APP = 'gap';
const FPS = 15;
/** One GOP: a keyframe every second. */
const GOP_SECONDS = 1;
const PUBLISH_MS = 7000;
const AWAY_MS = 4000;

const live = new LiveChannelFixture('gap');

function publish(channel: string): TestPublisher {
  const p = TestPublisher.start({
    url: live.server.rtmpUrl(APP, channel),
    width: 320,
    height: 180,
    frameRate: FPS,
    gop: FPS * GOP_SECONDS,
    clock: true,
  });
  live.publishers.push(p);
  return p;
}

/** [first, last] wall clock (ms) of a publisher's frames, and the media time it published (s). */
function published(p: TestPublisher): { start: number; last: number; seconds: number } {
  const start = p.startedAt();
  const last = p.lastFrame();
  if (start === undefined || !last) throw new Error(`the publisher reported no clock:\n${p.output()}`);
  return { start, last: last.at, seconds: last.time + 1 / FPS };
}

async function until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(50);
  }
}

const end = (s: SegmentEvent): number => s.startPtsSeconds + s.durationSeconds;

describe('a publisher away for 4 s', () => {
  it.each([
    { leaves: 'SIGTERM', readTimeoutSeconds: 10, rejoins: false },
    { leaves: 'SIGKILL', readTimeoutSeconds: 10, rejoins: false },
    { leaves: 'SIGKILL', readTimeoutSeconds: 1, rejoins: true },
  ] as const)(
    '$leaves, read timeout $readTimeoutSeconds s: one discontinuity, a SOURCE_GAP of the gap, media time as published',
    async ({ leaves, readTimeoutSeconds, rejoins }) => {
      const channel = `${leaves}-${readTimeoutSeconds}`;
      const dir = await live.ws.sub(channel);
      const log = record({
        recordingId: `gap-${channel}`,
        sourceUrl: live.server.rtmpUrl(APP, channel),
        outputDir: dir,
        segmentSeconds: 2,
        gapSeconds: 2,
        connectTimeoutSeconds: 10,
        readTimeoutSeconds,
        maxIdleSeconds: 30,
      });
      live.recordings.push(log);
      const emittedAt = new Map<number, number>();
      log.recorder.on('segment', (s) => emittedAt.set(s.sequence, Date.now()));
      await sleep(500);
      const first = publish(channel);
      await until('a first segment', () => log.segments.length >= 1, 15_000);
      await sleep(PUBLISH_MS - 2000);
      if (leaves === 'SIGTERM') await first.stop();
      else await first.kill();
      await sleep(AWAY_MS);
      const second = publish(channel);
      await until('a segment after the gap', () => log.segments.some((s) => s.discontinuity), 20_000);
      await sleep(PUBLISH_MS - 2000);
      await second.stop();
      await sleep(1000);
      await log.recorder.stop();
      const final = await log.final;
      expect(final.type).toBe('stopped');

      const a = published(first);
      const b = published(second);
      const silence = (b.start - a.last) / 1000;
      const gaps = log.failures.filter((f) => f.code === 'SOURCE_GAP');
      const flagged = log.segments.filter((s) => s.discontinuity);
      const resumed = flagged[0]!;
      const before = log.segments[log.segments.indexOf(resumed) - 1]!;
      const measured = {
        silence,
        gapSeconds: gaps.map((g) => g.gapSeconds),
        timelineJump: resumed.startPtsSeconds - end(before),
        media: totalDuration(log.segments),
        published: a.seconds + b.seconds,
        dateError: resumed.programDateTimeMs - b.start,
        cutAfterLastMedia: (emittedAt.get(before.sequence)! - a.last) / 1000,
        failures: log.failures.map((f) => f.code),
      };
      process.stdout.write(
        `source gap (${leaves}, read timeout ${readTimeoutSeconds} s): ${JSON.stringify(measured)}\n`,
      );

      expect(flagged).toHaveLength(1);
      expect(gaps).toHaveLength(1);
      expect(gaps[0]!.gapSeconds).toBeGreaterThanOrEqual(AWAY_MS / 1000 - 0.5);
      expect(Math.abs(gaps[0]!.gapSeconds! - silence)).toBeLessThanOrEqual(0.5);
      if (rejoins) expect(log.failures.map((f) => f.code)).toContain('SOURCE_LOST');
      else expect(log.failures.map((f) => f.code)).not.toContain('SOURCE_LOST');
      // The timeline keeps the wall clock's pace: it jumps by the silence instead of splicing it away.
      expect(Math.abs(measured.timelineJump - silence)).toBeLessThanOrEqual(GOP_SECONDS);
      // The segment before the gap is finished during the silence (gapSeconds), not when media returns.
      expect(measured.cutAfterLastMedia).toBeLessThanOrEqual(2 + 1);
      // Media time never runs ahead of what was received: what was published, within one GOP.
      expect(Math.abs(measured.media - measured.published)).toBeLessThanOrEqual(GOP_SECONDS);
      expect(Math.abs(measured.dateError)).toBeLessThanOrEqual(500);
      // The playlist plays through the gap.
      const { errors, exitCode } = await checkPlaylist(dir, log.segments);
      expect(exitCode).toBe(0);
      expect(errors).toBe('');
    },
    90_000,
  );
});
