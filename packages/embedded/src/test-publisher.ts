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
}

/**
 * An FFmpeg test-pattern publisher (moving test card + 440 Hz tone) pushed in real time, as a live
 * call's participant would be. The clock overlay makes gaps visible when a recording is played.
 */
export class TestPublisher {
  private constructor(private readonly proc: ManagedProcess) {}

  static start(options: TestPublisherOptions): TestPublisher {
    const { url, width = 640, height = 360, frameRate = 25, gop = frameRate, format } = options;
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
    return new TestPublisher(new ManagedProcess('ffmpeg publisher', 'ffmpeg', args));
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
