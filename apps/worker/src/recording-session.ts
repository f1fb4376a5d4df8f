import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  RecfleetError,
  redactText,
  redactUrl,
  uploadPercent,
  type RecfleetErrorCode,
  type RecordingEventType,
  type RecordingJob,
  type RecordingResult,
} from '@recfleet/contract';
import type {
  FatalErrorEvent,
  RecorderEvents,
  RecorderStartOptions,
  RecorderState,
  SegmentEvent,
  StoppedEvent,
} from '@recfleet/engine-binding';
import {
  FencedError,
  RecordingUploader,
  recordingObjectKeys,
  type BackupPolicy,
  type RecordingObjectKeys,
  type StorageAdapter,
  type UploadOutcome,
  type UploadSlots,
} from '@recfleet/storage';
import { WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { RecordingFailedError } from './recording-failure.js';
import type { RecordingRecord } from './recording-record.js';
import { claimRecording, RedisSegmentIndex } from './redis-segment-index.js';
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

/** Makes the recorder of one session (the worker passes `() => new Recorder()`). */
export type RecorderFactory = () => SessionRecorder;

export interface RecordingSessionOptions {
  job: Job;
  /** The job's lock token (needed to hand the job back to the queue). */
  token: string | undefined;
  spec: RecordingJob;
  sourceUrl: string;
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

type FinalEvent = StoppedEvent | FatalErrorEvent;

/**
 * One recording's life on this worker: runs the recorder, feeds its segments to the uploader, reports
 * every event to the durable record and the job, acts on stop/cancel requests, and ends in exactly one
 * outcome (a result, or a RecordingFailedError with a stable code). `run` is its steps in order: claim,
 * record, then one of finish fenced / finish handed-off / finish delivered, the last of which may fail.
 */
export class RecordingSession {
  private readonly recorder: SessionRecorder;
  private readonly keys: RecordingObjectKeys;
  private readonly outputDir: string;
  private uploader!: RecordingUploader;
  private index!: RedisSegmentIndex;
  private recordedSeconds = 0;
  /** Bytes an earlier owner of the recording delivered to the primary store. */
  private bytesUploadedBefore = 0;
  private segments = 0;
  private bytes = 0;
  /** Events reach Redis in the order they happened, one write at a time. */
  private reportChain: Promise<void> = Promise.resolve();
  /** Reservations of finished segments, in order (see reserveSegment-2.lua). */
  private reserveChain: Promise<void> = Promise.resolve();
  /** Why this session stopped writing although the recording goes on elsewhere, if it did. */
  private fencedReason: string | undefined;
  private handingOff = false;
  private joined = false;
  readonly startedAt = Date.now();

  constructor(private readonly o: RecordingSessionOptions) {
    this.recorder = o.createRecorder();
    this.keys = recordingObjectKeys(o.spec.recordingId, o.spec.channel, o.spec.storage.prefix);
    this.outputDir = join(o.spoolDir, o.spec.recordingId);
  }

  async run(): Promise<RecordingResult> {
    const { epoch, startSequence } = await this.claim();
    const last = await this.record(epoch, startSequence);
    if (this.fencedReason !== undefined) return this.finishFenced(this.fencedReason);
    if (this.handingOff && last.type === 'stopped' && last.reason === 'requested') {
      return this.finishHandedOff();
    }
    return this.finishDelivered(last);
  }

  /**
   * Takes ownership of the recording and continues where any earlier owner left off. Claiming bumps the
   * epoch: an earlier owner can no longer add segments.
   */
  private async claim(): Promise<{ epoch: number; startSequence: number }> {
    const { spec, record } = this.o;
    await mkdir(this.outputDir, { recursive: true });
    const epoch = await claimRecording(this.o.redis, record.keys.record, this.o.owner);
    this.index = new RedisSegmentIndex(this.o.redis, record.keys.record, record.keys.segments, epoch);
    const earlier = await this.index.list();
    // A recording resumed here continues after every segment an earlier owner delivered or reserved
    // (reserved ones may still arrive through spool recovery), in the same playlist.
    const startSequence = earlier.length > 0 ? Math.max(...earlier.map((s) => s.sequence)) + 1 : 0;
    for (const s of earlier) {
      this.recordedSeconds += s.durationSeconds;
      this.bytes += s.bytes;
      if (s.location === 'primary') this.bytesUploadedBefore += s.bytes;
    }
    this.segments = earlier.length;
    this.uploader = new RecordingUploader(this.o.store, this.keys, {
      index: this.index,
      slots: this.o.uploadSlots,
      attemptTimeoutMs: this.o.uploadAttemptTimeoutMs,
      ...(this.o.backup ? { backup: this.o.backup.policy } : {}),
    });
    // What the backup drain needs to finish this recording's delivery from any host.
    await record.setState('joining', {
      jobId: String(this.o.job.id),
      epoch,
      channel: spec.channel,
      storageProfile: spec.storage.profile,
      storagePrefix: spec.storage.prefix ?? '',
      backupProfile: this.o.backup?.profile ?? '',
    });
    return { epoch, startSequence };
  }

  /** Runs the recorder until its final event, reporting progress and acting on stop/cancel requests. */
  private async record(epoch: number, startSequence: number): Promise<FinalEvent> {
    const { spec } = this.o;
    const ended = new Promise<FinalEvent>((resolve) => {
      this.recorder.once('stopped', resolve);
      this.recorder.once('fatal_error', resolve);
    });
    this.wireEvents();
    this.recorder.start({
      recordingId: spec.recordingId,
      sourceUrl: this.o.sourceUrl,
      outputDir: this.outputDir,
      segmentSeconds: spec.recordingConfig.segmentSeconds,
      maxIdleSeconds: spec.recordingConfig.maxIdleSeconds,
      streamTypes: spec.recordingConfig.streamTypes,
      startSequence,
      discontinuity: startSequence > 0,
      ...(spec.recordingConfig.maxDurationSeconds !== undefined
        ? { maxDurationSeconds: spec.recordingConfig.maxDurationSeconds }
        : {}),
    });
    this.o.log.info({ sourceUrl: redactUrl(this.o.sourceUrl), epoch, startSequence }, 'recorder started');
    const progressTimer = setInterval(() => this.reportProgress(), this.o.progressIntervalMs);
    const controlTimer = setInterval(() => void this.pollControl(), this.o.controlPollMs);
    try {
      return await ended;
    } finally {
      clearInterval(progressTimer);
      clearInterval(controlTimer);
    }
  }

  /** Another worker owns the recording now: deliver what was reserved, touch nothing else. */
  private async finishFenced(reason: string): Promise<never> {
    await this.reserveChain;
    await this.uploader.finish({ writePlaylist: false });
    await this.recorder.release().catch(() => undefined);
    await this.reportChain;
    throw new SessionFencedError(reason);
  }

  /**
   * Hand-off: every finished segment delivered, then the job goes back to the queue for another worker,
   * which resumes the same recording with the next sequence number.
   */
  private async finishHandedOff(): Promise<never> {
    await this.reserveChain;
    const outcome = await this.uploader.finish({ endList: false });
    await this.recorder.release().catch(() => undefined);
    if (outcome.outcome !== 'failed') await rm(this.outputDir, { recursive: true, force: true });
    await this.o.record.setState('queued', { reason: 'handoff' });
    await this.report('handoff', { segments: this.segments, durationSeconds: round3(this.recordedSeconds) });
    await this.reportChain;
    await this.o.job.moveToWait(this.o.token);
    throw new WaitingError();
  }

  /** The recording ended here: deliver the rest and the final playlist, then record the outcome. */
  private async finishDelivered(last: FinalEvent): Promise<RecordingResult> {
    const { spec } = this.o;
    if (last.type === 'stopped') await this.o.record.setState('stopping', { reason: last.reason });
    await this.reserveChain;
    const outcome = await this.uploader.finish();
    await this.recorder.release().catch(() => undefined);
    await this.reportChain;
    if (outcome.outcome !== 'failed') await rm(this.outputDir, { recursive: true, force: true });

    if (last.type === 'stopped' && last.reason === 'idle_timeout' && !this.joined && this.segments === 0) {
      // Never reached the channel at all: the job's own mistake or an outage, not an empty channel.
      return this.fail(
        'SOURCE_UNREACHABLE',
        `could not reach ${redactUrl(this.o.sourceUrl)} within ${spec.recordingConfig.maxIdleSeconds} s`,
      );
    }
    if (last.type === 'fatal_error') return this.fail(last.code, redactText(last.message));
    if (outcome.outcome === 'failed') {
      const detail = outcome.error ? ` (${outcome.error.message})` : '';
      return this.fail(
        outcome.error?.code ?? 'STORAGE_WRITE_FAILED',
        `segments not delivered: ${outcome.missing.join(', ')}${detail}`,
      );
    }
    const result = this.result(outcome.outcome, last.reason);
    await this.recordOutcome(result, outcome);
    await this.o.job.updateProgress(this.progressSnapshot());
    return result;
  }

  /** Ends the recording `failed` with a stable code: on the record, as a `fatal_error`, and on the job. */
  private async fail(code: RecfleetErrorCode, message: string): Promise<never> {
    await this.o.record.setState('failed', { errorCode: code, errorMessage: message });
    await this.report('fatal_error', { code, message });
    throw new RecordingFailedError(code, message);
  }

  private result(outcome: RecordingResult['outcome'], stopReason: StoppedEvent['reason']): RecordingResult {
    const { spec } = this.o;
    return {
      recordingId: spec.recordingId,
      channel: spec.channel,
      outcome,
      stopReason,
      storageProfile: spec.storage.profile,
      playlistKey: this.keys.playlistKey,
      playlistLocation: this.o.store.locate(this.keys.playlistKey),
      segments: this.segments,
      durationSeconds: round3(this.recordedSeconds),
      bytes: this.bytes,
    };
  }

  private async recordOutcome(result: RecordingResult, outcome: UploadOutcome): Promise<void> {
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
      await this.o.record.setState('backed_up', { ...summary, backedUp: outcome.backedUp.join(',') });
      await this.report('backed_up', {
        ...result,
        backedUp: outcome.backedUp,
        playlistWritten: outcome.playlistWritten,
      });
    } else {
      await this.o.record.setState('uploaded', summary);
      await this.report('uploaded', { ...result });
    }
  }

  private wireEvents(): void {
    const r = this.recorder;
    r.on('joined', () => {
      this.joined = true;
      void this.report('joined', {});
    });
    r.on('started', (e) => {
      void this.o.record.setState('recording', { startedAt: e.at });
      void this.report('started', { streams: e.streams });
    });
    r.on('segment', (e) => this.onSegment(e));
    r.on(
      'recorder_failure',
      (e) =>
        void this.report('recorder_failure', {
          code: e.code,
          message: redactText(e.message),
          counts: e.counts,
        }),
    );
    r.on(
      'stopped',
      (e) =>
        void this.report('stopped', {
          reason: e.reason,
          segments: e.segments,
          durationSeconds: e.durationSeconds,
        }),
    );
    this.uploader.on('uploaded', (e) => {
      this.o.metrics?.segmentsUploaded.inc();
      this.o.metrics?.uploadLatency.observe(e.latencyMs / 1000);
      void this.report('uploaded_segment', e);
    });
    this.uploader.on('uploader_failure', (e) => {
      this.o.metrics?.uploadFailures.inc({ code: e.code });
      void this.report('uploader_failure', e);
    });
    this.uploader.on('backed_up', (e) => {
      this.o.metrics?.segmentsBackedUp.inc();
      void this.report('backed_up_segment', e);
    });
  }

  private onSegment(e: SegmentEvent): void {
    const reservation = {
      sequence: e.sequence,
      durationSeconds: e.durationSeconds,
      bytes: e.bytes,
      discontinuity: e.discontinuity,
      // Kept with the reservation, so that spool recovery dates the segment in the playlist too.
      programDateTime: e.programDateTimeMs,
      at: Date.now(),
    };
    const spooled = {
      sequence: e.sequence,
      filePath: e.path,
      durationSeconds: e.durationSeconds,
      bytes: e.bytes,
      discontinuity: e.discontinuity,
      programDateTime: e.programDateTimeMs,
    };
    // Nothing is put into storage before it is reserved under this worker's epoch: a worker that lost
    // the recording cannot overwrite its successor's objects.
    this.reserveChain = this.reserveChain.then(() =>
      this.index.reserve(reservation).then(
        () => this.uploader.add(spooled),
        (err: unknown) => {
          if (err instanceof FencedError) this.fence(err.message);
          else {
            this.o.log.warn({ err, sequence: e.sequence }, 'segment not reserved; delivering anyway');
            this.uploader.add(spooled);
          }
        },
      ),
    );
    this.o.metrics?.segmentsWritten.inc();
    this.segments += 1;
    this.bytes += e.bytes;
    this.recordedSeconds += e.durationSeconds;
    void this.report('segment', {
      sequence: e.sequence,
      durationSeconds: e.durationSeconds,
      bytes: e.bytes,
      discontinuity: e.discontinuity,
    });
  }

  private progressSnapshot(): Record<string, number> {
    const up = this.uploader.progress();
    // The whole recording's figures, earlier owners' segments included, so a resumed recording does
    // not restart its percentage at zero.
    const bytesUploaded = this.bytesUploadedBefore + up.bytesUploaded;
    return {
      durationSeconds: round3(this.recordedSeconds),
      segments: this.segments,
      bytes: this.bytes,
      segmentsUploaded: up.segmentsUploaded,
      bytesUploaded,
      uploadPercent: uploadPercent(bytesUploaded, this.bytes),
    };
  }

  private reportProgress(): void {
    const snapshot = this.progressSnapshot();
    void this.o.job
      .updateProgress(snapshot)
      .catch((err: unknown) => this.o.log.warn({ err }, 'progress not saved'));
    void this.report('progress', snapshot);
  }

  /** Finalizes the recording (a shutdown with no other worker to take it over). */
  async stop(): Promise<void> {
    if (this.recorder.state === 'running') await this.recorder.stop().catch(() => undefined);
  }

  /**
   * Ends the recording here at a segment boundary and hands the job back to the queue, so another
   * worker resumes it (rolling restarts lose no finished segment).
   */
  async handOff(): Promise<void> {
    if (this.recorder.state !== 'running') return;
    this.handingOff = true;
    await this.recorder.stop().catch(() => undefined);
  }

  /**
   * Stops writing at once because this worker may no longer own the recording (its lock was not
   * renewed: Redis unreachable or the host partitioned). Whatever it recorded but did not reserve is
   * abandoned; another worker resumes the recording.
   */
  fence(reason: string): void {
    if (
      this.fencedReason !== undefined ||
      this.recorder.state === 'ended' ||
      this.recorder.state === 'released'
    )
      return;
    this.fencedReason = reason;
    this.o.metrics?.recordingsFenced.inc();
    this.o.log.warn({ reason }, 'fenced: this worker stops writing the recording');
    void this.recorder.release({ cancel: true }).catch(() => undefined);
  }

  private async pollControl(): Promise<void> {
    try {
      const request = await this.o.record.controlRequest();
      if (!request || this.recorder.state !== 'running') return;
      this.o.log.info({ request }, 'control request');
      if (request === 'cancel') await this.recorder.release({ cancel: true });
      else await this.recorder.stop();
    } catch (err) {
      this.o.log.warn({ err }, 'control poll failed');
    }
  }

  /** Appends an event to the record's stream and the job's log, in order; never throws. */
  private report(type: RecordingEventType, data: Record<string, unknown>): Promise<void> {
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

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The session stopped because another worker owns the recording now; its job must not be touched. */
export class SessionFencedError extends RecfleetError {
  declare readonly code: 'FENCED';

  constructor(reason: string) {
    super('FENCED', reason);
    this.name = 'SessionFencedError';
  }
}
