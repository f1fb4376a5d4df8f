import { EventEmitter } from 'node:events';
import { redactUrl, type StopReason } from '@recfleet/contract';
import {
  NATIVE_FATAL_CODES,
  RECORDER_FAILURE_CODES,
  RecorderError,
  type EngineErrorCode,
  type RecorderFailureCode,
} from './errors.js';
import { loadAddon, type NativeCounters, type NativeRecorderInstance } from './loader.js';
import { nativeStartOptions } from './native-options.js';
import { resolveRecorderOptions, type RecorderOptions, type RecorderPolicy } from './recorder-options.js';
import { resolveStartOptions, type RecorderStartOptions } from './start-options.js';

export type { StopReason };

export interface StreamInfo {
  index: number;
  kind: 'video' | 'audio';
  codec: string;
  width?: number;
  height?: number;
  frameRate?: number;
  sampleRate?: number;
  channels?: number;
}

/** The source was opened (again, after it was lost, when `rejoin` is true). */
export interface JoinedEvent {
  type: 'joined';
  recordingId: string;
  /** The source URL without its user-info and query (a token such as `?sign=…` never leaves the engine). */
  sourceUrl: string;
  /** True when the source came back after it had been lost. */
  rejoin: boolean;
  /** Epoch milliseconds. */
  at: number;
}
/** The streams were selected and the muxer is ready; emitted once per recording. */
export interface StartedEvent {
  type: 'started';
  recordingId: string;
  streams: StreamInfo[];
  /** Epoch milliseconds. */
  at: number;
}
/** A finished segment: fsync'd and renamed to its final name, so it can be uploaded as it is. */
export interface SegmentEvent {
  type: 'segment';
  recordingId: string;
  sequence: number;
  path: string;
  durationSeconds: number;
  bytes: number;
  /** Presentation time of its first packet on the recording's timeline (starts at 1 s). */
  startPtsSeconds: number;
  startsWithKeyframe: boolean;
  /** Set on the first segment after a rejoin or a codec change (and on the first with `discontinuity`). */
  discontinuity: boolean;
  /**
   * When the segment's first packet was made on the publisher's wall clock, in ms since the Unix epoch
   * (the playlists' `EXT-X-PROGRAM-DATE-TIME`): per join of a live source, the smallest (arrival time −
   * timeline position) of its packets so far plus the segment's start, so a burst of late packets (a
   * server's GOP cache at a join) is corrected by the live ones that follow. Stored media (a file, a VOD)
   * is dated from the moment its first packet was read, segment after segment. Never earlier than the
   * previous segment's.
   */
  programDateTimeMs: number;
  /**
   * Where the segment's first packet is on the source's own clock, in ms: its timestamp as the source
   * sent it, before the engine's timeline repair. Two recorders of one RTMP, SRT, UDP or HLS source see
   * the same values (RTSP gives each client its own clock), so with `alignToSource` their segments can be
   * matched by it.
   */
  sourceStartMs: number;
  /**
   * Where the segment ends on the source's clock, in ms: on a cut while media flows, the source time of
   * the packet that starts the next segment (whose `sourceStartMs` is this value); at any other end (the
   * last segment, a gap, a rejoin, a stream change) `sourceStartMs` plus the duration.
   */
  sourceEndMs: number;
}
/** Trouble the recorder works around (reconnecting, skipping corrupt packets); the recording goes on. */
export interface RecorderFailureEvent {
  type: 'recorder_failure';
  recordingId: string;
  code: RecorderFailureCode;
  message: string;
  counts: { reconnects: number; corruptPackets: number; droppedPackets: number };
  /** STREAM_CHANGED: the streams as they are now (a new resolution, codec configuration or layout). */
  streams?: StreamInfo[];
  /** SOURCE_GAP: how long the source sent nothing (connected, or lost and rejoined). */
  gapSeconds?: number;
  /**
   * SOURCE_UNREACHABLE, SOURCE_LOST of a failed open: whether the attempt reached the source at all (a
   * connection was made; a refused connection, an unreachable host, a connect timeout did not).
   */
  connected?: boolean;
}
/** The recording ended normally; every finished segment has been emitted before this. */
export interface StoppedEvent {
  type: 'stopped';
  recordingId: string;
  reason: StopReason;
  segments: number;
  durationSeconds: number;
  /**
   * Whether any attempt to open the source reached it (a connection was made, whatever came after). False
   * when every attempt failed at the connection itself (refused, no route, no such host, timed out):
   * a source never reached is not an empty one.
   */
  sourceReached: boolean;
}
/** The recording ended on an error; finished segments are kept, the partial one is removed. */
export interface FatalErrorEvent {
  type: 'fatal_error';
  recordingId: string;
  code: EngineErrorCode;
  message: string;
}
export type FinalEvent = StoppedEvent | FatalErrorEvent;

