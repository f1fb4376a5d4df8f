import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  RecfleetError,
  recordingKind,
  redactText,
  STORAGE_ERROR_FIELD,
  uploadPercent,
  type ControlRequest,
  type RecfleetErrorCode,
  type RecordingEventType,
  type RecordingJob,
  type RecordingResult,
  type StopReason,
  type StorageErrorFlag,
} from '@recfleet/contract';
import type { BackupPolicy, StorageAdapter, StorageFailure, UploadSlots } from '@recfleet/storage';
import { WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ControlTicks } from './control-ticks.js';
import { EventOutbox } from './event-outbox.js';
import { JobProgress } from './job-progress.js';
import { RecordingFailedError } from './recording-failure.js';
import type { ClaimOutcome, OwnerWrite, RecordingFinish, RecordingRecord } from './recording-record.js';
import type { RecordingOwnership } from './recording-ownership.js';
import { round3, type RecorderFactory, type RecordingTrack, type TrackContext } from './recording-track.js';
import { StorageErrorWatch } from './storage-error-watch.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** What every session of a recording job needs, whatever it records. */
export interface SessionOptions {
  job: Job;
  /** The job's lock token (needed to hand the job back to the queue). */
  token: string | undefined;
  spec: RecordingJob;
  createRecorder: RecorderFactory;
  store: StorageAdapter;
  record: RecordingRecord;
  redis: Redis;
  /** This worker's ownership of the recording: claimed by the worker already, or at the session's start. */
  ownership: RecordingOwnership;
  metrics?: WorkerMetrics;
  /** Where segments go when the primary keeps failing, and the profile's name (for the drain). */
  backup?: { policy: BackupPolicy; profile: string };
  uploadSlots: UploadSlots;
  uploadAttemptTimeoutMs: number;
  /** Set of recordings with segments waiting in a backup store (drained by BackupDrainWorker). */
  backedUpSetKey: string;
  spoolDir: string;
  progressIntervalMs: number;
  /** The worker's gapSeconds, for a job whose recordingConfig names none. */
  gapSeconds: number;
  /** How often the durable stop/cancel request is checked; bounds the stop latency. */
  controlPollMs: number;
  /** The worker's shared clock for control polls (one pipeline per tick); else a timer of its own. */
  controlTicks?: ControlTicks;
  log: Logger;
}

/** How a recording ended here: a stop reason, or a failure with a stable code. */
export type SessionEnd =
  { type: 'stopped'; reason: StopReason } | { type: 'fatal_error'; code: RecfleetErrorCode; message: string };

/** What the delivery of every track (and, for a channel, the manifest) came to. */
export interface Delivery {
  outcome: RecordingResult['outcome'] | 'failed';
  playlistWritten: boolean;
  /** Segments only in the backup store (a single stream's sequences, a channel's `<track>:<sequence>`). */
  backedUp: (number | string)[];
  /** Segments in neither store (their spool files are kept). */
  missing: (number | string)[];
  error?: StorageFailure;
}

/**
 * One recording's life on this worker, whatever it records: one track (a single stream) or a track per
 * user of a channel. `run` is its steps in order — claim, record, then one of finish fenced / finish
 * handed-off / finish delivered, the last of which may fail — and it ends in exactly one outcome: a
 * result, or a RecordingFailedError with a stable code, written with the recording's one terminal event
 * (finishRecording-2.lua). Every write of it — state, events, segments — is fenced by its epoch, and
 * reaches Redis in the order it happened, also after an outage of Redis.
 */
export abstract class SessionLifecycle {
  readonly startedAt = Date.now();
  /** The owner epoch of this session's claim: it fences every write of every track. */
  protected epoch = 0;
  /** Why this session stopped writing although the recording goes on elsewhere, if it did. */
  protected fencedReason: string | undefined;
  protected handingOff = false;
  /** The recording's spool folder (a single stream's segments, or one folder per user track). */
  protected readonly recordingDir: string;
  /** Record writes and events, in order, fenced (set at the claim). */
  protected outbox!: EventOutbox;
  private readonly progress: JobProgress;
  /** Whether uploads keep failing, shown on the record (`storageError`) while recording. */
  protected readonly storage: StorageErrorWatch;

