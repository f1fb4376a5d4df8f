import { ManagedProcess } from './managed-process.js';

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
 * An FFmpeg test-pattern publisher (moving test card + 440 Hz tone) pushed in real time, as a live
 * call's participant would be. The clock overlay makes gaps visible when a recording is played.
 */
export class TestPublisher {
  /** [frame time (s), wall clock when ffmpeg made it (ms)] of every frame so far. */
  private readonly frames: [number, number][] = [];

  private constructor(private readonly proc: ManagedProcess) {}

  static start(options: TestPublisherOptions): TestPublisher {
    const { url, width = 640, height = 360, frameRate = 25, gop = frameRate, format, clock } = options;
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${width}x${height}:rate=${frameRate}`,
      '-re',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      ...(clock ? ['-vf', CLOCK_FILTER] : []),
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
      '-c:a',
      'aac',
      '-b:a',
      '64k',
      '-ar',
      '48000',
      '-f',
      format ?? (url.startsWith('rtmp') ? 'flv' : 'mpegts'),
      url,
    ];
    const publisher = new TestPublisher(new ManagedProcess('ffmpeg publisher', 'ffmpeg', args));
    if (clock) publisher.readClock();
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

  /** Disconnects the publisher, as a participant leaving the channel. */
  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 3000);
  }
}
