import { ManagedProcess } from './managed-process.js';

/** FFmpeg's lavfi test sources a publisher may show (tell users apart in a grid by their pattern). */
export const TEST_PATTERNS = [
  'testsrc2',
  'testsrc',
  'smptebars',
  'smptehdbars',
  'pal75bars',
  'rgbtestsrc',
  'yuvtestsrc',
  'colorspectrum',
] as const;
export type TestPattern = (typeof TEST_PATTERNS)[number];

export interface TestPublisherOptions {
  /** Where to push, e.g. `rtmp://127.0.0.1:1935/live/demo` or an `srt://…?mode=listener` URL. */
  url: string;
  width?: number;
  height?: number;
  frameRate?: number;
  /** Keyframe interval in frames; short GOPs keep segment cuts close to the requested length. */
  gop?: number;
  /** Container for the URL's protocol: `flv` for RTMP, `mpegts` for SRT/UDP. */
  format?: 'flv' | 'mpegts';
  /** Publish an audio stream (default true); `false` makes a video-only publisher. */
  audio?: boolean;
  /** Publish a video stream (default true); `false` makes an audio-only publisher. */
  video?: boolean;
  /** The moving picture (default `testsrc2`). */
  pattern?: TestPattern;
  /** The tone's frequency in Hz (default 440). */
  toneHz?: number;
  /**
   * Marks that make sync measurable in a recording (default false): the frame number drawn in the
   * picture's lower left corner (drawtext; needs FFmpeg with libfreetype and fontconfig, as Debian's),
   * a white square flashing in the upper left corner on the first frame of every second of media time,
   * and a beep (the tone at 4×) at the start of every second. Frame n is at media time n / frameRate.
   */
  syncMarks?: boolean;
  /**
   * Report the publisher's own clock (see `startedAt()`), for tests that check recorded program dates
   * against the publisher's real timing. ffmpeg then prints a number for every video frame.
   */
  clock?: boolean;
}

/**
 * For every frame, its time (`T`, seconds) and then ffmpeg's wall clock (`time(0)`, CLOCK_REALTIME) in ms
 * (`;` evaluates in order), printed at error level so that `-loglevel error` lets them through; the
 * timestamps are left as they are.
 */
const CLOCK_FILTER = "setpts='print(T,16);print(time(0)*1000,16);PTS'";
const CLOCK_LINE = /^-?\d+\.\d+$/;

/**
 * An FFmpeg test-pattern publisher (a moving test card and a tone) pushed in real time, as a live call's
 * participant would be.
 */
export class TestPublisher {
  /** [frame time (s), wall clock when ffmpeg made it (ms)] of every frame so far. */
  private readonly frames: [number, number][] = [];

  private constructor(private readonly proc: ManagedProcess) {}

  static start(options: TestPublisherOptions): TestPublisher {
    const publisher = new TestPublisher(
      new ManagedProcess('ffmpeg publisher', 'ffmpeg', testPublisherArgs(options)),
    );
    if (options.clock) publisher.readClock();
    return publisher;
  }

  /**
   * With `clock`: when the publisher's timeline began on the wall clock (ms since the Unix epoch), as
   * ffmpeg itself measured it: with `-re` a frame is made as soon as the input clock lets it, so the
   * smallest (wall clock - frame time) over its frames is the wall time of its frame at pts 0. Only the
   * frames before `untilSeconds` (frame time) count, e.g. those of a recording's first segment.
   * Undefined before the first frame.
   */
  startedAt(untilSeconds = Infinity): number | undefined {
    let start: number | undefined;
    for (const [t, at] of this.frames) {
      if (t >= untilSeconds) continue;
      start = Math.min(start ?? Infinity, at - t * 1000);
    }
    return start;
  }

  /** With `clock`: the newest frame's time (s) and the wall clock (ms) when ffmpeg made it. */
  lastFrame(): { time: number; at: number } | undefined {
    const last = this.frames.at(-1);
    return last && { time: last[0], at: last[1] };
  }

  private readClock(): void {
    let buffer = '';
    let frameTime: number | undefined;
    this.proc.child.stderr?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (!CLOCK_LINE.test(line.trim())) continue;
        const value = Number(line.trim());
        if (frameTime === undefined) frameTime = value;
        else {
          this.frames.push([frameTime, value]);
          frameTime = undefined;
        }
      }
    });
  }

  get running(): boolean {
    return this.proc.running;
  }

  output(): string {
    return this.proc.output();
  }

  /** Resolves with the exit code when FFmpeg ends (by itself or by stop()). */
  waitExit(): Promise<number | null> {
    return this.proc.waitExit();
  }

  /** Disconnects the publisher, as a participant leaving the channel. */
  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 3000);
  }

  /** Ends FFmpeg at once (SIGKILL): no trailer, no goodbye to the server, as a crash would. */
  async kill(): Promise<void> {
    await this.proc.kill();
  }
}

/** FFmpeg's command line for a test publisher. */
export function testPublisherArgs(options: TestPublisherOptions): string[] {
  const { url, width = 640, height = 360, frameRate = 25, gop = frameRate, format } = options;
  const { audio = true, video = true, pattern = 'testsrc2', toneHz = 440, syncMarks = false } = options;
  if (!audio && !video) throw new TypeError('TestPublisher: audio and video cannot both be false');
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (video) args.push('-re', '-f', 'lavfi', '-i', `${pattern}=size=${width}x${height}:rate=${frameRate}`);
  if (audio) {
    const beep = syncMarks ? ':beep_factor=4' : '';
    args.push('-re', '-f', 'lavfi', '-i', `sine=frequency=${toneHz}:sample_rate=48000${beep}`);
  }
  if (video) {
    const filters = [
      ...(syncMarks ? [syncMarksFilter(height, frameRate)] : []),
      ...(options.clock ? [CLOCK_FILTER] : []),
    ];
    if (filters.length > 0) args.push('-vf', filters.join(','));
    args.push(
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-tune',
      'zerolatency',
      '-pix_fmt',
      'yuv420p',
      '-g',
      String(gop),
      '-keyint_min',
      String(gop),
      '-sc_threshold',
      '0',
      '-b:v',
      '800k',
    );
  }
  if (audio) args.push('-c:a', 'aac', '-b:a', '64k', '-ar', '48000');
  args.push('-f', format ?? (url.startsWith('rtmp') ? 'flv' : 'mpegts'), url);
  return args;
}

function syncMarksFilter(height: number, frameRate: number): string {
  const size = Math.max(8, Math.round(height / 8));
  return [
    `drawbox=x=0:y=0:w=${size}:h=${size}:color=white:t=fill:enable='eq(mod(n,${frameRate}),0)'`,
    `drawtext=text='%{frame_num}':x=8:y=h-th-8:fontsize=${size}:fontcolor=white:box=1:boxcolor=black@0.6`,
  ].join(',');
}
