import { isAbsolute } from 'node:path';
import {
  DEFAULT_STREAM_TYPES,
  GAP_SECONDS_RULE,
  isSourceScheme,
  MAX_DURATION_SECONDS_RULE,
  MAX_IDLE_SECONDS_RULE,
  RECORDING_ID_PATTERN,
  RECORDING_ID_RULE,
  redactUrl,
  SEGMENT_SECONDS_RULE,
  SOURCE_SCHEMES,
  STREAM_TYPES,
  urlScheme,
  type NumberRule,
  type SourceScheme,
  type StreamTypes,
} from '@recfleet/contract';
import { invalidOption, numberOption, optionsObject } from './option-checks.js';

export type { StreamTypes };

/*
 * The fields a job also has (recordingId, sourceUrl, segmentSeconds, maxIdleSeconds, streamTypes,
 * maxDurationSeconds) are checked with the contract's own rules, so the engine accepts exactly what a
 * job may carry. The rules below are the engine's own options, each written once with its default.
 */

export const CONNECT_TIMEOUT_SECONDS_RULE = {
  min: 1,
  max: 120,
  integer: false,
  default: 10,
  description: 'limit for opening the source, per attempt',
} as const satisfies NumberRule;

export const READ_TIMEOUT_SECONDS_RULE = {
  min: 1,
  max: 120,
  integer: false,
  default: 10,
  description: 'limit for one read while recording',
} as const satisfies NumberRule;

export const START_SEQUENCE_RULE = {
  min: 0,
  max: Number.MAX_SAFE_INTEGER,
  integer: true,
  default: 0,
  description: "the first segment's sequence number (resuming elsewhere)",
} as const satisfies NumberRule;

/**
 * Where a resumed recorder's first packet goes on the timeline: after the previous owner's last segment,
 * so that time goes on across the discontinuity for a reader that ignores it (FFmpeg's HLS demuxer:
 * timestamps that restart would be corrected by a guess that can land a few frames on the earlier
 * ones). Below MPEG-TS's 33-bit 90 kHz clock, which wraps at 95,443 s.
 */
export const TIMELINE_START_RULE = {
  min: 0,
  max: 95_000,
  integer: false,
  description: "where the first packet goes on the timeline (resuming: after the previous owner's end)",
} as const satisfies NumberRule;

/** Segment file names are `<filePrefix>_<sequence>.ts`: nothing that could leave the output directory. */
const FILE_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const FILE_PREFIX_RULE = '1-128 of A-Z a-z 0-9 _ -';

export interface RecorderStartOptions {
  /** Names the recording in events and logs; the job contract's recordingId rule. */
  recordingId: string;
  /**
   * A URL with one of the contract's source schemes (rtmp(s), srt, rtsp, http(s), udp, rtp, file), or an
   * absolute path. It may carry credentials (user-info, a query such as a channel token `?sign=…`): they
   * reach the source and nothing else — events and error messages show the URL through `redactUrl`.
   */
  sourceUrl: string;
  /** Existing, writable directory for the segments (the worker's spool). */
  outputDir: string;
  /** Segment files are `<filePrefix>_<sequence, 6 digits>.ts`; defaults to recordingId. */
  filePrefix?: string;
  /** Cut at the first video keyframe after this many seconds (audio-only: by time). The contract's rule: 1–60, default 10. */
  segmentSeconds?: number;
  /**
   * Stop with `idle_timeout` after this long without media (or, before any media, since start). The
   * contract's rule: an integer 5–3600, default 30 (tests may lower the floor: RecorderOptions.minIdleSeconds).
   */
  maxIdleSeconds?: number;
  /** Which streams to record; default both. */
  streamTypes?: StreamTypes;
  /** Stop with `max_duration` once this much media is recorded. The contract's rule; none by default. */
  maxDurationSeconds?: number;
  /** First segment's sequence number (resuming elsewhere). Default 0. */
  startSequence?: number;
  /** Flag the first segment as a discontinuity (resuming elsewhere). Default false. */
  discontinuity?: boolean;
  /**
   * Where the first packet goes on the timeline, in seconds (TIMELINE_START_RULE): resuming, just after
   * the previous owner's last segment ends. Default: the host's `timelineStartSeconds` (1).
   */
  timelineStartSeconds?: number;
  /**
   * Cut on the source's own clock instead of this recording's: each segment ends at the first cut point
   * (a video keyframe; audio-only, any packet) at or after the next multiple of segmentSeconds of the
   * source's timestamps, so two recorders of one source cut at the same instants, whenever each joined,
   * from their first cut on (a standby delivers from the first segment the owner did not). The segments'
   * `sourceStartMs`/`sourceEndMs` say where. A source clock that goes back below a segment's start (the
   * source restarted) ends that segment by its length, and the next one starts a new grid. RTMP, SRT,
   * UDP, RTP and HLS send every player the publisher's timestamps; RTSP gives each client its own RTP
   * timestamps, so two RTSP recorders do not align. Default false.
   */
  alignToSource?: boolean;
  /**
   * A live source that sends no media for this long, although still connected, has a gap: the segment
   * ends, the next is a discontinuity, the timeline jumps by the silence and a SOURCE_GAP failure says
   * how long it was. The contract's rule: 0.5–60, default 2. Files and http(s) sources have none (their
   * media arrives in bursts; their own timestamps carry any gap).
   */
  gapSeconds?: number;
  /** Limit for opening the source, per attempt. 1–120, default 10. */
  connectTimeoutSeconds?: number;
  /** Limit for one read while recording. 1–120, default 10. */
  readTimeoutSeconds?: number;
}