  constructor(protected readonly o: SessionOptions) {
    this.recordingDir = join(o.spoolDir, o.spec.recordingId);
    this.progress = new JobProgress(o.job, o.log);
    this.storage = new StorageErrorWatch((flag, previous) => this.storageChanged(flag, previous));
  }

  async run(): Promise<RecordingResult> {
    await this.claim();
    try {
      const last = await this.record();
      if (this.fencedReason !== undefined) return await this.finishFenced(this.fencedReason);
      if (this.handOffEnd(last)) {
        return await this.finishHandedOff();
      }
      return await this.finishDelivered(last);
    } finally {
      await this.o.ownership.release();
    }
  }

  /** Reads what earlier owners of the recording left (its tracks), once the claim is made. */
  protected abstract resume(): Promise<void>;
  /** Records until the recording ends here, reporting progress and acting on stop/cancel requests. */
  protected abstract record(): Promise<SessionEnd>;
  /** Every track of the recording this session delivers. */
  protected abstract tracks(): RecordingTrack[];
  /** Whether recording has ended here (a lock lost afterwards changes nothing). */
  protected abstract recordingEnded(): boolean;
  /** Stops writing at once (see fence). */
  protected abstract abandon(): void;
  /** Delivers the rest: every track's final playlist (and a channel's manifest). */
  protected abstract deliver(): Promise<Delivery>;
  /** The recording's one entry point in the store (a playlist, or a channel's manifest). */
  protected abstract entryKey(): string;

  /** Whether the recording ended here because it is being handed off (a stop asked for by handOff). */
  protected handOffEnd(last: SessionEnd): boolean {
    return this.handingOff && last.type === 'stopped' && last.reason === 'requested';
  }

  /**
   * How long a hand-off waits for a track's next cut before finishing its open segment where it is:
   * a segment's length and a little for a late keyframe.
   */
  protected handOffCutWithinMs(): number {
    return (this.o.spec.recordingConfig.segmentSeconds + 5) * 1000;
  }

  /** Record fields written at claim beyond the common ones. */
  protected claimFields(): Record<string, string | number> {
    return {};
  }

  /**
   * A reason to fail an ended recording although nothing broke: a single stream whose source was never
   * reached at all. It ends with that `fatal_error` alone — no `stopped` before it, nothing delivered.
   */
  protected refusal(_last: SessionEnd): { code: RecfleetErrorCode; message: string } | undefined {
    return undefined;
  }

  /** Written once the recording went back to the queue (a channel's manifest, still open). */
  protected async handedOff(): Promise<void> {}

  /** Fields of the result beyond the common ones (a channel's playlists and manifest). */
  protected resultFields(): Partial<RecordingResult> {
    return {};
  }

  /**
   * Takes ownership of the recording (unless the worker has) and continues where any earlier owner left
   * off. Claiming bumps the epoch: an earlier owner can no longer write anything of the recording.
   */
  private async claim(): Promise<void> {
    const { spec, ownership } = this.o;
    await mkdir(this.recordingDir, { recursive: true });
    if (ownership.epoch === undefined) {
      const outcome = await ownership.claim();
      if (outcome.type !== 'claimed') throw new NotOwnerError(outcome);
    }
    this.epoch = ownership.epoch!;
    this.outbox = new EventOutbox(
      this.o.record,
      this.epoch,
      (line) => this.o.job.log(line),
      (reason) => this.fence(reason),
      this.o.log,
    );
    ownership.keepAlive((reason) => this.fence(reason));
    await this.resume();
    // What the backup drain needs to finish this recording's delivery from any host.
    this.outbox.fields({
      state: 'joining',
      jobId: String(this.o.job.id),
      epoch: this.epoch,
      kind: recordingKind(spec),
      channel: spec.channel,
      storageProfile: spec.storage.profile,
      storagePrefix: spec.storage.prefix ?? '',
      backupProfile: this.o.backup?.profile ?? '',
      ...this.claimFields(),
    });
  }

