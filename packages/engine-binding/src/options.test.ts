import { describe, expect, it } from 'vitest';
import { RecorderError } from './errors.js';
import { resolveStartOptions } from './options.js';
import { Recorder } from './recorder.js';

const valid = { recordingId: 'rec-1', sourceUrl: 'rtmp://127.0.0.1/live/room', outputDir: '/tmp/out' };

function refusal(input: unknown, env: NodeJS.ProcessEnv = {}): RecorderError {
  try {
    resolveStartOptions(input, env);
  } catch (err) {
    expect(err).toBeInstanceOf(RecorderError);
    return err as RecorderError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('start options', () => {
  it('applies the defaults', () => {
    expect(resolveStartOptions(valid, {})).toEqual({
      ...valid,
      filePrefix: 'rec-1',
      segmentSeconds: 10,
      maxIdleSeconds: 30,
      streamTypes: 'both',
      maxDurationSeconds: 0,
      startSequence: 0,
      discontinuity: false,
      connectTimeoutSeconds: 10,
      readTimeoutSeconds: 10,
      isFile: false,
    });
  });

  it('accepts every supported scheme, file: URLs and absolute paths', () => {
    for (const url of [
      'rtmp://h/app/s',
      'rtmps://h/app/s',
      'srt://h:9000?mode=caller',
      'rtsp://h/s',
      'http://h/s.m3u8',
      'https://h/s.flv',
      'udp://@:1234',
      'rtp://127.0.0.1:5004',
    ]) {
      expect(resolveStartOptions({ ...valid, sourceUrl: url }, {}).isFile).toBe(false);
    }
    expect(resolveStartOptions({ ...valid, sourceUrl: 'file:/a/b.ts' }, {})).toMatchObject({ isFile: true });
    // A plain path is handed to FFmpeg as file: so that a colon in it is not read as a protocol.
    expect(resolveStartOptions({ ...valid, sourceUrl: '/a/b:c.ts' }, {})).toMatchObject({
      isFile: true,
      sourceUrl: 'file:/a/b:c.ts',
    });
  });

  it.each([
    ['recordingId', undefined],
    ['recordingId', ''],
    ['recordingId', 'has space'],
    ['recordingId', 'x'.repeat(129)],
    ['recordingId', 42],
    ['sourceUrl', ''],
    ['sourceUrl', 'ftp://h/x'],
    ['sourceUrl', 'relative/path.ts'],
    ['sourceUrl', 'rtmp://'],
    ['sourceUrl', 'file:'],
    ['outputDir', 'relative'],
    ['outputDir', undefined],
    ['filePrefix', '../escape'],
    ['segmentSeconds', 0.5],
    ['segmentSeconds', 61],
    ['segmentSeconds', '10'],
    ['segmentSeconds', Number.NaN],
    ['maxIdleSeconds', 4],
    ['maxIdleSeconds', 3601],
    ['streamTypes', 'subtitles'],
    ['maxDurationSeconds', 0],
    ['maxDurationSeconds', -1],
    ['maxDurationSeconds', Number.POSITIVE_INFINITY],
    ['startSequence', -1],
    ['startSequence', 1.5],
    ['discontinuity', 'yes'],
    ['connectTimeoutSeconds', 0],
    ['connectTimeoutSeconds', 121],
    ['readTimeoutSeconds', 0.5],
  ])('refuses %s = %o, naming it', (option, value) => {
    const err = refusal({ ...valid, [option]: value });
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.option).toBe(option);
    expect(err.message).toMatch(new RegExp(`^Expected .+ for ${option} but received `));
  });

  it('refuses a misspelled option instead of silently using its default', () => {
    const err = refusal({ ...valid, segmentSecond: 4 });
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.option).toBe('segmentSecond');
    expect(err.message).toContain('segmentSeconds');
  });

  it('refuses a non-object', () => {
    expect(refusal(null).option).toBe('options');
    expect(refusal('rtmp://x').option).toBe('options');
  });

  it('allows a short idle limit only when the test switch is set', () => {
    expect(refusal({ ...valid, maxIdleSeconds: 1 }).option).toBe('maxIdleSeconds');
    const short = resolveStartOptions(
      { ...valid, maxIdleSeconds: 1 },
      { RECFLEET_TEST_ALLOW_SHORT_IDLE: '1' },
    );
    expect(short.maxIdleSeconds).toBe(1);
  });

  it('validates in start() before anything native runs, and the recorder stays usable', () => {
    const r = new Recorder();
    expect(() => r.start({ ...valid, segmentSeconds: 0 })).toThrow(RecorderError);
    expect(r.state).toBe('idle');
  });
});