export interface ResolvedStartOptions {
  recordingId: string;
  /** As given, except that an absolute path becomes a `file:` URL. */
  sourceUrl: string;
  scheme: SourceScheme;
  outputDir: string;
  filePrefix: string;
  segmentSeconds: number;
  maxIdleSeconds: number;
  streamTypes: StreamTypes;
  maxDurationSeconds: number | undefined;
  startSequence: number;
  discontinuity: boolean;
  timelineStartSeconds: number | undefined;
  alignToSource: boolean;
  gapSeconds: number;
  connectTimeoutSeconds: number;
  readTimeoutSeconds: number;
}

const KNOWN = [
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
  'timelineStartSeconds',
  'alignToSource',
  'gapSeconds',
  'connectTimeoutSeconds',
  'readTimeoutSeconds',
] as const satisfies readonly (keyof RecorderStartOptions)[];

/** The lowest maxIdleSeconds accepted; only tests lower it (RecorderOptions.minIdleSeconds). */
export interface StartLimits {
  minIdleSeconds: number;
}

/**
 * Checks every start option before anything native runs, applies defaults, and refuses unknown keys
 * (a misspelled option must not silently fall back to its default).
 */
export function resolveStartOptions(
  input: unknown,
  limits: StartLimits = { minIdleSeconds: MAX_IDLE_SECONDS_RULE.min },
): ResolvedStartOptions {
  const o = optionsObject(input, KNOWN);
  if (typeof o.recordingId !== 'string' || !RECORDING_ID_PATTERN.test(o.recordingId)) {
    throw invalidOption('recordingId', RECORDING_ID_RULE, o.recordingId);
  }
  const { sourceUrl, scheme } = checkSourceUrl(o.sourceUrl);
  if (typeof o.outputDir !== 'string' || !isAbsolute(o.outputDir)) {
    throw invalidOption('outputDir', 'an absolute directory path', o.outputDir);
  }
  const filePrefix = o.filePrefix ?? o.recordingId;
  if (typeof filePrefix !== 'string' || !FILE_PREFIX_PATTERN.test(filePrefix)) {
    throw invalidOption('filePrefix', FILE_PREFIX_RULE, filePrefix);
  }
  const streamTypes = o.streamTypes ?? DEFAULT_STREAM_TYPES;
  if (!(STREAM_TYPES as readonly unknown[]).includes(streamTypes)) {
    throw invalidOption('streamTypes', `one of ${STREAM_TYPES.join(', ')}`, streamTypes);
  }
  const discontinuity = o.discontinuity ?? false;
  if (typeof discontinuity !== 'boolean') throw invalidOption('discontinuity', 'a boolean', discontinuity);
  const alignToSource = o.alignToSource ?? false;
  if (typeof alignToSource !== 'boolean') throw invalidOption('alignToSource', 'a boolean', alignToSource);
  return {
    recordingId: o.recordingId,
    sourceUrl,
    scheme,
    outputDir: o.outputDir,
    filePrefix,
    segmentSeconds: numberOption(o, 'segmentSeconds', SEGMENT_SECONDS_RULE),
    maxIdleSeconds: numberOption(o, 'maxIdleSeconds', idleRule(limits.minIdleSeconds)),
    streamTypes: streamTypes as StreamTypes,
    maxDurationSeconds: numberOption(o, 'maxDurationSeconds', MAX_DURATION_SECONDS_RULE),
    startSequence: numberOption(o, 'startSequence', START_SEQUENCE_RULE),
    discontinuity,
    timelineStartSeconds: numberOption(o, 'timelineStartSeconds', TIMELINE_START_RULE),
    alignToSource,
    gapSeconds: numberOption(o, 'gapSeconds', GAP_SECONDS_RULE),
    connectTimeoutSeconds: numberOption(o, 'connectTimeoutSeconds', CONNECT_TIMEOUT_SECONDS_RULE),
    readTimeoutSeconds: numberOption(o, 'readTimeoutSeconds', READ_TIMEOUT_SECONDS_RULE),
  };
}

/** The contract's idle rule, with a lower floor (and fractions) only when a test asked for one. */
function idleRule(minIdleSeconds: number): NumberRule & { default: number } {
  return minIdleSeconds < MAX_IDLE_SECONDS_RULE.min
    ? { ...MAX_IDLE_SECONDS_RULE, min: minIdleSeconds, integer: false }
    : MAX_IDLE_SECONDS_RULE;
}

function checkSourceUrl(url: unknown): { sourceUrl: string; scheme: SourceScheme } {
  // A plain path is handed to FFmpeg as file: so that a colon in it is not read as a protocol.
  if (typeof url === 'string' && isAbsolute(url)) return { sourceUrl: `file:${url}`, scheme: 'file' };
  const scheme = typeof url === 'string' ? urlScheme(url) : undefined;
  // A refused URL is shown without its user-info and query: they may hold a token.
  const refuse = (rule: string) =>
    invalidOption('sourceUrl', rule, typeof url === 'string' ? redactUrl(url) : url);
  if (typeof url !== 'string' || !isSourceScheme(scheme)) {
    throw refuse(`a URL with a scheme of ${SOURCE_SCHEMES.join(', ')} or an absolute path`);
  }
  // udp:// and rtp:// may listen on every interface (`udp://@:1234`), so only the others need a host.
  if (scheme !== 'file' && scheme !== 'udp' && scheme !== 'rtp' && !hasHost(url)) {
    throw refuse(`a ${scheme}:// URL with a host`);
  }
  if (scheme === 'file' && url.slice('file:'.length).replace(/^\/\/[^/]*/, '').length === 0) {
    throw refuse('a file: URL with a path');
  }
  return { sourceUrl: url, scheme };
}

/** Network sources need a host; `new URL` also catches spaces and other malformed input. */
function hasHost(url: string): boolean {
  try {
    return new URL(url).hostname.length > 0;
  } catch {
    return false;
  }
}