  /**
   * Another worker owns the recording now: deliver what was reserved, touch nothing else. What was
   * recorded after its claim (reservations refused) is deleted: the new owner recorded that time.
   */
  private async finishFenced(reason: string): Promise<never> {
    await Promise.all(this.tracks().map((t) => t.finish({ writePlaylist: false })));
    const discarded = { segments: 0, seconds: 0 };
    for (const t of this.tracks()) {
      const d = await t.discardRefused();
      discarded.segments += d.segments;
      discarded.seconds = round3(discarded.seconds + d.seconds);
    }
    if (discarded.segments > 0) {
      this.o.log.warn(
        { segments: discarded.segments, seconds: discarded.seconds },
        'fenced: segments recorded after another worker claimed the recording were discarded',
      );
    }
    throw new SessionFencedError(reason);
  }

  /**
   * Hand-off: every finished segment delivered, then the job goes back to the queue for another worker,
   * which resumes the same recording with the next sequence numbers.
   */
  private async finishHandedOff(): Promise<never> {
    await Promise.all(this.tracks().map((t) => t.finish({ endList: false })));
    await rmdir(this.recordingDir).catch(() => undefined);
    await this.handedOff();
    await this.outbox.drained();
    // No heartbeat after this: the next worker claims the recording at once.
    await this.o.ownership.release();
    const { segments, durationSeconds } = this.totals();
    const data = { segments, durationSeconds };
    if ((await this.o.record.handOff(this.epoch, data)) === 'fenced') {
      throw new SessionFencedError('the recording was claimed by another worker during the hand-off');
    }
    await this.mirror('handoff', data);
    // A lock lost meanwhile (an outage) means the job is held elsewhere: its holder claims the recording.
    await this.o.job.moveToWait(this.o.token).catch(() => undefined);
    throw new WaitingError();
  }

  /** The recording ended here: deliver the rest and the final playlists, then record the outcome. */
  private async finishDelivered(last: SessionEnd): Promise<RecordingResult> {
    const refusal = this.refusal(last);
    if (refusal) {
      await Promise.all(this.tracks().map((t) => t.discard()));
      await rmdir(this.recordingDir).catch(() => undefined);
      return this.fail(refusal.code, refusal.message);
    }
    if (last.type === 'stopped') {
      const { segments, durationSeconds } = this.totals();
      this.outbox.fields({ state: 'stopping', reason: last.reason });
      this.report('stopped', { reason: last.reason, segments, durationSeconds });
    }
    const delivery = await this.deliver();
    await rmdir(this.recordingDir).catch(() => undefined);

    if (last.type === 'fatal_error') return this.fail(last.code, redactText(last.message));
    if (delivery.outcome === 'failed') {
      const detail = delivery.error ? ` (${delivery.error.message})` : '';
      return this.fail(
        delivery.error?.code ?? 'STORAGE_WRITE_FAILED',
        `segments not delivered: ${delivery.missing.join(', ')}${detail}`,
      );
    }
    const result = this.result(delivery.outcome, last.reason);
    // The final progress before the outcome: the job completes right after the terminal event.
    this.progress.set(this.progressSnapshot());
    await this.progress.written();
    await this.recordOutcome(result, delivery);
    return result;
  }

  /** Ends the recording `failed` with a stable code: on the record, as its `fatal_error`, and on the job. */
  protected async fail(code: RecfleetErrorCode, message: string): Promise<never> {
    await this.finish({
      state: 'failed',
      fields: { errorCode: code, errorMessage: message },
      event: { type: 'fatal_error', data: { code, message }, at: Date.now() },
    });
    throw new RecordingFailedError(code, message);
  }

  /**
   * Writes the recording's end once everything reported before it is written; refused when another
   * worker owns the recording, or when it has its terminal event already (then that one stands).
   */
  private async finish(end: RecordingFinish): Promise<void> {
    await this.outbox.drained();
    this.outbox.close();
    const written: OwnerWrite = await this.o.record.finish(this.epoch, end);
    if (written === 'fenced') throw new SessionFencedError('another worker owns the recording: not finished');
    if (written === 'after_terminal') throw new RecordingEndedError();
    void this.mirror(end.event.type, end.event.data);
  }

  private mirror(type: RecordingEventType, data: Record<string, unknown>): Promise<void> {
    return this.o.job.log(`${new Date().toISOString()} ${type} ${JSON.stringify(data)}`).then(
      () => undefined,
      (err: unknown) => this.o.log.warn({ err }, 'job log not written'),
    );
  }

