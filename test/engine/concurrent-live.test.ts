/**
 * 100 recorder instances in one process recording one live RTMP channel (node-media-server fans the
 * publisher out to 100 players) for ~8 s, then stopped together. Every instance's output must be
 * complete and clean. On this 2-core machine one node-media-server process sustains 100 players of a
 * 320x180@15 channel, so a single channel and a single publisher are used.
 */
import { ChannelServer, TestPublisher } from '@recfleet/embedded';
import { counters, writeLocalPlaylist, type FinalEvent } from '@recfleet/engine-binding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodePlaylistAsync,
  mapLimit,
  probeSegmentAsync,
  record,
  scaledTimeout,
  sleep,
  totalDuration,
  workspace,
  type RecordingLog,
  type Workspace,
} from './support.js';

const INSTANCES = 100;
const APP = 'fanout';
const CHANNEL = 'one channel';

let ws: Workspace;
let server: ChannelServer;
let publisher: TestPublisher | undefined;
const logs: RecordingLog[] = [];

beforeAll(async () => {
  ws = await workspace('fanout');
  server = await ChannelServer.start();
  const live = server.waitForPublish(APP, CHANNEL, 20_000);
  publisher = TestPublisher.start({
    url: server.rtmpUrl(APP, CHANNEL),
    width: 320,
    height: 180,
    frameRate: 15,
    gop: 15,
  });
  await live;
});
afterAll(async () => {
  await Promise.all(logs.map((l) => l.recorder.release({ cancel: true })));
  await publisher?.stop();
  await server?.stop();
  await ws?.remove();
});

describe(`${INSTANCES} recorders on one live channel`, () => {
  it(
    'all record ~8 s and stop with complete, clean output',
    { timeout: scaledTimeout(150_000) },
    async () => {
      const dirs: string[] = [];
      for (let i = 0; i < INSTANCES; i++) {
        const dir = await ws.sub(`r${i}`);
        dirs.push(dir);
        logs.push(
          record({
            recordingId: `fan-${i}`,
            sourceUrl: server.rtmpUrl(APP, CHANNEL),
            outputDir: dir,
            segmentSeconds: 2,
            maxIdleSeconds: 30,
            connectTimeoutSeconds: 20,
            readTimeoutSeconds: 10,
          }),
        );
      }
      // Every instance joined and started before the clock of the recording runs.
      await Promise.all(
        logs.map(
          (l) =>
            new Promise<void>((resolve, reject) => {
              if (l.order.includes('started')) return resolve();
              l.recorder.once('started', () => resolve());
              void l.final.then((f) =>
                reject(new Error(`${l.options.recordingId} ended early: ${JSON.stringify(f)}`)),
              );
            }),
        ),
      );
      expect(counters().activeRecorders).toBe(INSTANCES);
      await sleep(8000);
      const finals: FinalEvent[] = await Promise.all(logs.map((l) => l.recorder.stop()));
      await Promise.all(logs.map((l) => l.recorder.release()));

      for (const [i, final] of finals.entries()) {
        expect(final, `instance ${i}`).toMatchObject({ type: 'stopped', reason: 'requested' });
      }
      expect(counters()).toMatchObject({ activeRecorders: 0, threads: 0 });

      const short = logs
        .filter((l) => l.segments.length < 3)
        .map((l) => `${l.options.recordingId}: ${l.segments.length}`);
      expect(short, 'instances with fewer than 3 segments').toEqual([]);
      // ~8 s each, give or take a GOP at either end and a loaded machine.
      const off = logs
        .filter((l) => totalDuration(l.segments) < 6 || totalDuration(l.segments) > 11)
        .map((l) => `${l.options.recordingId}: ${totalDuration(l.segments).toFixed(2)} s`);
      expect(off, 'instances whose recording is not ~8 s long').toEqual([]);
      const failures = logs.flatMap((l) =>
        l.failures.map((f) => `${l.options.recordingId}: ${f.code} ${f.message}`),
      );
      expect(failures, 'no instance lost the source while 100 played it').toEqual([]);
      for (const l of logs) {
        const final = l.recorder.result;
        if (final?.type === 'stopped') expect(final.segments).toBe(l.segments.length);
        l.segments.forEach((s, k) => {
          expect(s.sequence).toBe(k);
          expect(s.startsWithKeyframe, s.path).toBe(true);
          expect(s.discontinuity, s.path).toBe(false);
        });
      }

      // Every instance's playlist decodes with no error output (two ffmpeg processes at a time).
      const playlists = await Promise.all(
        logs.map((l, i) => writeLocalPlaylist(dirs[i]!, 'index.m3u8', l.segments)),
      );
      const decoded = await mapLimit(playlists, 2, decodePlaylistAsync);
      const dirty = decoded
        .map((d, i) => ({ ...d, playlist: playlists[i] }))
        .filter((d) => d.errors !== '' || d.exitCode !== 0);
      expect(dirty, 'playlists that do not decode cleanly').toEqual([]);

      // Every segment of every instance decodes on its own, without a word from the decoder, has both
      // streams, and starts with a keyframe.
      const segments = logs.flatMap((l) => l.segments);
      const verdicts = await mapLimit(segments, 2, (s) => probeSegmentAsync(s.path));
      const bad = verdicts.filter(
        (v) =>
          !v.decodes ||
          v.firstVideoFrameIsKey !== true ||
          v.videoFrames === 0 ||
          !v.streams.includes('video') ||
          !v.streams.includes('audio'),
      );
      expect(bad, `segments that do not probe clean (of ${verdicts.length})`).toEqual([]);
    },
  );
});
