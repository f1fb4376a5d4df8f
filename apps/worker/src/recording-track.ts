import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  redactText,
  type RecfleetErrorCode,
  type RecordingEventType,
  type RecordingJob,
  type StreamTypes,
} from '@recfleet/contract';
import {
  TIMELINE_START_RULE,
  type FinalEvent,
  type JoinedEvent,
  type RecorderEvents,
  type RecorderFailureEvent,
  type RecorderStartOptions,
  type RecorderState,
  type SegmentEvent,
  type StartedEvent,
  type StoppedEvent,
} from '@recfleet/engine-binding';
import {
  FencedError,
  RecordingUploader,
  sourceSpanOf,
  type IndexedSegment,
  type BackupPolicy,
  type RecordingObjectKeys,
  type StorageAdapter,
  type UploadOutcome,
  type UploadSlots,
} from '@recfleet/storage';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { recorderDurationLimit } from './recording-limits.js';
import { RedisSegmentIndex } from './redis-segment-index.js';
import type { StandbyHandover } from './standby-recording.js';
import type { StorageErrorWatch } from './storage-error-watch.js';
import type { WorkerMetrics } from './worker-metrics.js';

/**
 * What a session needs of a recorder: the engine's `Recorder`, or in tests a scripted one that writes
 * segment files without the native addon.
 */
export interface SessionRecorder {
  readonly state: RecorderState;
  start(options: RecorderStartOptions): void;
  stop(): Promise<unknown>;
  release(options?: { cancel?: boolean }): Promise<void>;
  on<E extends keyof RecorderEvents>(event: E, listener: (...args: RecorderEvents[E]) => void): unknown;
  once<E extends keyof RecorderEvents>(event: E, listener: (...args: RecorderEvents[E]) => void): unknown;
}

/** Makes a recorder (the worker passes `() => new Recorder()`). */
export type RecorderFactory = () => SessionRecorder;

/** What every track of one session shares: the store, the owner's epoch, and where events go. */
export interface TrackContext {
  store: StorageAdapter;
  redis: Redis;
  /** The recording's record: its `epoch` fences every track's index writes. */
  recordKey: string;
  epoch: number;
  uploadSlots: UploadSlots;
  uploadAttemptTimeoutMs: number;
  backup?: BackupPolicy | undefined;
  metrics?: WorkerMetrics | undefined;
  log: Logger;
  /** Appends an event to the recording (in order; never throws). */
  report(type: RecordingEventType, data: Record<string, unknown>): void;
  /** A reservation was refused: another worker owns the recording now. */
  onFenced(reason: string): void;
  /** Hears every upload's failure and success: whether the store keeps failing shows while recording. */
  storage: StorageErrorWatch;
}

export interface TrackDefinition {
  keys: RecordingObjectKeys;
  /** The track's segment index (a single stream's `segments`, a user's `segments:<trackId>`). */
  indexKey: string;
  /** The spool folder of its segment files. */
  outputDir: string;
  /** Added to every event the track reports (a channel user's `uid` and `track`). */
  labels: Record<string, unknown>;
}

/**
 * A recorder's `recorder_failure` as the session reads it: the engine's event (with what the engine says
 * of the trouble when it can: the new streams of a STREAM_CHANGED, the length of a SOURCE_GAP, whether a
 * failed open had reached the source), under any registry code.
 */
export type RecorderFailureReport = Omit<RecorderFailureEvent, 'code'> & { code: RecfleetErrorCode };

/** The recording event a recorder failure is reported as: a stream change and a gap have their own. */
export function failureEvent(e: RecorderFailureReport): [RecordingEventType, Record<string, unknown>] {
  const message = redactText(e.message);
  switch (e.code) {
    case 'STREAM_CHANGED':
      return ['stream_changed', { ...(e.streams ? { streams: e.streams } : {}), message }];
    case 'SOURCE_GAP':
      return ['gap', { ...(e.gapSeconds !== undefined ? { seconds: e.gapSeconds } : {}), message }];
    default:
      return ['recorder_failure', { code: e.code, message, counts: e.counts }];
  }
}

/** What the session hears of a track's recorder beyond segments and failures, which the track reports. */
export interface TrackHooks {
  joined?(e: JoinedEvent): void;
  started?(e: StartedEvent): void;
  stopped?(e: StoppedEvent): void;
  failure?(e: RecorderFailureReport): void;
}

/** The recorder's start options that the track does not decide itself. */
export type TrackRecorderOptions = Omit<
  RecorderStartOptions,
  'outputDir' | 'startSequence' | 'discontinuity'
