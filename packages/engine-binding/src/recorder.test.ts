import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecorderError } from './errors.js';
import { writeLocalPlaylist } from './local-playlist.js';
import { counters, Recorder, type SegmentEvent } from './recorder.js';
import {
  decodeErrors,
  firstVideoFrameIsKey,
  makeFile,
  makeTestFile,
  probeDuration,
  probeErrors,
  record,
  run,
  tempDir,
} from './test-support.js';

/** Mounting needs root and CAP_SYS_ADMIN; try it once rather than guess. */
function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'recfleet-mount-'));
  try {
    if (run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status !== 0) return false;
    run('umount', [probe]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

let dir: { path: string; remove(): Promise<void> };
let input: string;
let n = 0;

/** A fresh output directory per recording. */
async function outDir(): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  const path = join(dir.path, `out-${++n}`);
  await mkdir(path);
  return path;
}

beforeAll(async () => {
  dir = await tempDir('engine');
  input = join(dir.path, 'in.ts');
  makeTestFile(input, 6);
});
afterAll(async () => {
  await dir?.remove();
});

/**
 * Stored media is read far faster than real time, so its program dates cannot come from arrival times:
 * they start when its first packet was read and run on with the media, segment after segment.
 */
function expectDatedFromStart(segments: readonly SegmentEvent[], startedAt: number, endedAt: number): void {
  const first = segments[0]!;
  expect(first.programDateTimeMs).toBeGreaterThanOrEqual(startedAt);
  expect(first.programDateTimeMs).toBeLessThanOrEqual(endedAt);
  for (const s of segments) {
    const expected = first.programDateTimeMs + (s.startPtsSeconds - first.startPtsSeconds) * 1000;
    expect(Math.abs(s.programDateTimeMs - expected), `segment ${s.sequence}`).toBeLessThanOrEqual(1);
  }
}

describe('recording a file', () => {
  it('cuts keyframe-aligned segments that play back as one clean stream, then ends with source_ended', async () => {
    const outputDir = await outDir();
    const startedAt = Date.now();
    const rec = record({ recordingId: 'file-1', sourceUrl: `file:${input}`, outputDir, segmentSeconds: 1 });
    const final = await rec.final;
    expectDatedFromStart(rec.segments, startedAt, Date.now());

    expect(final).toMatchObject({ type: 'stopped', reason: 'source_ended', recordingId: 'file-1' });
    expect(rec.order[0]).toBe('joined');
    expect(rec.order[1]).toBe('started');
    expect(rec.order.at(-1)).toBe('stopped');
    expect(rec.segments.length).toBeGreaterThanOrEqual(5);
    if (final.type !== 'stopped') throw new Error('unreachable');
    expect(final.segments).toBe(rec.segments.length);

    rec.segments.forEach((s, i) => {
      expect(s.sequence).toBe(i);
      expect(s.path).toBe(join(outputDir, `file-1_${String(i).padStart(6, '0')}.ts`));
      expect(s.startsWithKeyframe).toBe(true);
      expect(s.discontinuity).toBe(false);
      expect(s.bytes).toBeGreaterThan(0);
      expect(firstVideoFrameIsKey(s.path), `${s.path} starts with a keyframe`).toBe(true);
      expect(probeErrors(s.path), s.path).toBe('');
      if (i < rec.segments.length - 1) expect(s.durationSeconds).toBeCloseTo(1, 1);
    });
    // Segments are contiguous on the recording's timeline.
    for (let i = 1; i < rec.segments.length; i++) {
      const prev = rec.segments[i - 1]!;
      expect(rec.segments[i]!.startPtsSeconds).toBeCloseTo(prev.startPtsSeconds + prev.durationSeconds, 3);
    }
    const total = rec.segments.reduce((t, s) => t + s.durationSeconds, 0);
    expect(final.durationSeconds).toBeCloseTo(total, 3);
    expect(total).toBeGreaterThan(5.5);
    expect(total).toBeLessThan(6.5);

    const files = await readdir(outputDir);
    expect(files.filter((f) => f.endsWith('.part'))).toEqual([]);

    const playlist = await writeLocalPlaylist(outputDir, 'index.m3u8', rec.segments);
    expect(decodeErrors(playlist)).toBe('');
    expect(probeDuration(playlist)).toBeCloseTo(total, 0);
    await rec.recorder.release();
    expect(rec.recorder.state).toBe('released');
  });

  it('numbers from startSequence and flags the first segment as a discontinuity when asked', async () => {
    const outputDir = await outDir();
    const rec = record({
      recordingId: 'resume',
      filePrefix: 'part2',
      sourceUrl: input,
      outputDir,
      segmentSeconds: 2,
      startSequence: 7,
      discontinuity: true,
    });
    await rec.final;
    expect(rec.segments[0]).toMatchObject({ sequence: 7, discontinuity: true });
    expect(rec.segments[0]!.path).toBe(join(outputDir, 'part2_000007.ts'));
    expect(rec.segments.slice(1).every((s) => !s.discontinuity)).toBe(true);
    expect(rec.segments.map((s) => s.sequence)).toEqual(rec.segments.map((_, i) => 7 + i));
    await rec.recorder.release();
  });

  it('stops with max_duration once enough media is recorded', async () => {
    const outputDir = await outDir();
    const rec = record({
      recordingId: 'maxdur',
      sourceUrl: input,
      outputDir,
      segmentSeconds: 1,
      maxDurationSeconds: 3,
    });
    const final = await rec.final;
    expect(final).toMatchObject({ type: 'stopped', reason: 'max_duration' });
    if (final.type !== 'stopped') throw new Error('unreachable');
    expect(final.durationSeconds).toBeGreaterThanOrEqual(2.9);
    expect(final.durationSeconds).toBeLessThan(3.7);
    const playlist = await writeLocalPlaylist(outputDir, 'index.m3u8', rec.segments);
    expect(decodeErrors(playlist)).toBe('');
    await rec.recorder.release();
  });

  it('starts a new segment, flagged discontinuity, when the codec configuration changes mid-stream', async () => {
    // Two FLV recordings joined byte-wise: the second's sequence headers arrive in-band and its clock
    // restarts at 0 — what node-media-server relays when a publisher restarts at another resolution
    // while our session stays open.
    const [first, second] = ['320x240', '640x360'].map((size) => {
      const path = join(dir.path, `${size}.flv`);
      makeFile([
        ...['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25`, '-f', 'lavfi', '-i', 'sine'],
        ...[
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
          '-g',
          '25',
          '-c:a',
          'aac',
          '-t',
          '3',
          '-f',
          'flv',
          path,
        ],
      ]);
      return readFileSync(path);
    });
    const joined = join(dir.path, 'joined.flv');
    writeFileSync(joined, Buffer.concat([first!, second!.subarray(13)])); // 13: FLV header + first tag size
    const outputDir = await outDir();
    const rec = record({ recordingId: 'flv-change', sourceUrl: joined, outputDir, segmentSeconds: 1 });
    expect(await rec.final).toMatchObject({ type: 'stopped', reason: 'source_ended' });

    expect(rec.failures.map((f) => f.code)).toEqual(['STREAM_CHANGED']);
    // The new streams, read from the in-band configuration (the FLV demuxer keeps the old size).
    expect(rec.failures[0]!.streams?.find((s) => s.kind === 'video')).toMatchObject({
      width: 640,
      height: 360,
    });
    const flagged = rec.segments.filter((s) => s.discontinuity);
    expect(flagged).toHaveLength(1);
    const at = rec.segments.indexOf(flagged[0]!);
    expect(at).toBeGreaterThan(0);
    const width = (path: string): number => {
      const out = run(
        'ffprobe',
        ['-v', 'error', '-select_streams', 'v', '-show_frames', '-read_intervals', '%+#1'].concat([
          '-show_entries',
          'frame=width',
          '-of',
          'json',
          path,
        ]),
      );
      return (JSON.parse(out.stdout) as { frames: { width: number }[] }).frames[0]!.width;
    };
    expect(width(rec.segments[at - 1]!.path)).toBe(320);
    expect(width(flagged[0]!.path)).toBe(640);
    // The clock restart is absorbed: the timeline keeps going forward.
    for (let i = 1; i < rec.segments.length; i++) {
      const prev = rec.segments[i - 1]!;
      expect(rec.segments[i]!.startPtsSeconds).toBeGreaterThanOrEqual(
        prev.startPtsSeconds + prev.durationSeconds - 0.05,
      );
    }
    const total = rec.segments.reduce((t, s) => t + s.durationSeconds, 0);
    expect(total).toBeGreaterThan(5.5);
    expect(total).toBeLessThan(6.8);
    const playlist = await writeLocalPlaylist(outputDir, 'index.m3u8', rec.segments);
    expect(decodeErrors(playlist)).toBe('');
    await rec.recorder.release();
  });

  it('ends an HLS VOD source served over http with source_ended instead of reconnecting', async () => {
    const vodDir = await outDir();
    const first = record({ recordingId: 'vod', sourceUrl: input, outputDir: vodDir, segmentSeconds: 2 });
    await first.final;
    await first.recorder.release();
    await writeLocalPlaylist(vodDir, 'index.m3u8', first.segments);
    const server = createHttpServer((req, res) => {
      const file = join(vodDir, basename(req.url ?? '/'));
      readFile(file).then(
        (body) => res.writeHead(200, { 'content-length': body.length }).end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const startedAt = Date.now();
      const rec = record({
        recordingId: 'from-http',
        sourceUrl: `http://127.0.0.1:${port}/index.m3u8`,
        outputDir: await outDir(),
        segmentSeconds: 2,
      });
      expect(await rec.final).toMatchObject({ type: 'stopped', reason: 'source_ended' });
      expect(rec.failures).toEqual([]);
      expectDatedFromStart(rec.segments, startedAt, Date.now());
      const total = rec.segments.reduce((t, s) => t + s.durationSeconds, 0);
      expect(total).toBeGreaterThan(5.5);
      expect(total).toBeLessThan(6.5);
      await rec.recorder.release();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('records audio only, cut by time', async () => {
    const outputDir = await outDir();
    const rec = record({
      recordingId: 'audio',
      sourceUrl: input,
      outputDir,
      segmentSeconds: 2,
      streamTypes: 'audio',
    });
    const started = new Promise((resolve) => rec.recorder.once('started', resolve));
    await rec.final;
    expect(await started).toMatchObject({ streams: [{ kind: 'audio', codec: 'aac', channels: 1 }] });
    expect(rec.segments.length).toBe(3);
    const probe = JSON.parse(
      (await import('node:child_process'))
        .execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', rec.segments[0]!.path])
        .toString(),
    ) as { streams: { codec_type: string }[] };
    expect(probe.streams.map((s) => s.codec_type)).toEqual(['audio']);
    const playlist = await writeLocalPlaylist(outputDir, 'index.m3u8', rec.segments);
    expect(decodeErrors(playlist)).toBe('');
    await rec.recorder.release();
  });
});

describe('failures with stable codes', () => {
  it('fails with OUTPUT_NOT_WRITABLE when the output directory is missing or not a directory', async () => {
    const missing = record({
      recordingId: 'out-missing',
      sourceUrl: input,
      outputDir: join(dir.path, 'nope', 'x'),
    });
    expect(await missing.final).toMatchObject({ type: 'fatal_error', code: 'OUTPUT_NOT_WRITABLE' });
    expect(missing.order).toEqual(['fatal_error']);

    const file = join(dir.path, 'a-file');
    await writeFile(file, 'x');
    const notDir = record({ recordingId: 'out-file', sourceUrl: input, outputDir: file });
    expect(await notDir.final).toMatchObject({ type: 'fatal_error', code: 'OUTPUT_NOT_WRITABLE' });
    await missing.recorder.release();
    await notDir.recorder.release();
  });

  // A small tmpfs stands in for a full disk; mounting needs root, so elsewhere this case is skipped.
  it.skipIf(!canMount())(
    'fails with DISK_FULL, keeping finished segments and removing the partial one',
    async () => {
      const mountPoint = join(dir.path, 'small-disk');
      mkdirSync(mountPoint);
      expect(run('mount', ['-t', 'tmpfs', '-o', 'size=400k', 'tmpfs', mountPoint]).status).toBe(0);
      try {
        const rec = record({
          recordingId: 'full',
          sourceUrl: input,
          outputDir: mountPoint,
          segmentSeconds: 1,
        });
        expect(await rec.final).toMatchObject({ type: 'fatal_error', code: 'DISK_FULL' });
        expect(rec.segments.length).toBeGreaterThanOrEqual(1);
        const files = (await readdir(mountPoint)).sort();
        expect(files).toEqual(rec.segments.map((s) => basename(s.path)).sort());
        for (const s of rec.segments) expect(probeErrors(s.path)).toBe('');
        await rec.recorder.release();
      } finally {
        run('umount', [mountPoint]);
      }
    },
  );

  it('fails with SOURCE_UNREACHABLE for a file that does not exist', async () => {
    const rec = record({
      recordingId: 'nofile',
      sourceUrl: join(dir.path, 'missing.ts'),
      outputDir: await outDir(),
    });
    expect(await rec.final).toMatchObject({ type: 'fatal_error', code: 'SOURCE_UNREACHABLE' });
    await rec.recorder.release();
  });

  it('fails with NO_MEDIA when the selected stream type is absent or the file is not media', async () => {
    const audioOnly = join(dir.path, 'audio-only.ts');
    makeFile(['-f', 'lavfi', '-i', 'sine', '-c:a', 'aac', '-t', '1', '-f', 'mpegts', audioOnly]);
    const rec = record({
      recordingId: 'novideo',
      sourceUrl: audioOnly,
      outputDir: await outDir(),
      streamTypes: 'video',
    });
    expect(await rec.final).toMatchObject({ type: 'fatal_error', code: 'NO_MEDIA' });

    const text = join(dir.path, 'zeros.bin');
    await writeFile(text, Buffer.alloc(64 * 1024));
    const junk = record({ recordingId: 'junk', sourceUrl: text, outputDir: await outDir() });
    expect(await junk.final).toMatchObject({ type: 'fatal_error', code: 'NO_MEDIA' });
    await rec.recorder.release();
    await junk.recorder.release();
  });

  it('fails with UNSUPPORTED_CODEC for a codec MPEG-TS cannot carry', async () => {
    const pcm = join(dir.path, 'pcm.mkv');
    makeFile(['-f', 'lavfi', '-i', 'sine', '-c:a', 'pcm_s16le', '-t', '1', pcm]);
    const rec = record({
      recordingId: 'pcm',
      sourceUrl: pcm,
      outputDir: await outDir(),
      streamTypes: 'audio',
    });
    expect(await rec.final).toMatchObject({ type: 'fatal_error', code: 'UNSUPPORTED_CODEC' });
    await rec.recorder.release();
  });

  it('retries an unreachable source and ends with idle_timeout, without a crash', async () => {
    const began = Date.now();
    const rec = record({
      recordingId: 'unreachable',
      sourceUrl: 'rtmp://127.0.0.1:1/x/y',
      outputDir: await outDir(),
      maxIdleSeconds: 2,
    });
    const final = await rec.final;
    const took = Date.now() - began;
    // Every attempt refused: never reached, which is not an empty source.
    expect(final).toMatchObject({
      type: 'stopped',
      reason: 'idle_timeout',
      segments: 0,
      sourceReached: false,
    });
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(4000);
    expect(rec.failures[0]).toMatchObject({ code: 'SOURCE_UNREACHABLE', connected: false });
    expect(rec.failures[0]!.counts.reconnects).toBeGreaterThanOrEqual(1);
    await rec.recorder.release();
  });
});

describe('whether a source was reached', () => {
  // `.invalid` never resolves (RFC 6761); port 9 (discard) has no SRT listener on this host.
  it.each([
    ['a host name that does not resolve (RTSP)', 'rtsp://no-such-host.invalid/live', false],
    ['a host name that does not resolve (HLS)', 'http://no-such-host.invalid/live.m3u8', false],
    ['an SRT caller that no listener answers', 'srt://127.0.0.1:9?mode=caller', false],
    [
      'an SRT listener that nobody calls',
      `srt://127.0.0.1:${20_000 + (process.pid % 20_000)}?mode=listener`,
      true,
    ],
  ])(
    '%s: sourceReached %s',
    async (_what, sourceUrl, reached) => {
      const rec = record({
        recordingId: 'reach',
        sourceUrl,
        outputDir: await outDir(),
        connectTimeoutSeconds: 1,
        maxIdleSeconds: 2,
      });
      const final = await rec.final;
      expect(final).toMatchObject({
        type: 'stopped',
        reason: 'idle_timeout',
        segments: 0,
        sourceReached: reached,
      });
      expect(rec.failures[0]).toMatchObject({ code: 'SOURCE_UNREACHABLE', connected: reached });
      await rec.recorder.release();
    },
    30_000,
  );
});

describe('stopping and releasing', () => {
  let server: Server;
  let port = 0;
  const sockets = new Set<Socket>();
  let connected: () => void = () => undefined;

  // Accepts the connection and never answers: the RTMP handshake blocks, as on a stalled server.
  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      connected();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('interrupts a blocked join within 500 ms on stop()', async () => {
    const joining = new Promise<void>((resolve) => (connected = resolve));
    const rec = record({
      recordingId: 'stalled',
      sourceUrl: `rtmp://127.0.0.1:${port}/app/stream`,
      outputDir: await outDir(),
      connectTimeoutSeconds: 30,
      maxIdleSeconds: 30,
    });
    await joining;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const began = performance.now();
    const final = await rec.recorder.stop();
    const took = performance.now() - began;
    // The server took the connection: the source was reached, it just sent nothing.
    expect(final).toMatchObject({ type: 'stopped', reason: 'requested', segments: 0, sourceReached: true });
    expect(took).toBeLessThan(500);
    expect(rec.recorder.state).toBe('ended');
    // Stopping again resolves with the same final event.
    expect(await rec.recorder.stop()).toBe(final);
    await rec.recorder.release();
  });

  it('reports a server that takes the connection and never answers as reached, attempt after attempt', async () => {
    const rec = record({
      recordingId: 'silent-server',
      sourceUrl: `rtmp://127.0.0.1:${port}/app/stream`,
      outputDir: await outDir(),
      connectTimeoutSeconds: 1,
      maxIdleSeconds: 2.5,
    });
    const final = await rec.final;
    expect(final).toMatchObject({
      type: 'stopped',
      reason: 'idle_timeout',
      segments: 0,
      sourceReached: true,
    });
    expect(rec.failures[0]).toMatchObject({ code: 'SOURCE_UNREACHABLE', connected: true });
    await rec.recorder.release();
  });

  it('release({ cancel: true }) during a join ends with reason cancelled', async () => {
    const joining = new Promise<void>((resolve) => (connected = resolve));
    const rec = record({
      recordingId: 'cancel-join',
      sourceUrl: `rtmp://127.0.0.1:${port}/app/stream`,
      outputDir: await outDir(),
    });
    await joining;
    const began = performance.now();
    await rec.recorder.release({ cancel: true });
    expect(performance.now() - began).toBeLessThan(500);
    expect(await rec.final).toMatchObject({ type: 'stopped', reason: 'cancelled' });
    expect(rec.order).toEqual(['stopped']);
    expect(rec.recorder.state).toBe('released');
  });

  it('is idempotent on release; every other call afterwards fails with RELEASED', async () => {
    const r = new Recorder();
    await r.release();
    await r.release();
    expect(r.state).toBe('released');
    const opts = { recordingId: 'x', sourceUrl: input, outputDir: dir.path };
    expect(() => r.start(opts)).toThrow(RecorderError);
    try {
      r.start(opts);
    } catch (err) {
      expect((err as RecorderError).code).toBe('RELEASED');
    }
    await expect(r.stop()).rejects.toMatchObject({ code: 'RELEASED' });
  });

  it('refuses a second start and a stop before start', async () => {
    const r = new Recorder();
    await expect(r.stop()).rejects.toMatchObject({ code: 'NOT_STARTED' });
    r.start({ recordingId: 'twice', sourceUrl: input, outputDir: await outDir() });
    expect(() => r.start({ recordingId: 'twice', sourceUrl: input, outputDir: dir.path })).toThrow(
      expect.objectContaining({ code: 'ALREADY_STARTED' }) as Error,
    );
    await r.done;
    await r.release();
  });

  it('counts recorders, threads, bytes and packets across the process', async () => {
    const before = counters();
    const rec = record({
      recordingId: 'counted',
      sourceUrl: input,
      outputDir: await outDir(),
      segmentSeconds: 2,
    });
    await rec.final;
    await rec.recorder.release();
    const after = counters();
    expect(after.activeRecorders).toBe(0);
    expect(after.threads).toBe(0);
    const bytes = rec.segments.reduce((t, s) => t + s.bytes, 0);
    expect(after.bytesWritten - before.bytesWritten).toBe(bytes);
    expect(after.packetsWritten).toBeGreaterThan(before.packetsWritten);
    // The first stream probe in a process is always followed by a heap trim (native/memory_release.cc).
    expect(after.heapTrims).toBeGreaterThan(0);
    expect(existsSync(rec.segments[0]!.path)).toBe(true);
  });
});
