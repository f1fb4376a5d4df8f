import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  RecfleetError,
  recordingKind,
  redactText,
  uploadPercent,
  type RecfleetErrorCode,
  type RecordingEventType,
  type RecordingJob,
  type RecordingResult,
  type StopReason,
} from '@recfleet/contract';
import type { BackupPolicy, StorageAdapter, StorageFailure, UploadSlots } from '@recfleet/storage';
import { WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RecordingFailedError } from './recording-failure.js';
import type { RecordingRecord } from './recording-record.js';
import { round3, type RecorderFactory, type RecordingTrack, type TrackContext } from './recording-track.js';
import { claimRecording } from './redis-segment-index.js';
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
  /** This worker's identity (host:pid), recorded as the recording's owner. */
  owner: string;
  metrics?: WorkerMetrics;
  /** Where segments go when the primary keeps failing, and the profile's name (for the drain). */
  backup?: { policy: BackupPolicy; profile: string };
  uploadSlots: UploadSlots;
  uploadAttemptTimeoutMs: number;
  /** Set of recordings with segments waiting in a backup store (drained by BackupDrainWorker). */
  backedUpSetKey: string;
  spoolDir: string;
  progressIntervalMs: number;
  /** How often the durable stop/cancel request is checked; bounds the stop latency. */
  controlPollMs: number;
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
 * result, or a RecordingFailedError with a stable code. Every event reaches the durable record and the
 * job's log in the order it happened.
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
  /** Events reach Redis in the order they happened, one write at a time. */
  private reportChain: Promise<void> = Promise.resolve();

  constructor(protected readonly o: SessionOptions) {
    this.recordingDir = join(o.spoolDir, o.spec.recordingId);
  }

  async run(): Promise<RecordingResult> {
    await this.claim();
    const last = await this.record();
    if (this.fencedReason !== undefined) return this.finishFenced(this.fencedReason);
    if (this.handingOff && last.type === 'stopped' && last.reason === 'requested') {
      return this.finishHandedOff();
    }
    return this.finishDelivered(last);
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

  /** Record fields written at claim beyond the common ones. */
  protected claimFields(): Record<string, string | number> {
    return {};
  }

  /** A reason to fail an ended recording although nothing broke (a single stream never reached). */
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
   * Takes ownership of the recording and continues where any earlier owner left off. Claiming bumps the
   * epoch: an earlier owner can no longer add segments to any track.
   */
  private async claim(): Promise<void> {
    const { spec, record } = this.o;
    await mkdir(this.recordingDir, { recursive: true });
    this.epoch = await claimRecording(this.o.redis, record.keys.record, this.o.owner);
    await this.resume();
    // What the backup drain needs to finish this recording's delivery from any host.
    await record.setState('joining', {
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

  /** Another worker owns the recording now: deliver what was reserved, touch nothing else. */
  private async finishFenced(reason: string): Promise<never> {
    await Promise.all(this.tracks().map((t) => t.finish({ writePlaylist: false })));
    await this.reportChain;
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
    await this.o.record.setState('queued', { reason: 'handoff' });
    const { segments, durationSeconds } = this.totals();
    await this.report('handoff', { segments, durationSeconds });
    await this.reportChain;
    await this.o.job.moveToWait(this.o.token);
    throw new WaitingError();
  }

  /** The recording ended here: deliver the rest and the final playlists, then record the outcome. */
  private async finishDelivered(last: SessionEnd): Promise<RecordingResult> {
    if (last.type === 'stopped') await this.o.record.setState('stopping', { reason: last.reason });
    const delivery = await this.deliver();
    await this.reportChain;
    await rmdir(this.recordingDir).catch(() => undefined);

    const refusal = this.refusal(last);
    if (refusal) return this.fail(refusal.code, refusal.message);
    if (last.type === 'fatal_error') return this.fail(last.code, redactText(last.message));
    if (delivery.outcome === 'failed') {
      const detail = delivery.error ? ` (${delivery.error.message})` : '';
      return this.fail(
        delivery.error?.code ?? 'STORAGE_WRITE_FAILED',
        `segments not delivered: ${delivery.missing.join(', ')}${detail}`,
      );
    }
    const result = this.result(delivery.outcome, last.reason);
    await this.recordOutcome(result, delivery);
    await this.o.job.updateProgress(this.progressSnapshot());
    return result;
  }

  /** Ends the recording `failed` with a stable code: on the record, as a `fatal_error`, and on the job. */
  protected async fail(code: RecfleetErrorCode, message: string): Promise<never> {
    await this.o.record.setState('failed', { errorCode: code, errorMessage: message });
    await this.report('fatal_error', { code, message });
    throw new RecordingFailedError(code, message);
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
    if (result.outcome === 'backed_up') {
      // Registered before the state changes, so the drain cannot miss a recording it must finish.
      await this.o.redis.sadd(this.o.backedUpSetKey, result.recordingId);
      // State first, then the event: whoever reacts to the event reads the final state.
      await this.o.record.setState('backed_up', { ...summary, backedUp: delivery.backedUp.join(',') });
      await this.report('backed_up', {
        ...result,
        backedUp: delivery.backedUp,
        playlistWritten: delivery.playlistWritten,
      });
    } else {
      await this.o.record.setState('uploaded', summary);
      await this.report('uploaded', { ...result });
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
   * restart its percentage at zero.
   */
  protected progressSnapshot(): Record<string, unknown> {
    const t = this.totals();
    return {
      durationSeconds: t.durationSeconds,
      segments: t.segments,
      bytes: t.bytes,
      segmentsUploaded: t.segmentsUploaded,
      bytesUploaded: t.bytesUploaded,
      uploadPercent: uploadPercent(t.bytesUploaded, t.bytes),
    };
  }

  protected reportProgress(): void {
    const snapshot = this.progressSnapshot();
    void this.o.job
      .updateProgress(snapshot)
      .catch((err: unknown) => this.o.log.warn({ err }, 'progress not saved'));
    void this.report('progress', snapshot);
  }

  /** Waits for `ended` while reporting progress and polling the record every `controlPollMs`. */
  protected async whileRecording<T>(ended: Promise<T>, poll: () => Promise<void>): Promise<T> {
    const progressTimer = setInterval(() => this.reportProgress(), this.o.progressIntervalMs);
    const controlTimer = setInterval(() => void poll(), this.o.controlPollMs);
    try {
      return await ended;
    } finally {
      clearInterval(progressTimer);
      clearInterval(controlTimer);
    }
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
      report: (type, data) => void this.report(type, data),
      onFenced: (reason) => this.fence(reason),
    };
  }

  /**
   * Stops writing at once because this worker may no longer own the recording (its lock was not
   * renewed: Redis unreachable or the host partitioned; or a write was refused by a newer epoch).
   * Whatever it recorded but did not reserve is abandoned; another worker resumes the recording.
   */
  fence(reason: string): void {
    if (this.fencedReason !== undefined || this.recordingEnded()) return;
    this.fencedReason = reason;
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

  /** Appends an event to the record's stream and the job's log, in order; never throws. */
  protected report(type: RecordingEventType, data: Record<string, unknown>): Promise<void> {
    const at = Date.now();
    this.reportChain = this.reportChain.then(async () => {
      try {
        await this.o.record.appendEvent(type, data, at);
        await this.o.job.log(`${new Date(at).toISOString()} ${type} ${JSON.stringify(data)}`);
      } catch (err) {
        this.o.log.warn({ err, type }, 'event not recorded');
      }
    });
    return this.reportChain;
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
