import { isAbsolute } from 'node:path';
import { inspect } from 'node:util';
import { RecorderError } from './errors.js';

export type StreamTypes = 'audio' | 'video' | 'both';

export interface RecorderStartOptions {
  /** Names the recording in events and logs: 1–128 of A-Z a-z 0-9 _ -. */
  recordingId: string;
  /** rtmp(s)://, srt://, rtsp://, http(s):// (HLS, FLV), udp://, rtp://, file: or an absolute path. */
  sourceUrl: string;
  /** Existing, writable directory for the segments (the worker's spool). */
  outputDir: string;
  /** Segment files are `<filePrefix>_<sequence, 6 digits>.ts`; defaults to recordingId. */
  filePrefix?: string;
  /** Cut at the first video keyframe after this many seconds (audio-only: by time). 1–60, default 10. */
  segmentSeconds?: number;
  /**
   * Stop with `idle_timeout` after this long without media (or, before any media, since start).
   * 5–3600, default 30. With RECFLEET_TEST_ALLOW_SHORT_IDLE=1 values down to 0.5 are accepted so that
   * tests of the idle path do not each wait 30 s; production never sets it.
   */
  maxIdleSeconds?: number;
  streamTypes?: StreamTypes;
  /** Stop with `max_duration` once this much media is recorded. */
  maxDurationSeconds?: number;
  /** First segment's sequence number (resuming elsewhere). Default 0. */
  startSequence?: number;
  /** Flag the first segment as a discontinuity (resuming elsewhere). Default false. */
  discontinuity?: boolean;
  /** Limit for opening the source, per attempt. 1–120, default 10. */
  connectTimeoutSeconds?: number;
  /** Limit for one read while recording. 1–120, default 10. */
  readTimeoutSeconds?: number;
}

export type ResolvedStartOptions = Required<Omit<RecorderStartOptions, 'maxDurationSeconds'>> & {
  maxDurationSeconds: number;
  isFile: boolean;
};

const KNOWN: ReadonlySet<string> = new Set<keyof RecorderStartOptions>([
  'recordingId',
  'sourceUrl',
  'outputDir',
  'filePrefix',
  'segmentSeconds',
  'maxIdleSeconds',
  'streamTypes',
  'maxDurationSeconds',
  'startSequence',
  'discontinuity',
  'connectTimeoutSeconds',
  'readTimeoutSeconds',
]);
const SCHEMES = ['rtmp', 'rtmps', 'srt', 'rtsp', 'http', 'https', 'udp', 'rtp', 'file'];
const NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** sharp's message shape: "Expected <rule> for <option> but received <value>". */
function invalid(option: string, rule: string, value: unknown): RecorderError {
  const shown = inspect(value, { depth: 1, breakLength: Infinity, maxStringLength: 200 });
  return new RecorderError('INVALID_OPTION', `Expected ${rule} for ${option} but received ${shown}`, option);
}

function number(
  o: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  fallback: number,
  integer = false,
): number {
  const v = o[key];
  if (v === undefined) return fallback;
  if (
    typeof v !== 'number' ||
    !Number.isFinite(v) ||
    v < min ||
    v > max ||
    (integer && !Number.isInteger(v))
  ) {
    throw invalid(key, `${integer ? 'an integer' : 'a number'} between ${min} and ${max}`, v);
  }
  return v;
}

/**
 * Checks every start option before anything native runs, applies defaults, and refuses unknown keys
 * (a misspelled option must not silently fall back to its default).
 */
export function resolveStartOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedStartOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid('options', 'an object', input);
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) {
      throw new RecorderError(
        'INVALID_OPTION',
        `Expected one of ${[...KNOWN].join(', ')} for option name but received ${inspect(key)}`,
        key,
      );
    }
  }
  if (typeof o.recordingId !== 'string' || !NAME.test(o.recordingId)) {
    throw invalid('recordingId', '1-128 of A-Z a-z 0-9 _ -', o.recordingId);
  }
  const url = o.sourceUrl;
  const scheme = typeof url === 'string' ? /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase() : undefined;
  const isPath = typeof url === 'string' && isAbsolute(url);
  if (typeof url !== 'string' || url.length === 0 || (!isPath && !SCHEMES.includes(scheme ?? ''))) {
    throw invalid('sourceUrl', `a URL with a scheme of ${SCHEMES.join(', ')} or an absolute path`, url);
  }
  // udp:// and rtp:// may listen on every interface (`udp://@:1234`), so only the others need a host.
  if (!isPath && scheme !== 'file' && scheme !== 'udp' && scheme !== 'rtp' && !hasHost(url)) {
    throw invalid('sourceUrl', `a ${scheme}:// URL with a host`, url);
  }
  if (scheme === 'file' && url.slice('file:'.length).replace(/^\/\/[^/]*/, '').length === 0) {
    throw invalid('sourceUrl', 'a file: URL with a path', url);
  }
  if (typeof o.outputDir !== 'string' || !isAbsolute(o.outputDir)) {
    throw invalid('outputDir', 'an absolute directory path', o.outputDir);
  }
  const filePrefix = o.filePrefix ?? o.recordingId;
  if (typeof filePrefix !== 'string' || !NAME.test(filePrefix)) {
    throw invalid('filePrefix', '1-128 of A-Z a-z 0-9 _ -', filePrefix);
  }
  const streamTypes = o.streamTypes ?? 'both';
  if (streamTypes !== 'audio' && streamTypes !== 'video' && streamTypes !== 'both') {
    throw invalid('streamTypes', 'one of audio, video, both', streamTypes);
  }
  // Tests must not wait 30 s for an idle exit; production keeps the SDK's 5 s floor.
  const idleFloor = env.RECFLEET_TEST_ALLOW_SHORT_IDLE === '1' ? 0.5 : 5;
  const discontinuity = o.discontinuity ?? false;
  if (typeof discontinuity !== 'boolean') throw invalid('discontinuity', 'a boolean', discontinuity);
  const maxDuration = o.maxDurationSeconds;
  if (
    maxDuration !== undefined &&
    (typeof maxDuration !== 'number' || !(maxDuration > 0) || !Number.isFinite(maxDuration))
  ) {
    throw invalid('maxDurationSeconds', 'a positive number', maxDuration);
  }
  return {
    recordingId: o.recordingId,
    sourceUrl: isPath ? `file:${url}` : url,
    outputDir: o.outputDir,
    filePrefix,
    segmentSeconds: number(o, 'segmentSeconds', 1, 60, 10),
    maxIdleSeconds: number(o, 'maxIdleSeconds', idleFloor, 3600, 30),
    streamTypes,
    maxDurationSeconds: (maxDuration as number | undefined) ?? 0,
    startSequence: number(o, 'startSequence', 0, Number.MAX_SAFE_INTEGER, 0, true),
    discontinuity,
    connectTimeoutSeconds: number(o, 'connectTimeoutSeconds', 1, 120, 10),
    readTimeoutSeconds: number(o, 'readTimeoutSeconds', 1, 120, 10),
    isFile: isPath || scheme === 'file',
  };
}

/** Network sources need a host; `new URL` also catches spaces and other malformed input. */
function hasHost(url: string): boolean {
  try {
    return new URL(url).hostname.length > 0;
  } catch {
    return false;
  }
}