>;

/**
 * The recorder options every track of a job shares, alike for its owner and its standby: what it pulls,
 * how it cuts, when it gives up on silence.
 */
export function jobRecorderOptions(
  spec: RecordingJob,
  sourceUrl: string,
  streamTypes: StreamTypes,
  gapSeconds: number,
): TrackRecorderOptions {
  const rc = spec.recordingConfig;
  return {
    recordingId: spec.recordingId,
    sourceUrl,
    segmentSeconds: rc.segmentSeconds,
    maxIdleSeconds: rc.maxIdleSeconds,
    gapSeconds,
    streamTypes,
  };
}

/** The engine's segment event with the publisher's wall clock of its first packet, when it has one. */

export interface TrackFigures {
  segments: number;
  bytes: number;
  durationSeconds: number;
  segmentsUploaded: number;
  /** Bytes in the primary store, earlier owners' included. */
  bytesUploaded: number;
}

/**
 * One recorded track — a single stream's, or one user's of a channel — and everything that delivers it:
 * its recorders (one at a time; a later one continues the same playlist with the next sequence number,
 * after a discontinuity), the reservation of each finished segment under the owner's epoch, its
 * RecordingUploader and its RedisSegmentIndex. It continues where any earlier owner left it.
 */
export class RecordingTrack {
  readonly keys: RecordingObjectKeys;
  readonly outputDir: string;
  private readonly index: RedisSegmentIndex;
  private uploader!: RecordingUploader;
  private recorder: SessionRecorder | undefined;
  /** The current recorder's end at its next cut, once asked for (endAtNextCut). */
  private ending: { recorder: SessionRecorder; done: Promise<void> } | undefined;
  /** Reservations of finished segments, in order (see reserveSegment-2.lua). */
  private reserveChain: Promise<void> = Promise.resolve();
  /** Finished segments whose reservation was refused: recorded after another worker claimed the recording. */
  private readonly refused: { path: string; durationSeconds: number }[] = [];
  private segments = 0;
  private bytes = 0;
  private recordedSeconds = 0;
  /** Bytes an earlier owner of the recording delivered to the primary store. */
  private bytesUploadedBefore = 0;
  /** The sequence number of the track's next segment. */
  private nextSequence = 0;
  /** Program date time of the track's first segment (ms), when the engine gave one. */
  firstProgramDateTime: number | undefined;
  /** Where the track's last segment (an earlier owner's) ends: on the source's clock, and its date. */
  /** Where the track's last segment ends: on the source's clock, by program date, on its recorder's timeline. */
  private lastEnd: { sourceMs?: number; dateMs?: number; timelineSeconds?: number } = {};
  /** An adopted standby recorder's segments: their engine sequence + offset is the track's. */
  private adoption:
    { offset: number | undefined; flagNext: boolean; follows: (e: SegmentEvent) => boolean } | undefined;

  private constructor(
    private readonly ctx: TrackContext,
    private readonly definition: TrackDefinition,
  ) {
    this.keys = definition.keys;
    this.outputDir = definition.outputDir;
    this.index = new RedisSegmentIndex(ctx.redis, ctx.recordKey, definition.indexKey, ctx.epoch);
  }

  /** Opens a track, reading what earlier owners recorded into it. */
  static async open(ctx: TrackContext, definition: TrackDefinition): Promise<RecordingTrack> {
    const track = new RecordingTrack(ctx, definition);
    await track.load();
    return track;
  }

