/**
 * Live RTMP through node-media-server (a channel server in a child process) with an FFmpeg test-pattern
 * publisher: recording, idle exits, a publisher that leaves and comes back, and stop() during a join.
 * Every segment is checked with ffprobe/ffmpeg, and the local playlist must decode without a word.
 */
import { TestPublisher } from '@recfleet/embedded';
import type { JoinedEvent } from '@recfleet/engine-binding';
import { counters } from '@recfleet/engine-binding';
import { describe, expect, it } from 'vitest';
import {
  checkPlaylist,
  firstFrameSize,
  LiveChannelFixture,
  once,
  partFiles,
  probeSegments,
  record,
  sleep,
  totalDuration,
  type RecordingLog,
} from './support.js';

const APP = 'engine';
const live = new LiveChannelFixture('rtmp');

/** Starts a low-resolution publisher (keyframe every second) and waits until the channel is live. */
async function publish(channel: string, width = 320, height = 180): Promise<TestPublisher> {
  const published = live.server.waitForPublish(APP, channel, 20_000);
  const p = TestPublisher.start({
    url: live.server.rtmpUrl(APP, channel),
    width,
    height,
    frameRate: 25,
    gop: 25,
  });
  live.publishers.push(p);
  await published;
  return p;
}

async function stopPublisher(p: TestPublisher): Promise<void> {
  await p.stop();
  live.publishers.splice(live.publishers.indexOf(p), 1);
}

function track(log: RecordingLog): RecordingLog {
  live.recordings.push(log);
  return log;
}

/** Every segment decodes cleanly and starts with a keyframe; the playlist decodes with no output. */
async function expectCleanOutput(log: RecordingLog, dir: string): Promise<void> {
  expect(log.segments.length).toBeGreaterThanOrEqual(1);
  for (const s of log.segments) expect(s.startsWithKeyframe, s.path).toBe(true);
  for (const v of probeSegments(log.segments)) {
    expect(v.errors, v.path).toBe('');
    expect(v.decodes, v.path).toBe(true);
    expect(v.firstVideoFrameIsKey, `${v.path} starts with a keyframe`).toBe(true);
    expect(v.streams, v.path).toEqual(expect.arrayContaining(['video', 'audio']));
  }
  const { errors, exitCode } = await checkPlaylist(dir, log.segments);
  expect(errors).toBe('');
  expect(exitCode).toBe(0);
  expect(await partFiles(dir)).toEqual([]);
}

