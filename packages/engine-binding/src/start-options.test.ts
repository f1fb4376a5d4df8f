import {
  DEFAULT_STREAM_TYPES,
  GAP_SECONDS_RULE,
  MAX_DURATION_SECONDS_RULE,
  MAX_IDLE_SECONDS_RULE,
  SEGMENT_SECONDS_RULE,
  SOURCE_SCHEMES,
  STREAM_TYPES,
  type NumberRule,
} from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import { RecorderError } from './errors.js';
import { Recorder } from './recorder.js';
import {
  CONNECT_TIMEOUT_SECONDS_RULE,
  READ_TIMEOUT_SECONDS_RULE,
  resolveStartOptions,
  START_SEQUENCE_RULE,
  type StartLimits,
} from './start-options.js';

const valid = { recordingId: 'rec-1', sourceUrl: 'rtmp://127.0.0.1/live/room', outputDir: '/tmp/out' };

function refusal(input: unknown, limits?: StartLimits): RecorderError {
  try {
    resolveStartOptions(input, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(RecorderError);
    return err as RecorderError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

function expectRefused(option: string, value: unknown, limits?: StartLimits): RecorderError {
  const err = refusal({ ...valid, [option]: value }, limits);
  expect(err.code).toBe('INVALID_OPTION');
  expect(err.option).toBe(option);
  expect(err.message).toMatch(new RegExp(`^Expected .+ for ${option} but received `));
  return err;
}

/** What a number rule allows and refuses at its edges, read from the rule itself. */
function expectRuleApplied(option: string, rule: NumberRule): void {
  for (const ok of [rule.min, rule.max]) {
    expect(resolveStartOptions({ ...valid, [option]: ok })).toMatchObject({ [option]: ok });
  }
  const step = rule.integer ? 1 : 0.001;
  expectRefused(option, rule.min - step);
  expectRefused(option, rule.max + step);
  expectRefused(option, String(rule.min));
  expectRefused(option, Number.NaN);
  if (rule.integer) expectRefused(option, rule.min + 0.5);
  else
    expect(resolveStartOptions({ ...valid, [option]: rule.min + 0.5 })).toMatchObject({
      [option]: rule.min + 0.5,
    });
  const absent = resolveStartOptions(valid) as unknown as Record<string, unknown>;
  expect(absent[option]).toBe(rule.default);
}

describe('start options', () => {
  it('applies the defaults', () => {
    expect(resolveStartOptions(valid)).toEqual({
      ...valid,
      scheme: 'rtmp',
      filePrefix: 'rec-1',
      segmentSeconds: SEGMENT_SECONDS_RULE.default,
      maxIdleSeconds: MAX_IDLE_SECONDS_RULE.default,
      streamTypes: DEFAULT_STREAM_TYPES,
      maxDurationSeconds: undefined,
      startSequence: START_SEQUENCE_RULE.default,
      discontinuity: false,
      alignToSource: false,
      gapSeconds: GAP_SECONDS_RULE.default,
      connectTimeoutSeconds: CONNECT_TIMEOUT_SECONDS_RULE.default,
      readTimeoutSeconds: READ_TIMEOUT_SECONDS_RULE.default,
    });
  });

  // The job's fields use the contract's rules: what the contract changes, the engine accepts.
  it.each([
    ['segmentSeconds', SEGMENT_SECONDS_RULE],
    ['maxIdleSeconds', MAX_IDLE_SECONDS_RULE],
    ['maxDurationSeconds', MAX_DURATION_SECONDS_RULE],
    ['gapSeconds', GAP_SECONDS_RULE],
  ] as const)("checks %s with the contract's rule", (option, rule) => {
    expectRuleApplied(option, rule);
  });

  it.each([
    ['connectTimeoutSeconds', CONNECT_TIMEOUT_SECONDS_RULE],
    ['readTimeoutSeconds', READ_TIMEOUT_SECONDS_RULE],
    ['startSequence', START_SEQUENCE_RULE],
  ] as const)('checks %s with its own rule and default', (option, rule) => {
    expectRuleApplied(option, rule);
  });

  it("accepts the contract's stream types and nothing else", () => {
    for (const streamTypes of STREAM_TYPES) {
      expect(resolveStartOptions({ ...valid, streamTypes }).streamTypes).toBe(streamTypes);
    }
    expect(expectRefused('streamTypes', 'subtitles').message).toContain(STREAM_TYPES.join(', '));
  });

  it("accepts every one of the contract's source schemes, file: URLs and absolute paths", () => {
    for (const scheme of SOURCE_SCHEMES) {
      const url = scheme === 'file' ? 'file:/a/b.ts' : `${scheme}://h:1234/app/s`;
      expect(resolveStartOptions({ ...valid, sourceUrl: url }).scheme).toBe(scheme);
    }
    expect(resolveStartOptions({ ...valid, sourceUrl: 'udp://@:1234' }).scheme).toBe('udp');
    expect(resolveStartOptions({ ...valid, sourceUrl: 'SRT://h:9000?mode=caller' }).scheme).toBe('srt');
    // A plain path is handed to FFmpeg as file: so that a colon in it is not read as a protocol.
    expect(resolveStartOptions({ ...valid, sourceUrl: '/a/b:c.ts' })).toMatchObject({
      scheme: 'file',
      sourceUrl: 'file:/a/b:c.ts',
    });
    expect(expectRefused('sourceUrl', 'ftp://h/x').message).toContain(SOURCE_SCHEMES.join(', '));
  });

  it('takes a URL with a query (a channel token) as it is, and never shows its secrets when refusing one', () => {
    const tokenized = 'rtmp://127.0.0.1:1935/app1/room_201_u42?sign=1767225600-0123456789abcdef';
    expect(resolveStartOptions({ ...valid, sourceUrl: tokenized }).sourceUrl).toBe(tokenized);
    for (const url of [
      'rtmp://?sign=1767225600-0123456789abcdef',
      'ftp://user:0123456789abcdef@h/x?sign=0123456789abcdef',
    ]) {
      const err = expectRefused('sourceUrl', url);
      expect(err.message).not.toContain('0123456789abcdef');
      expect(err.message).toContain('[redacted]');
    }
  });

  it('uses the contract rule for recordingId', () => {
    expect(resolveStartOptions({ ...valid, recordingId: 'a'.repeat(64) }).recordingId).toHaveLength(64);
    expectRefused('recordingId', 'a'.repeat(65));
    expectRefused('recordingId', '12345'); // all digits: BullMQ refuses such job ids
  });

  it.each([
    ['recordingId', undefined],
    ['recordingId', ''],
    ['recordingId', 'has space'],
    ['recordingId', 42],
    ['sourceUrl', ''],
    ['sourceUrl', 'relative/path.ts'],
    ['sourceUrl', 'rtmp://'],
    ['sourceUrl', 'file:'],
    ['outputDir', 'relative'],
    ['outputDir', undefined],
    ['filePrefix', '../escape'],
    ['segmentSeconds', 0.5],
    ['segmentSeconds', 61],
    ['segmentSeconds', '10'],
    ['maxIdleSeconds', 4],
    ['maxIdleSeconds', 10.5],
    ['maxIdleSeconds', 3601],
    ['maxIdleSeconds', null],
    ['maxDurationSeconds', 0],
    ['maxDurationSeconds', -1],
    ['maxDurationSeconds', 2.5],
    ['maxDurationSeconds', Number.POSITIVE_INFINITY],
    ['startSequence', -1],
    ['startSequence', 1.5],
    ['discontinuity', 'yes'],
    ['alignToSource', 1],
    ['connectTimeoutSeconds', 0],
    ['connectTimeoutSeconds', 121],
    ['readTimeoutSeconds', 0.5],
    ['timelineStartSeconds', -0.1],
    ['timelineStartSeconds', 95_001],
    ['timelineStartSeconds', '12'],
  ])('refuses %s = %o, naming it', (option, value) => {
    expectRefused(option, value);
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

  it("accepts a shorter idle limit, fractions too, only below a test's lower floor", () => {
    expectRefused('maxIdleSeconds', MAX_IDLE_SECONDS_RULE.min - 1);
    const limits = { minIdleSeconds: 0.5 };
    expect(resolveStartOptions({ ...valid, maxIdleSeconds: 0.5 }, limits).maxIdleSeconds).toBe(0.5);
    expect(resolveStartOptions({ ...valid, maxIdleSeconds: 2.5 }, limits).maxIdleSeconds).toBe(2.5);
    expectRefused('maxIdleSeconds', 0.4, limits);
    expectRefused('maxIdleSeconds', MAX_IDLE_SECONDS_RULE.max + 1, limits);
    // The Recorder passes its minIdleSeconds on; the default keeps the contract's floor.
    expect(() => new Recorder().start({ ...valid, maxIdleSeconds: 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'maxIdleSeconds' }) as Error,
    );
  });

  it('validates in start() before anything native runs, and the recorder stays usable', () => {
    const r = new Recorder();
    expect(() => r.start({ ...valid, segmentSeconds: 0 })).toThrow(RecorderError);
    expect(r.state).toBe('idle');
  });
});
