// Shared by the recorder-engine tests: recording helpers and checks with the real FFmpeg tools.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ChannelServer, type TestPublisher } from '@recfleet/embedded';
import {
  NATIVE_EVENTS,
  Recorder,
  writeLocalPlaylist,
  type FinalEvent,
  type RecorderFailureEvent,
  type RecorderOptions,
  type RecorderStartOptions,
  type SegmentEvent,
} from '@recfleet/engine-binding';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { decodePlaylist, probeSegment } from '../src/harness/media-check.js';

export interface Workspace {
  path: string;
  /** A fresh, empty subdirectory. */
  sub(name: string): Promise<string>;
  remove(): Promise<void>;
}

export async function workspace(prefix: string): Promise<Workspace> {
  const path = await mkdtemp(join(tmpdir(), `recfleet-${prefix}-`));
  return {
    path,
    async sub(name: string) {
      const dir = join(path, name);
      await mkdir(dir, { recursive: true });
      return dir;
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

/**
 * The embedded channel server and a workspace for the tests of one file, and the publishers and
 * recordings they start: after each test every recording is released and every publisher stopped.
 */
export class LiveChannelFixture {
  ws!: Workspace;
  server!: ChannelServer;
  readonly publishers: TestPublisher[] = [];
  readonly recordings: RecordingLog[] = [];

  constructor(prefix: string) {
    beforeAll(async () => {
      this.ws = await workspace(prefix);
      this.server = await ChannelServer.start();
    });
    afterEach(async () => {
      await Promise.all(this.recordings.splice(0).map((r) => r.recorder.release({ cancel: true })));
      await Promise.all(this.publishers.splice(0).map((p) => p.stop()));
    });
    afterAll(async () => {
      await this.server?.stop();
      await this.ws?.remove();
    });
  }
}

/** Everything a recording emitted, collected as it happens. */
export interface RecordingLog {
  recorder: Recorder;
  options: RecorderStartOptions;
  segments: SegmentEvent[];
  failures: RecorderFailureEvent[];
  order: string[];
  final: Promise<FinalEvent>;
}

/** Tests of the idle path need not wait the contract's 5 s minimum each. */
export const TEST_RECORDER_OPTIONS: RecorderOptions = { minIdleSeconds: 0.5 };

export function record(options: RecorderStartOptions, recorderOptions: RecorderOptions = {}): RecordingLog {
  const recorder = new Recorder({ ...TEST_RECORDER_OPTIONS, ...recorderOptions });
  const log: RecordingLog = {
    recorder,
    options,
    segments: [],
    failures: [],
    order: [],
    final: recorder.done,
  };
  for (const name of NATIVE_EVENTS) {
    recorder.on(name, () => log.order.push(name));
  }
  recorder.on('segment', (e) => log.segments.push(e));
  recorder.on('recorder_failure', (e) => log.failures.push(e));
  recorder.start(options);
  return log;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Until the recording has reported `count` segments. A live recording's first segments are reported
 * only once its program-date estimate has seen 3 s of media (README "Program date-time"), so a test
 * that needs segments delivered before it breaks something waits for them, not for a fixed time.
 */
export async function untilSegments(log: RecordingLog, count: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + scaledTimeout(timeoutMs);
  while (log.segments.length < count) {
    if (Date.now() > deadline)
      throw new Error(`${log.segments.length} segments, not ${count}, in ${timeoutMs} ms`);
    await sleep(50);
  }
}

export function once<T>(recorder: Recorder, event: 'started' | 'joined' | 'segment'): Promise<T> {
  return new Promise((resolve) => recorder.once(event, (e: unknown) => resolve(e as T)));
}

export function runTool(
  cmd: string,
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Makes a file with ffmpeg from the given arguments (input and output included). */
export function ffmpeg(args: string[]): void {
  const r = runTool('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** `seconds` of H.264 (a keyframe every second, no B-frames) + AAC in MPEG-TS. */
export function makeTestTs(path: string, seconds = 6): void {
  ffmpeg([
    ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac'],
    ...['-t', String(seconds), '-f', 'mpegts', path],
  ]);
}

/** ffmpeg's error lines with the per-run context addresses taken out, so runs can be compared. */
export function normalizedErrors(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.replace(/ @ 0x[0-9a-f]+\]/g, ']').trim())
    .filter(Boolean);
}

/** Errors ffmpeg prints decoding a file or playlist at `-v error` (with its exit code). */
export function decodeErrors(path: string): { errors: string; exitCode: number | null } {
  return decodePlaylist(path);
}

/** MD5 of every decoded video frame, in order (single-threaded decoding, so it is deterministic). */
export function frameHashes(path: string): string[] {
  const r = runTool('ffmpeg', [
    '-nostdin',
    '-v',
    'quiet',
    '-threads',
    '1',
    '-i',
    path,
    '-map',
    '0:v:0',
    '-f',
    'framemd5',
    '-',
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg could not decode ${path}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',').at(-1)!.trim());
}

export interface SegmentVerdict {
  path: string;
  decodes: boolean;
  errors: string;
  /**
   * The first video packet in the file is flagged key and the first decoded picture is a keyframe. The
   * packet is what matters: the H.264 decoder silently skips pictures until it can decode one, so the
   * first *decoded* frame is a keyframe even in a segment cut mid-GOP.
   */
  firstVideoFrameIsKey: boolean | undefined;
  streams: string[];
}

/** ffprobe/ffmpeg over each segment: it decodes, and it starts with a video keyframe. */
export function probeSegments(segments: readonly SegmentEvent[]): SegmentVerdict[] {
  return segments.map((s) => {
    const v = probeSegment(s.path);
    return { path: s.path, ...v };
  });
}

/** Writes the local playlist and decodes it whole; `errors` must be empty for a clean recording. */
export async function checkPlaylist(
  dir: string,
  segments: readonly SegmentEvent[],
  name = 'index.m3u8',
): Promise<{ playlist: string; errors: string; exitCode: number | null }> {
  const playlist = await writeLocalPlaylist(dir, name, segments);
  return { playlist, ...decodePlaylist(playlist) };
}

/** Leftover partial files in an output directory (there must be none after a recording ends). */
export async function partFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.part'));
}

export function totalDuration(segments: readonly SegmentEvent[]): number {
  return segments.reduce((t, s) => t + s.durationSeconds, 0);
}

export { seededRandom } from '../src/harness/seeded-random.js';

interface Link {
  client: Socket;
  upstream: Socket;
  /** Set once the test broke it: the relay's own clean-up must not turn a FIN into a RST. */
  broken: boolean;
}

/**
 * A TCP relay in front of a live server whose open connections can be broken the way networks break
 * them: `end` (FIN: the reader sees a sudden EOF), `reset` (RST: ECONNRESET, an I/O error) or `stall`
 * (bytes stop flowing, nothing is closed). New connections are relayed normally, so a recorder that
 * reconnects gets through again.
 */
export class LinkBreaker {
  private readonly broken: Link[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly links: Set<Link>,
  ) {}

  static async start(targetPort: number): Promise<LinkBreaker> {
    const links = new Set<Link>();
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      const link: Link = { client, upstream, broken: false };
      links.add(link);
      const drop = (): void => {
        if (link.broken) return;
        links.delete(link);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new LinkBreaker(server, (server.address() as AddressInfo).port, links);
  }

  /** Connections currently relayed. */
  get open(): number {
    return this.links.size;
  }

  /** Rewrites a URL on the target's port to go through the relay. */
  via(url: string): string {
    const u = new URL(url);
    u.port = String(this.port);
    return u.toString();
  }

  /** Breaks every open connection; returns how many were broken. */
  break(how: 'end' | 'reset' | 'stall'): number {
    const count = this.links.size;
    for (const link of [...this.links]) {
      const { client, upstream } = link;
      link.broken = true;
      this.links.delete(link);
      this.broken.push(link);
      client.unpipe(upstream);
      upstream.unpipe(client);
      if (how === 'stall') {
        // Held open and silent: only the recorder's read timeout can notice.
        client.pause();
        upstream.pause();
        continue;
      }
      upstream.destroy();
      if (how === 'reset') {
        client.resetAndDestroy();
      } else {
        // FIN only: keep reading what the recorder still sends, so that closing later is not a RST.
        client.resume();
        client.end();
      }
    }
    return count;
  }

  async close(): Promise<void> {
    for (const { client, upstream } of [...this.links, ...this.broken]) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A test's timeout, stretched like the suite's defaults by RECFLEET_TEST_TIMEOUT_SCALE. */
export function scaledTimeout(ms: number): number {
  return ms * Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
}

/** `<width>x<height>` of the first decoded video frame, as ffprobe reports it. */
export function firstFrameSize(path: string): string {
  const r = runTool('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '%+#1'],
    ...['-show_entries', 'frame=width,height', '-of', 'csv=p=0:s=x', path],
  ]);
  if (r.status !== 0) throw new Error(`ffprobe failed on ${path}: ${r.stderr}`);
  // ffprobe may append empty side-data fields after the two asked for.
  const [width, height] = r.stdout.trim().split('\n')[0]!.split('x');
  return `${width}x${height}`;
}

/** Runs `fn` over `items` with at most `limit` in flight (child processes on a 2-core machine). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

function runToolAsync(
  cmd: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr: stderr.trim() }));
  });
}

/**
 * One ffprobe pass that decodes every frame of a segment (ffprobe decodes to report frames): what
 * probeSegments checks, in one process and without blocking, for checking hundreds of segments.
 */
export async function probeSegmentAsync(path: string): Promise<SegmentVerdict & { videoFrames: number }> {
  const r = await runToolAsync('ffprobe', [
    ...[
      '-v',
      'error',
      '-show_entries',
      'stream=codec_type:packet=codec_type,flags:frame=media_type,key_frame',
    ],
    ...['-of', 'json', path],
  ]);
  type Entry = {
    type?: string;
    codec_type?: string;
    flags?: string;
    media_type?: string;
    key_frame?: number;
  };
  let entries: Entry[] = [];
  let streams: string[] = [];
  try {
    const parsed = JSON.parse(r.stdout) as {
      packets_and_frames?: Entry[];
      streams?: { codec_type?: string }[];
    };
    entries = parsed.packets_and_frames ?? [];
    streams = (parsed.streams ?? []).map((s) => s.codec_type ?? '');
  } catch {
    // Unparseable output leaves entries and streams empty: the checks on them fail with the path.
  }
  const firstPacket = entries.find((e) => e.type === 'packet' && e.codec_type === 'video');
  const frames = entries.filter((e) => e.type === 'frame' && e.media_type === 'video');
  return {
    path,
    decodes: r.status === 0 && r.stderr === '',
    errors: r.stderr,
    firstVideoFrameIsKey: streams.includes('video')
      ? firstPacket?.flags?.startsWith('K') === true && frames[0]?.key_frame === 1
      : undefined,
    streams,
    videoFrames: frames.length,
  };
}

/** `ffmpeg -v error` over a whole playlist without blocking, so that several can run side by side. */
export async function decodePlaylistAsync(
  playlist: string,
): Promise<{ errors: string; exitCode: number | null }> {
  const r = await runToolAsync('ffmpeg', ['-nostdin', '-v', 'error', '-i', playlist, '-f', 'null', '-']);
  return { errors: r.stderr, exitCode: r.status };
}

/**
 * Every segment decodes without an error, starts with a video keyframe and has both streams, and the
 * recording's playlist decodes whole.
 */
export async function expectCleanRecording(log: RecordingLog): Promise<void> {
  for (const v of probeSegments(log.segments)) {
    expect(v.errors, v.path).toBe('');
    expect(v.firstVideoFrameIsKey, v.path).toBe(true);
    expect(v.streams, v.path).toEqual(expect.arrayContaining(['video', 'audio']));
  }
  const { errors, exitCode } = await checkPlaylist(log.options.outputDir, log.segments);
  expect(errors).toBe('');
  expect(exitCode).toBe(0);
}