describe('recording a live RTMP channel', () => {
  it('records ~6 s of a live channel; stop() closes the last segment cleanly', async () => {
    await publish('live one');
    const dir = await live.ws.sub('live');
    const log = track(
      record({
        recordingId: 'rtmp-live',
        sourceUrl: live.server.rtmpUrl(APP, 'live one'),
        outputDir: dir,
        segmentSeconds: 1,
        maxIdleSeconds: 10,
      }),
    );
    await once(log.recorder, 'started');
    await sleep(6000);
    const final = await log.recorder.stop();

    expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
    expect(log.order.slice(0, 2)).toEqual(['joined', 'started']);
    expect(log.order.at(-1)).toBe('stopped');
    expect(log.failures).toEqual([]);
    if (final.type !== 'stopped') throw new Error('unreachable');
    expect(final.segments).toBe(log.segments.length);
    // Real time on a busy machine: at least 4 of the ~6 s, not more than was possible.
    expect(log.segments.length).toBeGreaterThanOrEqual(4);
    const total = totalDuration(log.segments);
    expect(total).toBeGreaterThan(4);
    expect(total).toBeLessThan(9);
    expect(log.segments.every((s) => !s.discontinuity)).toBe(true);
    log.segments.forEach((s, i) => {
      expect(s.sequence).toBe(i);
      if (i > 0) {
        const prev = log.segments[i - 1]!;
        expect(s.startPtsSeconds).toBeCloseTo(prev.startPtsSeconds + prev.durationSeconds, 2);
      }
    });
    await expectCleanOutput(log, dir);
  });

  it('waits on a channel nobody publishes yet, then ends with idle_timeout on time', async () => {
    const dir = await live.ws.sub('unpublished');
    const began = Date.now();
    const log = track(
      record({
        recordingId: 'rtmp-nobody',
        sourceUrl: live.server.rtmpUrl(APP, 'nobody here'),
        outputDir: dir,
        maxIdleSeconds: 2,
        connectTimeoutSeconds: 10,
      }),
    );
    const final = await log.final;
    const took = Date.now() - began;

    expect(final).toMatchObject({ type: 'stopped', reason: 'idle_timeout', segments: 0 });
    // maxIdleSeconds bounds the wait, even though the connect timeout is longer.
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(4500);
    expect(log.segments).toEqual([]);
    expect(log.order).not.toContain('started');
    expect(log.order.at(-1)).toBe('stopped');
    for (const f of log.failures) expect(f.code).toBe('SOURCE_UNREACHABLE');
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual([]);
  });

  it('rejoins a publisher that comes back within maxIdleSeconds, flagging the next segment', async () => {
    const first = await publish('comes back');
    const dir = await live.ws.sub('rejoin');
    const log = track(
      record({
        recordingId: 'rtmp-rejoin',
        sourceUrl: live.server.rtmpUrl(APP, 'comes back'),
        outputDir: dir,
        segmentSeconds: 1,
        readTimeoutSeconds: 1,
        connectTimeoutSeconds: 2,
        maxIdleSeconds: 10,
      }),
    );
    await once(log.recorder, 'started');
    await sleep(3000);
    const lost = new Promise<void>((resolve) =>
      log.recorder.on('recorder_failure', (e) => e.code === 'SOURCE_LOST' && resolve()),
    );
    // Events arrive in order: the segment cut when the source was lost comes before the rejoin.
    let segmentsBeforeReturn = -1;
    const rejoined = new Promise<JoinedEvent>((resolve) =>
      log.recorder.on('joined', (e) => {
        if (!e.rejoin || segmentsBeforeReturn >= 0) return;
        segmentsBeforeReturn = log.segments.length;
        resolve(e);
      }),
    );
    await stopPublisher(first);
    await lost;
    await publish('comes back');
    await rejoined;
    await sleep(3000);
    const final = await log.recorder.stop();

    expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
    expect(log.failures.map((f) => f.code)).toContain('SOURCE_LOST');
    const lostEvent = log.failures.find((f) => f.code === 'SOURCE_LOST')!;
    expect(lostEvent.counts.reconnects).toBeGreaterThanOrEqual(1);
    expect(segmentsBeforeReturn).toBeGreaterThanOrEqual(2);
    // The first segment after the return is the one flagged, and only it.
    const flagged = log.segments.filter((s) => s.discontinuity);
    expect(flagged).toHaveLength(1);
    expect(log.segments.indexOf(flagged[0]!)).toBe(segmentsBeforeReturn);
    expect(log.segments.length).toBeGreaterThan(segmentsBeforeReturn + 1);
    // The timeline never goes backwards across the rejoin.
    for (let i = 1; i < log.segments.length; i++) {
      expect(log.segments[i]!.startPtsSeconds).toBeGreaterThan(log.segments[i - 1]!.startPtsSeconds);
    }
    // The playlist writer puts #EXT-X-DISCONTINUITY before the flagged segment; it decodes cleanly.
    await expectCleanOutput(log, dir);
    const { readFile } = await import('node:fs/promises');
    const playlist = await readFile(`${dir}/index.m3u8`, 'utf8');
    expect(playlist.match(/#EXT-X-DISCONTINUITY/g)).toHaveLength(1);
  });

  it('follows a publisher that comes back at another resolution: STREAM_CHANGED, one flagged segment', async () => {
    const first = await publish('resizes');
    const dir = await live.ws.sub('resizes');
    const log = track(
      record({
        recordingId: 'rtmp-resize',
        sourceUrl: live.server.rtmpUrl(APP, 'resizes'),
        outputDir: dir,
        segmentSeconds: 1,
        readTimeoutSeconds: 1,
        connectTimeoutSeconds: 2,
        maxIdleSeconds: 10,
      }),
    );
    await once(log.recorder, 'started');
    await sleep(3000);
    const changed = new Promise<void>((resolve) =>
      log.recorder.on('recorder_failure', (e) => e.code === 'STREAM_CHANGED' && resolve()),
    );
    await stopPublisher(first);
    await publish('resizes', 640, 360);
    await changed;
    await sleep(3000);
    const final = await log.recorder.stop();

    expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
    const changes = log.failures.filter((f) => f.code === 'STREAM_CHANGED');
    expect(changes).toHaveLength(1);
    expect(changes[0]!.streams?.find((s) => s.kind === 'video')).toMatchObject({ width: 640, height: 360 });
    for (const f of log.failures) expect(['SOURCE_LOST', 'STREAM_CHANGED']).toContain(f.code);
    const flagged = log.segments.filter((s) => s.discontinuity);
    expect(flagged).toHaveLength(1);
    const at = log.segments.indexOf(flagged[0]!);
    expect(at).toBeGreaterThanOrEqual(2);
    expect(log.segments.length).toBeGreaterThan(at + 1);
    // Old size up to the change, new size from the flagged segment on: nothing mixed in one segment.
    log.segments.forEach((s, i) => {
      expect(firstFrameSize(s.path), s.path).toBe(i < at ? '320x180' : '640x360');
    });
    for (let i = 1; i < log.segments.length; i++) {
      expect(log.segments[i]!.startPtsSeconds).toBeGreaterThan(log.segments[i - 1]!.startPtsSeconds);
    }
    await expectCleanOutput(log, dir);
  });

  it('ends with idle_timeout, keeping its segments, when the publisher leaves for good', async () => {
    const p = await publish('leaves');
    const dir = await live.ws.sub('leaves');
    const log = track(
      record({
        recordingId: 'rtmp-leaves',
        sourceUrl: live.server.rtmpUrl(APP, 'leaves'),
        outputDir: dir,
        segmentSeconds: 1,
        readTimeoutSeconds: 1,
        connectTimeoutSeconds: 1,
        maxIdleSeconds: 2,
      }),
    );
    await once(log.recorder, 'started');
    await sleep(3000);
    await stopPublisher(p);
    const left = Date.now();
    const final = await log.final;
    const took = Date.now() - left;

    expect(final).toMatchObject({ type: 'stopped', reason: 'idle_timeout' });
    if (final.type !== 'stopped') throw new Error('unreachable');
    expect(final.segments).toBe(log.segments.length);
    expect(log.segments.length).toBeGreaterThanOrEqual(2);
    // maxIdleSeconds after the last media, plus slack for a loaded machine.
    expect(took).toBeLessThan(6000);
    expect(log.order.at(-1)).toBe('stopped');
    await expectCleanOutput(log, dir);
  });

  it('stop() during a join (server up, nobody publishing) resolves within 500 ms', async () => {
    const dir = await live.ws.sub('stop-join');
    const playing = new Promise<void>((resolve) => {
      const off = live.server.onEvent((e) => {
        if (e.event === 'postPlay') {
          off();
          resolve();
        }
      });
    });
    const log = track(
      record({
        recordingId: 'rtmp-stop-join',
        sourceUrl: live.server.rtmpUrl(APP, 'stop while joining'),
        outputDir: dir,
        connectTimeoutSeconds: 30,
        maxIdleSeconds: 30,
      }),
    );
    await playing;
    await sleep(300);
    const began = performance.now();
    const final = await log.recorder.stop();
    const took = performance.now() - began;

    expect(final).toMatchObject({ type: 'stopped', reason: 'requested', segments: 0 });
    expect(took).toBeLessThan(500);
    expect(log.segments).toEqual([]);
    await log.recorder.release();
    expect(log.recorder.state).toBe('released');
  });

  it('leaves no recorder or thread behind', async () => {
    await Promise.all(live.recordings.splice(0).map((r) => r.recorder.release({ cancel: true })));
    expect(counters()).toMatchObject({ activeRecorders: 0, threads: 0 });
  });
});
