import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RecorderError } from './errors.js';

export interface NativeCounters {
  activeRecorders: number;
  threads: number;
  bytesWritten: number;
  packetsWritten: number;
  packetsDropped: number;
  /** Bytes of all-zero demuxer memory given back to the kernel at joins (see native/memory_release.cc). */
  zeroBytesReleased: number;
  /** How many times the recorders returned freed heap pages to the kernel after stream probing. */
  heapTrims: number;
}

/**
 * Exactly what the addon's start() reads (native/recorder_object.cc). Every field is required there and
 * has no default or fallback in C++: a missing or mistyped one is a TypeError naming it.
 */
export interface NativeStartOptions {
  sourceUrl: string;
  outputDir: string;
  filePrefix: string;
  /** Handed to avformat_open_input as they are (probing limits, protocol options). */
  inputOptions: Record<string, string>;
  /** A file ends the recording when it ends or breaks; a failed open is final. */
  isFile: boolean;
  /** End of input with a known duration is the end of the recording (HLS VOD, a progressive file). */
  endsAtKnownDuration: boolean;
  wantAudio: boolean;
  wantVideo: boolean;
  segmentSeconds: number;
  maxIdleSeconds: number;
  /** 0: no limit. */
  maxDurationSeconds: number;
  startSequence: number;
  discontinuity: boolean;
  /** Cut on the source clock's grid of segmentSeconds (see start-options.ts). */
  alignToSource: boolean;
  /** Seconds of silence from a connected source that make a gap; 0: none (see start-options.ts). */
  gapSeconds: number;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  minConnectAttemptMs: number;
  /** Resolved before each open (a name that does not resolve was not reached); '' for none. */
  resolveHost: string;
  /** An open that got no answer (timed out, EIO) did not reach the source (see native-options.ts). */
  unansweredOpenUnreached: boolean;
  /** Which code reads the source (native-options.ts decides; native/recording_options.h SourceReader). */
  sourceReader: SourceReader;
  /** The engine's own reader: bytes one receive takes (0 with libavformat's reader). */
  readBufferBytes: number;
  /** The engine's own reader: once media flows, sleep until this many bytes are there (0: off). */
  readLowWaterBytes: number;
  /** The engine's own reader: the longest wait on the socket between looks at stop and deadlines. */
  readPollIntervalMs: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  reconnectBackoffFactor: number;
  reconnectReportEvery: number;
  corruptReportIntervalMs: number;
  heapTrimIntervalMs: number;
  timelineStartSeconds: number;
  timelineGapSeconds: number;
  clockJumpBackSeconds: number;
  clockJumpForwardSeconds: number;
}

/**
 * `libavformat`: avformat_open_input on the URL; `rtmp`: the engine's buffered RTMP client (rtmp:// and
 * rtmps://); `udp` and `rtp`: the engine's batched datagram reader (udp://, and rtp:// of MPEG-TS).
 */
export const SOURCE_READERS = ['libavformat', 'rtmp', 'udp', 'rtp'] as const;
export type SourceReader = (typeof SOURCE_READERS)[number];

export interface NativeRecorderInstance {
  start(options: NativeStartOptions): void;
  stop(): void;
  cancel(): void;
  join(): void;
}

export interface NativeAddon {
  NativeRecorder: new (onEvent: (json: string) => void) => NativeRecorderInstance;
  counters(): NativeCounters;
  /** The addon reads rtmps:// itself (built with GnuTLS); otherwise libavformat does. */
  rtmpsReader: boolean;
}

let addon: NativeAddon | undefined;

/**
 * Loads the compiled recorder. On failure, one error lists every place tried, what each said, and the
 * likely fixes, instead of a bare "cannot find module".
 */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
  addon = loadAddonFrom(
    [
      process.env.RECFLEET_RECORDER_ADDON,
      join(pkgDir, 'build', 'Release', 'recfleet_recorder.node'),
      join(pkgDir, 'build', 'Debug', 'recfleet_recorder.node'),
    ].filter((p): p is string => typeof p === 'string' && p.length > 0),
  );
  return addon;
}

/** Tries each candidate in order; the first that loads wins. Exported for tests. */
export function loadAddonFrom(candidates: readonly string[]): NativeAddon {
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) {
      failures.push(`${path}: not built`);
      continue;
    }
    try {
      return require(path) as NativeAddon;
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message}`);
    }
  }
  throw new RecorderError(
    'NATIVE_LOAD_FAILED',
    [
      'Could not load the native recorder (recfleet_recorder.node).',
      ...failures.map((f) => `  - ${f}`),
      'Possible fixes:',
      '  - build it: `npm run build:native` (or `./run setup` at the repository root, which also installs',
      '    the system packages)',
      '  - install the FFmpeg runtime and dev packages: apt-get install libavformat-dev libavcodec-dev libavutil-dev pkg-config g++',
      '  - a "libav…so" error means the FFmpeg libraries it was built against are missing or changed: rebuild it',
    ].join('\n'),
  );
}