  private async load(): Promise<void> {
    await mkdir(this.outputDir, { recursive: true });
    const earlier = await this.index.list();
    // A track resumed here continues after every segment an earlier owner delivered or reserved
    // (reserved ones may still arrive through spool recovery), in the same playlist.
    this.nextSequence = earlier.length > 0 ? Math.max(...earlier.map((s) => s.sequence)) + 1 : 0;
    for (const s of earlier) {
      this.recordedSeconds += s.durationSeconds;
      this.bytes += s.bytes;
      if (s.location === 'primary') this.bytesUploadedBefore += s.bytes;
      this.noteProgramDateTime(s.programDateTime);
    }
    this.segments = earlier.length;
    const last = earlier.reduce<IndexedSegment | undefined>(
      (a, b) => (a && a.sequence > b.sequence ? a : b),
      undefined,
    );
    if (last) {
      this.lastEnd = {
        ...(last.sourceEndMs !== undefined ? { sourceMs: last.sourceEndMs } : {}),
        ...(last.timelineEndSeconds !== undefined ? { timelineSeconds: last.timelineEndSeconds } : {}),
        ...(last.programDateTime !== undefined
          ? { dateMs: last.programDateTime + last.durationSeconds * 1000 }
          : {}),
      };
    }
    const { ctx } = this;
    this.uploader = new RecordingUploader(ctx.store, this.keys, {
      index: this.index,
      slots: ctx.uploadSlots,
      attemptTimeoutMs: ctx.uploadAttemptTimeoutMs,
      ...(ctx.backup ? { backup: ctx.backup } : {}),
    });
    this.uploader.on('uploaded', (e) => {
      ctx.metrics?.segmentsUploaded.inc();
      ctx.metrics?.uploadLatency.observe(e.latencyMs / 1000);
      ctx.storage.succeeded();
      this.report('uploaded_segment', e);
    });
    this.uploader.on('uploader_failure', (e) => {
      ctx.metrics?.uploadFailures.inc({ code: e.code });
      this.report('uploader_failure', e);
      ctx.storage.failed(e);
    });
    this.uploader.on('backed_up', (e) => {
      ctx.metrics?.segmentsBackedUp.inc();
      this.report('backed_up_segment', e);
    });
  }

  /** The state of the track's current recorder (undefined before its first). */
  get recorderState(): RecorderState | undefined {
    return this.recorder?.state;
  }

  /**
   * Starts `recorder` on this track, after the last segment it has (flagged discontinuity unless it is
   * the first); resolves with the recorder's final event. Throws what `recorder.start` throws.
   */
  record(
    recorder: SessionRecorder,
    options: TrackRecorderOptions,
    hooks: TrackHooks = {},
  ): Promise<FinalEvent> {
    const previous = this.recorder;
    const ended = new Promise<FinalEvent>((resolve) => {
      recorder.once('stopped', resolve);
      recorder.once('fatal_error', resolve);
    });
    this.listen(recorder, hooks);
    const startSequence = this.nextSequence;
    const limit = recorderDurationLimit(
      options.maxDurationSeconds,
      startSequence,
      options.segmentSeconds ?? 1,
    );
    const timelineStartSeconds = continuedTimeline(this.lastEnd.timelineSeconds);
    recorder.start({
      ...options,
      ...(limit !== undefined ? { maxDurationSeconds: limit } : {}),
      ...(timelineStartSeconds !== undefined ? { timelineStartSeconds } : {}),
      outputDir: this.outputDir,
      startSequence,
      discontinuity: startSequence > 0,
    });
    this.recorder = recorder;
    // The previous recorder has ended (a track records with one at a time); free what it holds.
    void previous?.release().catch(() => undefined);
    return ended;
  }

  /**
   * Continues the track with a standby's recorder (this worker stood by and has claimed the recording).
   * Its segments — the window's, then each it finishes from now on — count from the first that starts
   * where the track's last segment ends (on the source's clock; by program date for an index without
   * source times; the first of all for an empty track): that one and every later one become the track's
   * next segments, moved out of the standby folder and renumbered, the first flagged discontinuity
   * (another recorder's timestamps). Earlier ones, which the owner delivered, are deleted. Resolves with
   * the recorder's final event; says how many window segments were taken and how far (ms, on the
   * source's clock) the first one starts after the owner's last end, when it is known already.
   */
  adopt(
    standby: StandbyHandover,
    hooks: TrackHooks = {},
  ): { ended: Promise<FinalEvent>; taken: number; gapMs: number | undefined } {
    const { sourceMs, dateMs } = this.lastEnd;
    this.adoption = {
      offset: undefined,
      flagNext: true,
      follows: (e) =>
        sourceMs !== undefined
          ? e.sourceStartMs >= sourceMs - SOURCE_MATCH_TOLERANCE_MS
          : dateMs === undefined || e.programDateTimeMs >= dateMs - DATE_MATCH_TOLERANCE_MS,
    };
    const window = standby.takeWindow();
    const first = window.find(this.adoption.follows);
    const gapMs =
      first && sourceMs !== undefined
        ? first.sourceStartMs - sourceMs
        : first && dateMs !== undefined
          ? first.programDateTimeMs - dateMs
          : undefined;
    const { recorder } = standby;
    this.listen(recorder, hooks);
    this.recorder = recorder;
    const before = this.segments;
    for (const e of window) this.onSegment(e);
    return { ended: standby.ended, taken: this.segments - before, gapMs };
  }

