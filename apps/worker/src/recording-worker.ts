import { hostname } from 'node:os';
import {
  InvalidRecordingJobError,
  parseRecordingJob,
  RecfleetErrorCode,
  RECORD_JOB_NAME,
  type RecordingResult,
} from '@recfleet/contract';
import { backedUpSetKey } from '@recfleet/contract';
import { StorageError, UploadSlots, type BackupPolicy } from '@recfleet/storage';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { channelSourceUrl, type WorkerConfig } from './config.js';
import { asRecordingFailure, RecordingFailedError } from './recording-failure.js';
import { RecordingRecord } from './recording-record.js';
import { RecordingSession } from './recording-session.js';
import { BackupDrainWorker } from './backup-drain-worker.js';
import { StorageRegistry } from './storage-registry.js';

/**
 * The BullMQ worker of one host: takes recording jobs from the queue and runs each as a RecordingSession.
 * A job it cannot run fails with a stable code; nothing a job contains can crash the process.
 */
export class RecordingWorker {
  private readonly worker: Worker;
  private readonly redis: Redis;
  private closing: Promise<void> | undefined;
  private readonly sessions = new Set<RecordingSession>();
  private readonly storage: StorageRegistry;
  private readonly uploadSlots: UploadSlots;
  private readonly drain: BackupDrainWorker;

  constructor(
    private readonly config: WorkerConfig,
    private readonly log: Logger,
  ) {
    this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    this.storage = new StorageRegistry(config.storageProfiles);
    this.uploadSlots = new UploadSlots(config.uploadConcurrency);
    this.drain = new BackupDrainWorker(config, this.storage, log);
    this.worker = new Worker(config.queueName, (job) => this.process(job), {
      // Workers must keep retrying Redis forever: a recording outlives short Redis outages.
      connection: new Redis(config.redisUrl, { maxRetriesPerRequest: null }),
      prefix: config.keyPrefix,
      concurrency: config.maxRecordings,
      name: `${hostname()}:${process.pid}`,
    });
    this.worker.on('failed', (job, err) => this.log.warn({ jobId: job?.id, err: err.message }, 'job failed'));
    this.worker.on('error', (err) => this.log.error({ err }, 'worker error'));
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.drain.start();
  }

  private backupFor(): { policy: BackupPolicy; profile: string } | undefined {
    const b = this.config.backup;
    if (!b) return undefined;
    return {
      profile: b.profile,
      policy: {
        store: this.storage.get(b.profile),
        afterAttempts: b.afterAttempts,
        afterSeconds: b.afterSeconds,
      },
    };
  }

  private async process(job: Job): Promise<RecordingResult> {
    const log = this.log.child({ jobId: job.id });
    if (job.name !== RECORD_JOB_NAME) {
      throw new RecordingFailedError(
        RecfleetErrorCode.INVALID_JOB,
        `unknown job name "${job.name}" (expected "${RECORD_JOB_NAME}")`,
      );
    }
    let spec;
    try {
      spec = parseRecordingJob(job.data);
    } catch (err) {
      const message = err instanceof InvalidRecordingJobError ? err.message : String(err);
      throw new RecordingFailedError(RecfleetErrorCode.INVALID_JOB, message);
    }
    const record = new RecordingRecord(this.redis, this.config.keyPrefix, spec.recordingId);
    const recLog = log.child({ recordingId: spec.recordingId, channel: spec.channel });
    try {
      let store;
      try {
        store = this.storage.get(spec.storage.profile);
      } catch (err) {
        if (err instanceof StorageError)
          throw new RecordingFailedError(RecfleetErrorCode.STORAGE_PROFILE_UNKNOWN, err.message);
        throw err;
      }
      const session = new RecordingSession({
        job,
        spec,
        sourceUrl:
          spec.sourceUrl ?? channelSourceUrl(this.config.channelUrlTemplate, spec.appId, spec.channel),
        store,
        record,
        redis: this.redis,
        uploadSlots: this.uploadSlots,
        uploadAttemptTimeoutMs: this.config.uploadAttemptTimeoutSeconds * 1000,
        backedUpSetKey: backedUpSetKey(this.config.keyPrefix),
        ...(this.backupFor() ? { backup: this.backupFor() } : {}),
        spoolDir: this.config.spoolDir,
        progressIntervalMs: this.config.progressIntervalSeconds * 1000,
        controlPollMs: 250,
        log: recLog,
      });
      this.sessions.add(session);
      const result = await session.run().finally(() => this.sessions.delete(session));
      recLog.info(
        { segments: result.segments, durationSeconds: result.durationSeconds },
        'recording uploaded',
      );
      return result;
    } catch (err) {
      const failure = asRecordingFailure(err);
      recLog.warn({ code: failure.code, message: failure.detail }, 'recording failed');
      await record
        .setState('failed', { errorCode: failure.code, errorMessage: failure.detail })
        .catch(() => undefined);
      throw failure;
    }
  }

  /** Stops taking jobs and waits for running ones; safe to call twice, runs every step even if one fails. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Stop fetching first (close() resolves once running jobs end), then finalize what runs here so
      // no job is left active.
      const workerClosed = this.worker
        .close()
        .catch((err: unknown) => this.log.warn({ err }, 'worker close failed'));
      const steps = [
        () => Promise.all([...this.sessions].map((s) => s.stop())),
        () => workerClosed,
        () => this.drain.close(),
        () => this.redis.quit(),
      ];
      for (const step of steps) {
        try {
          await step();
        } catch (err) {
          this.log.warn({ err }, 'close step failed');
        }
      }
    })();
    return this.closing;
  }
}