  private result(outcome: RecordingResult['outcome'], stopReason: StopReason): RecordingResult {
    const { spec } = this.o;
    const { segments, durationSeconds, bytes } = this.totals();
    return {
      recordingId: spec.recordingId,
      channel: spec.channel,
      outcome,
      stopReason,
      storageProfile: spec.storage.profile,
      playlistKey: this.entryKey(),
      playlistLocation: this.o.store.locate(this.entryKey()),
      segments,
      durationSeconds,
      bytes,
      ...this.resultFields(),
    };
  }

  private async recordOutcome(result: RecordingResult, delivery: Delivery): Promise<void> {
    const summary = {
      playlistKey: result.playlistKey,
      playlistLocation: result.playlistLocation,
      segments: result.segments,
      durationSeconds: result.durationSeconds,
      ended: 1,
      // The job's return value lands only after `run` returns; the record has it first.
      result: JSON.stringify(result),
    };
    const at = Date.now();
    if (result.outcome === 'backed_up') {
      // Registered before the state changes, so the drain cannot miss a recording it must finish.
      await this.o.redis.sadd(this.o.backedUpSetKey, result.recordingId);
      await this.finish({
        state: 'backed_up',
        fields: { ...summary, backedUp: delivery.backedUp.join(',') },
        event: {
          type: 'backed_up',
          data: { ...result, backedUp: delivery.backedUp, playlistWritten: delivery.playlistWritten },
          at,
        },
      });
    } else {
      await this.finish({
        state: 'uploaded',
        fields: summary,
        event: { type: 'uploaded', data: { ...result }, at },
      });
    }
  }

  /** Totals over every track of the recording, earlier owners' segments included. */
  protected totals(): {
    segments: number;
    bytes: number;
    durationSeconds: number;
    segmentsUploaded: number;
    bytesUploaded: number;
  } {
    const sum = { segments: 0, bytes: 0, durationSeconds: 0, segmentsUploaded: 0, bytesUploaded: 0 };
    for (const t of this.tracks()) {
      const f = t.figures();
      sum.segments += f.segments;
      sum.bytes += f.bytes;
      sum.durationSeconds += f.durationSeconds;
      sum.segmentsUploaded += f.segmentsUploaded;
      sum.bytesUploaded += f.bytesUploaded;
    }
    return { ...sum, durationSeconds: round3(sum.durationSeconds) };
  }

  /**
   * The whole recording's figures, earlier owners' segments included, so a resumed recording does not
   * restart its percentage at zero; and the storage error while uploads keep failing (Bull Board shows
   * the job's progress).
   */
  protected progressSnapshot(): Record<string, unknown> {
    const t = this.totals();
    const storageError = this.storage.current;
    return {
      durationSeconds: t.durationSeconds,
      segments: t.segments,
      bytes: t.bytes,
      segmentsUploaded: t.segmentsUploaded,
      bytesUploaded: t.bytesUploaded,
      uploadPercent: uploadPercent(t.bytesUploaded, t.bytes),
      ...(storageError ? { storageError } : {}),
    };
  }

  protected reportProgress(): void {
    const snapshot = this.progressSnapshot();
    this.progress.set(snapshot);
    this.report('progress', snapshot);
  }

  /** The store started failing (or with another code), or works again: record, event and job say so. */
  private storageChanged(flag: StorageErrorFlag | undefined, previous: StorageErrorFlag | undefined): void {
    if (this.fencedReason !== undefined) return;
    if (flag) {
      this.o.log.warn({ code: flag.code, message: flag.message }, 'uploads keep failing');
      this.outbox.fields({ [STORAGE_ERROR_FIELD]: JSON.stringify(flag) });
      this.report('storage_error', { ...flag });
    } else if (previous) {
      const seconds = round3((Date.now() - previous.since) / 1000);
      this.o.log.info({ code: previous.code, seconds }, 'uploads succeed again');
      this.outbox.fields({}, [STORAGE_ERROR_FIELD]);
      this.report('storage_error_cleared', { code: previous.code, since: previous.since, seconds });
    }
    this.progress.set(this.progressSnapshot());
  }

