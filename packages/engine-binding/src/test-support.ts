// Shared by this package's tests (excluded from the build): real FFmpeg processes, real sockets.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder, type FinalEvent, type RecorderFailureEvent, type SegmentEvent } from './recorder.js';
import { NATIVE_EVENTS } from './native-vocabulary.js';
import type { RecorderOptions } from './recorder-options.js';
import type { RecorderStartOptions } from './start-options.js';

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `recfleet-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A free UDP port on loopback (SRT runs over UDP). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TEST_SOURCE = [
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=320x240:rate=25',
  '-f',
  'lavfi',
  '-i',
  'sine',
  '-c:v',
  'libx264',
  '-preset',
  'ultrafast',
  '-g',
  '25',
  '-c:a',
  'aac',
];

/** 6 s of H.264 (a keyframe every second) + AAC in MPEG-TS. */
export function makeTestFile(path: string, seconds = 6, extra: string[] = []): void {
  const r = run('ffmpeg', [
    '-v',
    'error',
    '-y',
    ...TEST_SOURCE,
    ...extra,
    '-t',
    String(seconds),
    '-f',
    'mpegts',
    path,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg could not make ${path}: ${r.stderr}`);
}

export function makeFile(args: string[]): void {
  const r = run('ffmpeg', ['-v', 'error', '-y', ...args]);
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
}

/** A live SRT publisher in listener mode, paced in real time (`-re`), as a channel's encoder would be. */
export function startSrtPublisher(port: number, size = '320x240'): ChildProcess {
  const source = TEST_SOURCE.map((a) => (a.startsWith('testsrc2=') ? `testsrc2=size=${size}:rate=25` : a));
  const args = ['-v', 'error', '-re', ...source, '-f', 'mpegts', `srt://127.0.0.1:${port}?mode=listener`];
  const child = spawn('ffmpeg', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.resume();
  return child;
}

/** A live MPEG-TS publisher over UDP, paced in real time (`-re`), sending to 127.0.0.1:`port`. */
export function startUdpPublisher(port: number): ChildProcess {
  const args = [
    '-v',
    'error',
    '-re',
    ...TEST_SOURCE,
    '-f',
    'mpegts',
    `udp://127.0.0.1:${port}?pkt_size=1316`,
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume();
  return child;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** A test's timeout, stretched like the suite's defaults by RECFLEET_TEST_TIMEOUT_SCALE. */
export function scaledTimeout(ms: number): number {
  return ms * Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Everything a recording emitted, collected as it happens. */
export interface RecordingLog {
  recorder: Recorder;
  segments: SegmentEvent[];
  failures: RecorderFailureEvent[];
  order: string[];
  final: Promise<FinalEvent>;
}

/** Tests of the idle path need not wait the contract's 5 s minimum each. */
export const TEST_RECORDER_OPTIONS: RecorderOptions = { minIdleSeconds: 0.5 };

export function record(options: RecorderStartOptions): RecordingLog {
  const recorder = new Recorder(TEST_RECORDER_OPTIONS);
  const segments: SegmentEvent[] = [];
  const failures: RecorderFailureEvent[] = [];
  const order: string[] = [];
  for (const name of NATIVE_EVENTS) {
    recorder.on(name, () => order.push(name));
  }
  recorder.on('segment', (e) => segments.push(e));
  recorder.on('recorder_failure', (e) => failures.push(e));
  recorder.start(options);
  return { recorder, segments, failures, order, final: recorder.done };
}

/**
 * The first video packet of the file is flagged key and decodes as a keyframe. Both: the decoder skips
 * frames until a keyframe, so a segment cut mid-GOP still shows a key *frame* first.
 */
export function firstVideoFrameIsKey(path: string): boolean {
  const r = run('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '%+#1'],
    ...[
      '-show_entries',
      'packet=flags:frame=key_frame',
      '-show_frames',
      '-show_packets',
      '-of',
      'json',
      path,
    ],
  ]);
  if (r.status !== 0) return false;
  const parsed = JSON.parse(r.stdout) as {
    packets_and_frames?: { type: string; flags?: string; key_frame?: number }[];
  };
  const items = parsed.packets_and_frames ?? [];
  const packet = items.find((i) => i.type === 'packet');
  const frame = items.find((i) => i.type === 'frame');
  return packet?.flags?.startsWith('K') === true && frame?.key_frame === 1;
}

/** ffprobe's complaints about a file (empty when it is clean). */
export function probeErrors(path: string): string {
  const r = run('ffprobe', ['-v', 'error', '-show_streams', '-show_format', path]);
  return r.status === 0 ? r.stderr.trim() : `exit ${r.status}: ${r.stderr.trim()}`;
}

/** Decodes the whole playlist; returns what ffmpeg printed at error level (should be nothing). */
export function decodeErrors(playlist: string): string {
  const r = run('ffmpeg', ['-v', 'error', '-i', playlist, '-f', 'null', '-']);
  return r.status === 0 ? r.stderr.trim() : `exit ${r.status}: ${r.stderr.trim()}`;
}

export function probeDuration(path: string): number {
  const r = run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path]);
  return Number(r.stdout.trim());
}
