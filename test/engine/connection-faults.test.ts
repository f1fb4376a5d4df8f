/**
 * A live RTMP connection that breaks under the recorder: a sudden EOF (the server side sends FIN), an
 * I/O error (RST: ECONNRESET), and a connection that stays open but goes silent (read timeout). A relay
 * between the recorder and node-media-server breaks the connection while the publisher keeps going, so
 * the recorder must notice, report SOURCE_LOST with its counts, reconnect, and carry on in a new
 * segment flagged discontinuity — with everything recorded before the break kept and playable.
 */
import { ChannelServer, TestPublisher } from '@recfleet/embedded';
import { counters, type JoinedEvent, type RecorderFailureEvent } from '@recfleet/engine-binding';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPlaylist,
  LinkBreaker,
  once,
  partFiles,
  probeSegments,
  record,
  sleep,
  untilSegments,
  workspace,
  type RecordingLog,
  type Workspace,
} from './support.js';

const APP = 'faults';
const CHANNEL = 'breaks';
let ws: Workspace;
let server: ChannelServer;
let publisher: TestPublisher | undefined;
let breaker: LinkBreaker;
const recordings: RecordingLog[] = [];

beforeAll(async () => {
  ws = await workspace('link');
  server = await ChannelServer.start();
  const live = server.waitForPublish(APP, CHANNEL, 20_000);
  publisher = TestPublisher.start({
    url: server.rtmpUrl(APP, CHANNEL),
    width: 320,
    height: 180,
    frameRate: 25,
    gop: 25,
  });
  await live;
  breaker = await LinkBreaker.start(server.port);
});
afterEach(async () => {
  await Promise.all(recordings.splice(0).map((r) => r.recorder.release({ cancel: true })));
});
afterAll(async () => {
  await breaker?.close();
  await publisher?.stop();
  await server?.stop();
  await ws?.remove();
});

const CASES = [
  // readTimeoutSeconds is long for EOF and RST: noticing them quickly proves the error was read, not
  // waited out.
  { how: 'end', label: 'a sudden EOF (FIN)', readTimeoutSeconds: 8, noticeWithinMs: 1500 },
  { how: 'reset', label: 'a connection reset (RST)', readTimeoutSeconds: 8, noticeWithinMs: 1500 },
  { how: 'stall', label: 'a connection gone silent', readTimeoutSeconds: 1, noticeWithinMs: 3000 },
] as const;

describe('a live connection that breaks mid-recording', () => {
  it.each(CASES)(
    '$label: SOURCE_LOST, reconnects, and goes on in a new segment flagged discontinuity',
    async ({ how, readTimeoutSeconds, noticeWithinMs }) => {
      const dir = await ws.sub(how);
      const log = record({
        recordingId: `link-${how}`,
        sourceUrl: breaker.via(server.rtmpUrl(APP, CHANNEL)),
        outputDir: dir,
        segmentSeconds: 1,
        connectTimeoutSeconds: 2,
        readTimeoutSeconds,
        maxIdleSeconds: 15,
      });
      recordings.push(log);
      await once(log.recorder, 'started');
      await sleep(3000);
      await untilSegments(log, 1);

      const lost = new Promise<RecorderFailureEvent>((resolve) =>
        log.recorder.on('recorder_failure', (e) => e.code === 'SOURCE_LOST' && resolve(e)),
      );
      // Events arrive in order: the segment closed when the source was lost comes before the rejoin.
      let segmentsBeforeRejoin = -1;
      const rejoined = new Promise<JoinedEvent>((resolve) =>
        log.recorder.on('joined', (e) => {
          if (!e.rejoin || segmentsBeforeRejoin >= 0) return;
          segmentsBeforeRejoin = log.segments.length;
          resolve(e);
        }),
      );
      const segmentsAtBreak = log.segments.length;
      const brokeAt = Date.now();
      expect(breaker.break(how)).toBe(1);
      const lostEvent = await lost;
      const noticedAfter = Date.now() - brokeAt;
      await rejoined;
      await sleep(3000);
      const final = await log.recorder.stop();

      expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
      expect(noticedAfter).toBeLessThan(noticeWithinMs);
      // A silent connection is only given up after the read timeout, not on the first quiet moment.
      if (how === 'stall') expect(noticedAfter).toBeGreaterThanOrEqual(readTimeoutSeconds * 1000 - 100);
      expect(lostEvent.counts.reconnects).toBe(1);
      expect(log.failures.filter((f) => f.code !== 'SOURCE_LOST')).toEqual([]);
      expect(log.order.filter((e) => e === 'joined')).toHaveLength(2);
      // Nothing recorded before the break is lost, and the recording went on after it.
      expect(segmentsAtBreak).toBeGreaterThanOrEqual(1);
      expect(segmentsBeforeRejoin).toBeGreaterThan(segmentsAtBreak);
      expect(log.segments.length).toBeGreaterThan(segmentsBeforeRejoin + 1);
      const flagged = log.segments.filter((s) => s.discontinuity);
      expect(flagged).toHaveLength(1);
      expect(log.segments.indexOf(flagged[0]!)).toBe(segmentsBeforeRejoin);
      log.segments.forEach((s, i) => {
        expect(s.sequence).toBe(i);
        expect(s.startsWithKeyframe, s.path).toBe(true);
        if (i > 0) expect(s.startPtsSeconds).toBeGreaterThan(log.segments[i - 1]!.startPtsSeconds);
      });
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
    },
  );

  it('stop() and release() while a read is blocked on a silent connection return within 500 ms', async () => {
    for (const call of ['stop', 'release'] as const) {
      const dir = await ws.sub(`blocked-${call}`);
      const log = record({
        recordingId: `blocked-${call}`,
        sourceUrl: breaker.via(server.rtmpUrl(APP, CHANNEL)),
        outputDir: dir,
        segmentSeconds: 1,
        connectTimeoutSeconds: 2,
        // Far longer than the wait below: only the interrupt can end the blocked read.
        readTimeoutSeconds: 30,
        maxIdleSeconds: 60,
      });
      recordings.push(log);
      await once(log.recorder, 'started');
      await sleep(2500);
      // Delivered before the stall: none is held for its date when stop() comes (see untilSegments).
      await untilSegments(log, 1);
      expect(breaker.break('stall')).toBe(1);
      // Let the demuxer drain what was already buffered and block in the socket read.
      await sleep(1500);
      const segmentsBefore = log.segments.length;
      const began = performance.now();
      if (call === 'stop') await log.recorder.stop();
      else await log.recorder.release();
      const took = performance.now() - began;
      const final = await log.final;

      expect(took, call).toBeLessThan(500);
      expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
      expect(log.failures, 'the stall was not reported as a lost source: stop came first').toEqual([]);
      // The segment that was open when the read blocked is closed cleanly and kept.
      expect(log.segments.length).toBe(segmentsBefore + 1);
      if (final.type === 'stopped') expect(final.segments).toBe(log.segments.length);
      for (const v of probeSegments(log.segments)) {
        expect(v.errors, v.path).toBe('');
        expect(v.firstVideoFrameIsKey, `${v.path} starts with a keyframe`).toBe(true);
      }
      const { errors, exitCode } = await checkPlaylist(dir, log.segments);
      expect(errors).toBe('');
      expect(exitCode).toBe(0);
      expect(await partFiles(dir)).toEqual([]);
    }
  });

  it('leaves no recorder or thread behind', async () => {
    await Promise.all(recordings.splice(0).map((r) => r.recorder.release({ cancel: true })));
    expect(counters()).toMatchObject({ activeRecorders: 0, threads: 0 });
  });
});