  private listen(recorder: SessionRecorder, hooks: TrackHooks): void {
    if (hooks.joined) recorder.on('joined', hooks.joined);
    if (hooks.started) recorder.on('started', hooks.started);
    if (hooks.stopped) recorder.on('stopped', hooks.stopped);
    recorder.on('segment', (e) => this.onSegment(e));
    recorder.on('recorder_failure', (e) => {
      const [type, data] = failureEvent(e);
      this.report(type, data);
      hooks.failure?.(e);
    });
  }

  /** Finalizes the current recorder's segment and ends it. */
  async stop(): Promise<void> {
    if (this.recorder?.state === 'running') await this.recorder.stop().catch(() => undefined);
  }

  /**
   * Ends the current recorder for another owner at its next cut, abandoning the segment that cut opens:
   * the track's last segment then ends on a keyframe with its audio and video together, and the next
   * owner's first segment follows it cleanly (a stop mid-GOP leaves the audio a frame short of the
   * video, and FFmpeg reads the junction as non-monotonic dts). A live standby cuts at the same
   * instants and delivers from exactly that cut. With no cut within `withinMs` (a source gone quiet)
   * the open segment is finished where it is. `atCut` runs before the recorder is released at a cut
   * (before its final event), so a session can tell that end from the recorder's own.
   */
  endAtNextCut(withinMs: number, atCut: () => void = () => undefined): Promise<void> {
    const recorder = this.recorder;
    if (recorder?.state !== 'running') return Promise.resolve();
    // Asked again for the same recorder (a session ends its tracks twice): the same wait.
    if (this.ending?.recorder !== recorder) {
      this.ending = { recorder, done: endAtNextCut(recorder, withinMs, atCut) };
    }
    return this.ending.done;
  }

  /** Ends the current recorder; `cancel` abandons the segment being written. */
  async release(options: { cancel?: boolean } = {}): Promise<void> {
    await this.recorder?.release(options).catch(() => undefined);
  }

  /**
   * Delivers every reserved segment and writes the playlist (see RecordingUploader.finish); the spool
   * folder goes once everything is delivered. Call once, after the last recorder's final event.
   */
  async finish(options: { endList?: boolean; writePlaylist?: boolean } = {}): Promise<UploadOutcome> {
    await this.reserveChain;
    const outcome = await this.uploader.finish(options);
    await this.recorder?.release().catch(() => undefined);
    if (options.writePlaylist !== false && outcome.outcome !== 'failed') {
      await rm(this.outputDir, { recursive: true, force: true });
    }
    return outcome;
  }

  /** No segment at all, here or from an earlier owner: the track has nothing to deliver. */
  get empty(): boolean {
    return this.segments === 0;
  }

  /**
   * Ends a track that recorded nothing (see `empty`) without writing anything: a playlist without a
   * segment is one no player can read. Frees its recorder and spool folder. Call instead of finish().
   */
  async discard(): Promise<void> {
    await this.reserveChain;
    await this.recorder?.release().catch(() => undefined);
    await rm(this.outputDir, { recursive: true, force: true });
  }

  /**
   * Deletes the segments recorded after another worker claimed the recording (their reservations were
   * refused): the new owner records that time itself, and they are never listed — there is one writer
   * per playlist entry. Call after finish(). Says how many, and how many seconds of media, went.
   */
  async discardRefused(): Promise<{ segments: number; seconds: number }> {
    await this.reserveChain;
    const gone = this.refused.splice(0);
    await Promise.all(gone.map((s) => rm(s.path, { force: true })));
    return { segments: gone.length, seconds: round3(gone.reduce((sum, s) => sum + s.durationSeconds, 0)) };
  }

  figures(): TrackFigures {
    const up = this.uploader.progress();
    return {
      segments: this.segments,
      bytes: this.bytes,
      durationSeconds: round3(this.recordedSeconds),
      segmentsUploaded: up.segmentsUploaded,
      bytesUploaded: this.bytesUploadedBefore + up.bytesUploaded,
    };
  }

