import { describe, expect, it } from 'vitest';
import { loadAddon, type NativeStartOptions } from './loader.js';
import { nativeStartOptions } from './native-options.js';
import { RECORDER_OPTION_RULES, resolveRecorderOptions } from './recorder-options.js';
import { resolveStartOptions, type RecorderStartOptions } from './start-options.js';

const valid = { recordingId: 'rec-1', sourceUrl: 'rtmp://127.0.0.1/live/room', outputDir: '/tmp/out' };

function native(start: Partial<RecorderStartOptions> = {}, policy: object = {}): NativeStartOptions {
  return nativeStartOptions(resolveStartOptions({ ...valid, ...start }), resolveRecorderOptions(policy));
}

/** Calls the addon's start() directly and returns what it threw (it must throw: no thread is started). */
function startRefusal(options: unknown): Error {
  const recorder = new (loadAddon().NativeRecorder)(() => undefined);
  try {
    recorder.start(options as NativeStartOptions);
  } catch (err) {
    return err as Error;
  }
  recorder.cancel();
  recorder.join();
  throw new Error('the addon started a recording from incomplete options');
}

describe('the options the addon receives', () => {
  it("start the timeline where a resumed recorder says, else at the host's start", () => {
    expect(native({}, { timelineStartSeconds: 2 }).timelineStartSeconds).toBe(2);
    expect(native({ timelineStartSeconds: 5123.4 }, { timelineStartSeconds: 2 }).timelineStartSeconds).toBe(
      5123.4,
    );
  });

  it('carry the engine policy as it was resolved', () => {
    const n = native({}, { reconnectMaxDelayMs: 5000, corruptReportIntervalMs: 100 });
    expect(n).toMatchObject({
      reconnectInitialDelayMs: RECORDER_OPTION_RULES.reconnectInitialDelayMs.default,
      reconnectMaxDelayMs: 5000,
      corruptReportIntervalMs: 100,
      connectTimeoutMs: 10_000,
      readTimeoutMs: 10_000,
      maxDurationSeconds: 0,
      wantAudio: true,
      wantVideo: true,
    });
  });

  it('decide per source: probing, RTSP over TCP, whether an end of input is the end', () => {
    const live = native();
    expect(live.inputOptions).toEqual({
      analyzeduration: String(RECORDER_OPTION_RULES.liveProbeSeconds.default * 1_000_000),
      probesize: String(RECORDER_OPTION_RULES.probeBytes.default),
    });
    expect(live).toMatchObject({ isFile: false, endsAtKnownDuration: false });
    const file = native({ sourceUrl: '/media/in.ts' });
    expect(file.inputOptions.analyzeduration).toBe(
      String(RECORDER_OPTION_RULES.fileProbeSeconds.default * 1_000_000),
    );
    expect(file).toMatchObject({ isFile: true, sourceUrl: 'file:/media/in.ts' });
    expect(native({ sourceUrl: 'rtsp://cam/stream' }).inputOptions.rtsp_transport).toBe('tcp');
    expect(native({ sourceUrl: 'https://cdn/vod.m3u8' }).endsAtKnownDuration).toBe(true);
    expect(native({ streamTypes: 'audio' })).toMatchObject({ wantAudio: true, wantVideo: false });
  });

  it('watch for gaps where media arrives as it is made, not where it comes in bursts', () => {
    expect(native({ gapSeconds: 3 }).gapSeconds).toBe(3);
    expect(native({ sourceUrl: 'srt://h:9000?mode=caller', gapSeconds: 3 }).gapSeconds).toBe(3);
    // A file is read at full speed, HLS a segment at a time: their timestamps carry any gap.
    expect(native({ sourceUrl: '/media/in.ts' }).gapSeconds).toBe(0);
    expect(native({ sourceUrl: 'https://cdn/live.m3u8' }).gapSeconds).toBe(0);
  });

  it('choose the reader per source: the buffered RTMP client for rtmp(s)://, libavformat for the rest', () => {
    const reader = (sourceUrl: string, policy: object = {}, rtmps = true): string =>
      nativeStartOptions(resolveStartOptions({ ...valid, sourceUrl }), resolveRecorderOptions(policy), {
        rtmps,
      }).sourceReader;
    expect(reader('rtmp://h/live/room?sign=1-abc')).toBe('rtmp');
    expect(reader('rtmps://h/live/room')).toBe('rtmp');
    // A build without GnuTLS leaves rtmps:// to libavformat.
    expect(reader('rtmps://h/live/room', {}, false)).toBe('libavformat');
    // Credentials in the user-info are for libavformat's Adobe/Limelight authentication.
    expect(reader('rtmp://user:secret@h/live/room')).toBe('libavformat');
    expect(reader('rtmp://h/live/room', { rtmpReadBufferBytes: 0 })).toBe('libavformat');
    // Plain udp:// (any address, or an IPv4 host or multicast group) is read in batches by the engine;
    // options and names stay with libavformat.
    for (const url of ['udp://@:1234', 'udp://:1234', 'udp://239.1.1.1:5000'])
      expect(reader(url)).toBe('udp');
    expect(reader('udp://@:1234?localaddr=10.0.0.2')).toBe('libavformat');
    expect(reader('udp://host.example:1234')).toBe('libavformat');
    expect(reader('udp://@:1234', { udpReadBufferBytes: 0 })).toBe('libavformat');
    expect(reader('rtp://@:5004')).toBe('rtp');
    expect(reader('rtp://127.0.0.1:5004')).toBe('rtp');
    expect(reader('rtp://@:5004', { udpReadBufferBytes: 0 })).toBe('libavformat');
    const rtp = nativeStartOptions(
      resolveStartOptions({ ...valid, sourceUrl: 'rtp://@:5004' }),
      resolveRecorderOptions(),
    );
    expect(rtp.readBufferBytes).toBe(RECORDER_OPTION_RULES.udpReadBufferBytes.default);
    for (const url of ['srt://h:9000', 'rtsp://h/cam', 'http://h/live.m3u8', '/media/in.ts']) {
      expect(reader(url)).toBe('libavformat');
    }
    const n = native({}, { rtmpReadBufferBytes: 8192, rtmpLowWaterBytes: 65536, readPollIntervalMs: 50 });
    expect(n).toMatchObject({ readBufferBytes: 8192, readLowWaterBytes: 8192, readPollIntervalMs: 50 });
  });

  // The C++ keeps no default of its own: each field must arrive, with its type.
  it.each(Object.keys(native()))('are refused by the addon without %s, or with it mistyped', (key) => {
    const complete = native() as unknown as Record<string, unknown>;
    const { [key]: _dropped, ...missing } = complete;
    for (const options of [missing, { ...complete, [key]: null }]) {
      const err = startRefusal(options);
      expect(err).toBeInstanceOf(TypeError);
      expect(err.message).toContain(key);
    }
  });

  it('say what tells the engine that an open never reached the source', () => {
    const of = (sourceUrl: string) => {
      const n = native({ sourceUrl });
      return { resolveHost: n.resolveHost, unansweredOpenUnreached: n.unansweredOpenUnreached };
    };
    // Names are resolved first where libavformat opens the connection (it says EIO for no such host).
    expect(of('rtsp://cam.example/live')).toEqual({
      resolveHost: 'cam.example',
      unansweredOpenUnreached: false,
    });
    expect(of('https://cdn.example/a.m3u8')).toMatchObject({ resolveHost: 'cdn.example' });
    expect(of('rtsp://10.0.0.5/live')).toMatchObject({ resolveHost: '' });
    expect(of('rtsp://[::1]:8554/live')).toMatchObject({ resolveHost: '' });
    // The engine's own RTMP client knows whether it connected; user-info sends it to libavformat.
    expect(of('rtmp://media.example/app/x')).toMatchObject({ resolveHost: '' });
    expect(of('rtmp://u:p@media.example/app/x')).toMatchObject({ resolveHost: 'media.example' });
    // An SRT caller without a handshake met no peer; a listener that nobody calls is an empty channel.
    expect(of('srt://ingest.example:9000')).toEqual({
      resolveHost: 'ingest.example',
      unansweredOpenUnreached: true,
    });
    expect(of('srt://0.0.0.0:9000?mode=listener')).toEqual({
      resolveHost: '',
      unansweredOpenUnreached: false,
    });
    expect(of('udp://@:1234')).toEqual({ resolveHost: '', unansweredOpenUnreached: false });
  });

  it('are refused by the addon when an input option is not a string', () => {
    const err = startRefusal({ ...native(), inputOptions: { probesize: 1000 } });
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('inputOptions.probesize');
  });
});