/** Events in the order a recording produces them; exactly one `stopped` or `fatal_error` ends it. */
export interface RecorderEvents {
  joined: [JoinedEvent];
  started: [StartedEvent];
  segment: [SegmentEvent];
  recorder_failure: [RecorderFailureEvent];
  stopped: [StoppedEvent];
  fatal_error: [FatalErrorEvent];
}

export type RecorderState = 'idle' | 'running' | 'stopping' | 'ended' | 'released';

/**
 * One recorder instance (the reference SDK's "recording instance"): start, stop, release(cancel).
 * Media I/O runs on a native thread; events arrive here, in order, on the JS thread.
 */
export class Recorder extends EventEmitter<RecorderEvents> {
  private readonly policy: RecorderPolicy;
  private native: NativeRecorderInstance | undefined;
  private id = '';
  private sourceUrl = '';
  private currentState: RecorderState = 'idle';
  private releasing: Promise<void> | undefined;
  private finalEvent: FinalEvent | undefined;
  private resolveDone!: (e: FinalEvent) => void;
  /** Resolves with the final event (`stopped` or `fatal_error`). */
  readonly done: Promise<FinalEvent>;

  /**
   * `options` tune the engine's own policy (reconnect backoff, report throttles, probing, timeline); every
   * one has a default (RECORDER_OPTION_RULES), so `new Recorder()` is the usual call. A bad one throws
   * RecorderError INVALID_OPTION naming it.
   */
  constructor(options: RecorderOptions = {}) {
    super();
    this.policy = resolveRecorderOptions(options);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get recordingId(): string {
    return this.id;
  }

  get state(): RecorderState {
    return this.currentState;
  }

  /** Validates the options (RecorderError INVALID_OPTION naming the option) and starts recording. */
  start(options: RecorderStartOptions): void {
    if (this.releasing) throw new RecorderError('RELEASED', 'this recorder was released');
    if (this.currentState !== 'idle') {
      throw new RecorderError('ALREADY_STARTED', `recorder ${this.id} was already started`);
    }
    const resolved = resolveStartOptions(options, this.policy);
    const addon = loadAddon();
    this.id = resolved.recordingId;
    this.sourceUrl = resolved.sourceUrl;
    try {
      const native = new addon.NativeRecorder((json) => this.onNativeEvent(json));
      native.start(nativeStartOptions(resolved, this.policy, { rtmps: addon.rtmpsReader }));
      this.native = native;
    } catch (err) {
      // Resource exhaustion (no thread, no thread-safe function), or a TypeError for a native field
      // nativeStartOptions got wrong: the options themselves were checked above.
      throw new RecorderError('INTERNAL', `could not start the recorder: ${(err as Error).message}`);
    }
    this.currentState = 'running';
  }

  /** Closes the current segment cleanly; resolves once the last `segment` and the final event are out. */
  stop(): Promise<FinalEvent> {
    if (this.releasing) return Promise.reject(new RecorderError('RELEASED', 'this recorder was released'));
    if (this.currentState === 'idle') {
      return Promise.reject(new RecorderError('NOT_STARTED', 'this recorder was not started'));
    }
    if (this.currentState === 'running') {
      this.currentState = 'stopping';
      this.native?.stop();
    }
    return this.done;
  }

  /**
   * Frees every native resource. `cancel: true` abandons the current segment without finalizing it;
   * otherwise the recording is stopped cleanly first. Safe to call twice; any other call afterwards
   * fails with RecorderError RELEASED.
   */
  release(options: { cancel?: boolean } = {}): Promise<void> {
    if (this.releasing) {
      // A cancel asked for while an earlier release is still finalizing still abandons the segment.
      if (options.cancel && this.currentState === 'stopping') this.native?.cancel();
      return this.releasing;
    }
    this.releasing = this.releaseNow(options.cancel === true);
    return this.releasing;
  }

  private async releaseNow(cancel: boolean): Promise<void> {
    if (this.currentState === 'running' || this.currentState === 'stopping') {
      if (cancel) this.native?.cancel();
      else this.native?.stop();
      this.currentState = 'stopping';
      await this.done;
    }
    this.native?.join();
    this.native = undefined;
    this.currentState = 'released';
  }

  private onNativeEvent(json: string): void {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(json) as Record<string, unknown>;
    } catch {
      // Cannot happen with the addon's own encoder; if it did, end the recording rather than guess.
      raw = this.internalFailure('unreadable event from the native recorder');
    }
    const segment = raw.type === 'segment' ? segmentEvent(raw, this.id) : undefined;
    if (raw.type === 'segment' && !segment) {
      // An addon built from older sources than this wrapper: ends the recording the same way.
      raw = this.internalFailure(
        'the native recorder sent a segment without its program date-time or source times; rebuild it (npm run build:native)',
      );
    }
    // Exactly one final event: nothing is emitted after it, whatever the native side still sends.
    if (this.finalEvent) return;
    const recordingId = this.id;
    try {
      switch (raw.type) {
        case 'joined':
          this.emit('joined', {
            type: 'joined',
            recordingId,
            sourceUrl: redactUrl(this.sourceUrl),
            rejoin: raw.rejoin === true,
            at: Date.now(),
          });
          break;
        case 'started':
          this.emit('started', {
            type: 'started',
            recordingId,
            streams: streamInfos(raw.streams),
            at: Date.now(),
          });
          break;
        case 'segment':
          this.emit('segment', segment!);
          break;
        case 'recorder_failure':
          this.emit('recorder_failure', {
            type: 'recorder_failure',
            recordingId,
            code: knownCode(RECORDER_FAILURE_CODES, raw.code, 'SOURCE_LOST'),
            message: String(raw.message),
            counts: {
              reconnects: Number(raw.reconnects),
              corruptPackets: Number(raw.corruptPackets),
              droppedPackets: Number(raw.droppedPackets),
            },
            ...(Array.isArray(raw.streams) ? { streams: streamInfos(raw.streams) } : {}),
            ...(typeof raw.gapSeconds === 'number' ? { gapSeconds: raw.gapSeconds } : {}),
            ...(typeof raw.connected === 'boolean' ? { connected: raw.connected } : {}),
          });
          break;
        case 'stopped':
        case 'fatal_error': {
          const final: FinalEvent =
            raw.type === 'stopped'
              ? {
                  ...(raw as unknown as StoppedEvent),
                  sourceReached: raw.sourceReached !== false,
                  recordingId,
                }
              : {
                  type: 'fatal_error',
                  recordingId,
                  code: knownCode(NATIVE_FATAL_CODES, raw.code, 'INTERNAL'),
                  message: String(raw.message),
                };
          this.finalEvent = final;
          if (this.currentState !== 'released') this.currentState = 'ended';
          // The native thread posts its final event last: joining it now does not block.
          this.native?.join();
          if (final.type === 'stopped') this.emit('stopped', final);
          else this.emit('fatal_error', final);
          this.resolveDone(final);
          break;
        }
      }
    } catch (err) {
      // A throwing listener must not unwind into native code; surface it as Node would.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** The final event, once the recording has ended. */
  get result(): FinalEvent | undefined {
    return this.finalEvent;
  }

  /** Cancels the native recording and returns the INTERNAL fatal error that ends it here. */
  private internalFailure(message: string): Record<string, unknown> {
    this.native?.cancel();
    return { type: 'fatal_error', code: 'INTERNAL', message };
  }
}

/** The native streams of `started` and STREAM_CHANGED (each tagged `type: "stream"` by its encoder). */
function streamInfos(raw: unknown): StreamInfo[] {
  return (raw as (StreamInfo & { type?: string })[]).map(({ type: _type, ...s }) => s);
}

/** A native `segment` event as its type says, or undefined when a field is missing. */
function segmentEvent(raw: Record<string, unknown>, recordingId: string): SegmentEvent | undefined {
  const { programDateTimeMs: date, sourceStartMs, sourceEndMs } = raw;
  if (!isSafeInteger(date) || !isSafeInteger(sourceStartMs) || !isSafeInteger(sourceEndMs)) return undefined;
  return {
    type: 'segment',
    recordingId,
    sequence: Number(raw.sequence),
    path: String(raw.path),
    durationSeconds: Number(raw.durationSeconds),
    bytes: Number(raw.bytes),
    startPtsSeconds: Number(raw.startPtsSeconds),
    startsWithKeyframe: raw.startsWithKeyframe === true,
    discontinuity: raw.discontinuity === true,
    programDateTimeMs: date,
    sourceStartMs,
    sourceEndMs,
  };
}

function isSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** Process-wide engine counters (active recorders, threads, bytes and packets), for admission and metrics. */
export function counters(): NativeCounters {
  return loadAddon().counters();
}

/**
 * The sources this build of the addon reads with its own buffered client rather than libavformat's:
 * rtmp:// always, rtmps:// when it was built with GnuTLS (libgnutls28-dev / gnutls-devel).
 */
export function nativeReaders(): { rtmp: boolean; rtmps: boolean } {
  return { rtmp: true, rtmps: loadAddon().rtmpsReader };
}

/** Native codes are checked against the list the addon may emit: callers switch on them exhaustively. */
function knownCode<T extends string>(codes: readonly T[], value: unknown, fallback: T): T {
  return typeof value === 'string' && (codes as readonly string[]).includes(value) ? (value as T) : fallback;
}