  private onSegment(engine: SegmentEvent): void {
    const e = this.adopted(engine);
    if (!e) return;
    const dated = {
      programDateTime: e.programDateTimeMs,
      // Not rounded: a resumed recorder starts exactly there (continuedTimeline).
      ...sourceSpanOf({ ...e, timelineEndSeconds: e.startPtsSeconds + e.durationSeconds }),
    };
    const reservation = {
      sequence: e.sequence,
      durationSeconds: e.durationSeconds,
      bytes: e.bytes,
      discontinuity: e.discontinuity,
      ...dated,
      at: Date.now(),
    };
    const spooled = {
      sequence: e.sequence,
      filePath: e.path,
      durationSeconds: e.durationSeconds,
      bytes: e.bytes,
      discontinuity: e.discontinuity,
      ...dated,
    };
    // Nothing is put into storage before it is reserved under this worker's epoch: a worker that lost
    // the recording cannot overwrite its successor's objects.
    // An adopted standby's segment moves into the track's folder first, under its new number, where
    // spool recovery finds it once it is reserved.
    const place = (): Promise<void> =>
      e.path === engine.path ? Promise.resolve() : rename(engine.path, e.path);
    this.reserveChain = this.reserveChain.then(() =>
      place()
        .then(() => this.index.reserve(reservation))
        .then(
          () => this.uploader.add(spooled),
          (err: unknown) => {
            if (err instanceof FencedError) {
              this.refused.push({ path: e.path, durationSeconds: e.durationSeconds });
              this.ctx.onFenced(err.message);
            } else {
              this.ctx.log.warn({ err, sequence: e.sequence }, 'segment not reserved; delivering anyway');
              this.uploader.add(spooled);
            }
          },
        ),
    );
    this.ctx.metrics?.segmentsWritten.inc();
    this.segments += 1;
    this.bytes += e.bytes;
    this.recordedSeconds += e.durationSeconds;
    this.nextSequence = Math.max(this.nextSequence, e.sequence + 1);
    this.noteProgramDateTime(e.programDateTimeMs);
    this.report('segment', {
      sequence: e.sequence,
      durationSeconds: e.durationSeconds,
      bytes: e.bytes,
      discontinuity: e.discontinuity,
      ...dated,
    });
  }

  /** A segment of an adopted standby recorder as the track's own (see adopt); others as they are. */
  private adopted(e: SegmentEvent): SegmentEvent | undefined {
    const a = this.adoption;
    if (!a) return e;
    if (a.offset === undefined) {
      if (!a.follows(e)) {
        void rm(e.path, { force: true });
        return undefined;
      }
      a.offset = this.nextSequence - e.sequence;
    }
    const sequence = e.sequence + a.offset;
    const name = basename(e.path).replace(/_\d+\.ts$/, `_${String(sequence).padStart(6, '0')}.ts`);
    const discontinuity = e.discontinuity || a.flagNext;
    a.flagNext = false;
    return { ...e, sequence, path: join(this.outputDir, name), discontinuity };
  }

  private noteProgramDateTime(at: number | undefined): void {
    if (at !== undefined && (this.firstProgramDateTime === undefined || at < this.firstProgramDateTime)) {
      this.firstProgramDateTime = at;
    }
  }

  private report(type: RecordingEventType, data: object): void {
    this.ctx.report(type, { ...this.definition.labels, ...data });
  }
}

/**
 * Where a recorder that continues the track starts its timeline: exactly where the last segment ends, so
 * that its first video frame lands on the frame grid of the frames before it. A gap that is not a whole
 * number of frames (the engine's 0.1 s rejoin gap) makes FFmpeg, reading across the seam, repeat
 * timestamps. Undefined — the host's start — for a track without one, or past what MPEG-TS's clock
 * holds (a recording over ~26 h).
 */
function continuedTimeline(lastEndSeconds: number | undefined): number | undefined {
  if (lastEndSeconds === undefined) return undefined;
  return lastEndSeconds <= TIMELINE_START_RULE.max ? lastEndSeconds : undefined;
}

/** How far (ms) a standby's segment may start before the track's last end and still count as next. */
const SOURCE_MATCH_TOLERANCE_MS = 1;
/** The same, by program date, for an index written without source times (dates agree within ~100 ms). */
const DATE_MATCH_TOLERANCE_MS = 500;

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** RecordingTrack.endAtNextCut for one recorder. */
async function endAtNextCut(recorder: SessionRecorder, withinMs: number, atCut: () => void): Promise<void> {
  const cut = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), withinMs);
    const settle = (reached: boolean): void => {
      clearTimeout(timer);
      resolve(reached);
    };
    recorder.once('segment', () => settle(true));
    recorder.once('stopped', () => settle(false));
    recorder.once('fatal_error', () => settle(false));
  });
  if (cut && recorder.state === 'running') {
    atCut();
    await recorder.release({ cancel: true }).catch(() => undefined);
  } else if (recorder.state === 'running') {
    await recorder.stop().catch(() => undefined);
  }
}