  /**
   * A stop or cancel already on the record when this worker took the job (a producer's that wrote the
   * record's `control` field before any worker had the job, or one made while the job waited after a
   * crash) ends the recording before anything is recorded: the control polls would see it only once the
   * recorder runs, and a source read faster than real time can close a segment by then. Unreadable here
   * (Redis away), the polls act on it later.
   */
  protected async pendingControl(): Promise<SessionEnd | undefined> {
    const request = await this.o.record.controlRequest().catch(() => undefined);
    if (!request) return undefined;
    this.o.log.info({ request }, 'control request before recording');
    return stoppedBy(request);
  }

  /** Waits for `ended` while reporting progress and polling the record every `controlPollMs`. */
  protected async whileRecording<T>(ended: Promise<T>, poll: () => Promise<void>): Promise<T> {
    const progressTimer = setInterval(() => this.reportProgress(), this.o.progressIntervalMs);
    // One poll at a time: while Redis is unreachable, polls wait instead of piling up.
    let polling: Promise<void> | undefined;
    const tick = (): void => {
      polling ??= poll().finally(() => (polling = undefined));
    };
    let unsubscribe: () => void;
    if (this.o.controlTicks) unsubscribe = this.o.controlTicks.subscribe(tick);
    else {
      const controlTimer = setInterval(tick, this.o.controlPollMs);
      unsubscribe = () => clearInterval(controlTimer);
    }
    try {
      return await ended;
    } finally {
      clearInterval(progressTimer);
      unsubscribe();
    }
  }

  /** Silence from a connected source that is a gap: the job's, else the worker's. */
  protected gapSeconds(): number {
    return this.o.spec.recordingConfig.gapSeconds ?? this.o.gapSeconds;
  }

  /** What every track of this session shares. */
  protected trackContext(): TrackContext {
    return {
      store: this.o.store,
      redis: this.o.redis,
      recordKey: this.o.record.keys.record,
      epoch: this.epoch,
      uploadSlots: this.o.uploadSlots,
      uploadAttemptTimeoutMs: this.o.uploadAttemptTimeoutMs,
      backup: this.o.backup?.policy,
      metrics: this.o.metrics,
      log: this.o.log,
      report: (type, data) => this.report(type, data),
      onFenced: (reason) => this.fence(reason),
      storage: this.storage,
    };
  }

  /**
   * Stops writing at once because another worker owns the recording now (a newer epoch refused a write,
   * or the heartbeat). Whatever it recorded but did not reserve is abandoned; the new owner goes on.
   * Never because Redis is unreachable: nobody can claim the recording then, and it records on.
   */
  fence(reason: string): void {
    if (this.fencedReason !== undefined || this.recordingEnded()) return;
    this.fencedReason = reason;
    this.outbox?.close();
    this.o.metrics?.recordingsFenced.inc();
    this.o.log.warn({ reason }, 'fenced: this worker stops writing the recording');
    this.abandon();
  }

  /** Finalizes the recording (a shutdown with no other worker to take it over). */
  abstract stop(): Promise<void>;

  /**
   * Ends the recording here at a segment boundary and hands the job back to the queue, so another
   * worker resumes it (rolling restarts lose no finished segment).
   */
  abstract handOff(): Promise<void>;

  /** Queues an event for the record's stream and the job's log, in order; never throws. */
  protected report(type: RecordingEventType, data: Record<string, unknown>): void {
    this.outbox.event(type, data);
  }
}

/** The session stopped because another worker owns the recording now; its job must not be touched. */
export class SessionFencedError extends RecfleetError {
  declare readonly code: 'FENCED';

  constructor(reason: string) {
    super('FENCED', reason);
    this.name = 'SessionFencedError';
  }
}

/** The recording had its terminal event already when this session came to end it: that one stands. */
export class RecordingEndedError extends RecfleetError {
  constructor() {
    super('RECORDING_ENDED', 'the recording has ended already; its first outcome stands');
    this.name = 'RecordingEndedError';
  }
}

/** A session was started on a recording that another worker owns (the worker claims before it starts one). */
export class NotOwnerError extends RecfleetError {
  constructor(readonly outcome: Exclude<ClaimOutcome, { type: 'claimed' }>) {
    super('FENCED', `the recording is not this worker's to record (${outcome.type})`);
    this.name = 'NotOwnerError';
  }
}

/** How a producer's control request ends a recording. */
export function stoppedBy(request: ControlRequest): SessionEnd {
  return { type: 'stopped', reason: request === 'cancel' ? 'cancelled' : 'requested' };
}
