import { hostname } from 'node:os';
import {
  backedUpSetKey,
  InvalidRecordingJobError,
  maxUsersOf,
  openRedis,
  parseRecordingJob,
  RecfleetErrorCode,
  RECORD_JOB_NAME,
  recordingKind,
  type RecordingJob,
  type RecordingResult,
  storageProfilesKey,
} from '@recfleet/contract';
import { Recorder } from '@recfleet/engine-binding';
import { UploadSlots, type BackupPolicy } from '@recfleet/storage';
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AdmissionControl } from './admission-control.js';
import { BackupDrainWorker } from './backup-drain-worker.js';
import { startHealthServer } from './health-server.js';
import { WorkerMetrics } from './worker-metrics.js';
import { ChannelRecordingSession } from './channel-session/channel-recording-session.js';
import { directoryFromConfig, type ChannelDirectory } from './channel-session/channel-directory.js';
import type { WorkerConfig } from './config.js';
import { asRecordingFailure, RecordingFailedError } from './recording-failure.js';
import { RecordingRecord } from './recording-record.js';
import { RecordingSession } from './recording-session.js';
import type { RecorderFactory } from './recording-track.js';
import { SessionFencedError, type SessionLifecycle } from './session-lifecycle.js';
import { recoverSpool } from './spool-recovery.js';
import { StorageRegistry } from './storage-registry.js';

/** What a worker makes its recorders and its channel directory with (tests script them). */
export interface WorkerFactories {
  /** Default: the engine's `new Recorder()`. */
  createRecorder?: RecorderFactory;
  /** Default: the directory the config's `channelDirectory` names, opened at the first channel job. */
  createDirectory?: (config: WorkerConfig) => ChannelDirectory;
}

/** The streams a job reserves on a host: one, or the users a channel recording may record at once. */
export function streamsOf(spec: RecordingJob): number {
  return recordingKind(spec) === 'channel' ? maxUsersOf(spec.recordingConfig) : 1;
}

/**
 * The BullMQ worker of one host: takes recording jobs from the queue and runs each as a RecordingSession
 * (one stream) or a ChannelRecordingSession (the users of a channel).
 * A job it cannot run fails with a stable code; nothing a job contains can crash the process.
 *
 * Long jobs and crashes: a recording job holds its lock for hours, renewed every `lockSeconds / 2`.
 * When a worker dies, its locks expire after `lockSeconds` and the next stalled-job check (every
 * `stalledCheckSeconds`) puts the job back in the queue, where another worker resumes the recording.
 * `maxStalledCount` is set high because for a recording a stall means "resume", never "give up".
 * A worker that cannot renew a lock (Redis unreachable, host partitioned) stops writing that
 * recording before the lock can expire (fencing), so there is never a second writer.
 */
export class RecordingWorker {
  private readonly worker: Worker;
  private readonly queue: Queue;
  private readonly redis: Redis;
  private closing: Promise<void> | undefined;
  private readonly sessions = new Map<string, SessionLifecycle>();
  private readonly createRecorder: RecorderFactory;
  private directory: ChannelDirectory | undefined;
  private readonly renewedAt = new Map<string, number>();
  private readonly storage: StorageRegistry;
  private readonly uploadSlots: UploadSlots;
  private readonly drain: BackupDrainWorker;
  private readonly watchdog: NodeJS.Timeout;
  private readonly admissionTimer: NodeJS.Timeout;
  readonly admission: AdmissionControl;
  readonly metrics: WorkerMetrics;
  private health: { port: number; close(): Promise<void> } | undefined;
  private running = false;
  readonly identity = `${process.env.HOSTNAME ?? hostname()}:${process.pid}`;

  constructor(
    private readonly config: WorkerConfig,
    private readonly log: Logger,
    private readonly factories: WorkerFactories = {},
  ) {
    this.createRecorder = factories.createRecorder ?? (() => new Recorder());
    const onOutage = (err: Error): void =>
      this.log.warn({ err: err.message }, 'Redis connection lost; reconnecting');
    this.redis = openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage);
    this.storage = new StorageRegistry(config.storageProfiles);
    this.uploadSlots = new UploadSlots(config.uploadConcurrency);
    this.drain = new BackupDrainWorker(config, this.storage, log);
    this.admission = new AdmissionControl(config.admission, config.maxRecordings);
    this.queue = new Queue(config.queueName, {
      connection: openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage),
      prefix: config.keyPrefix,
    });
    // The queue repeats each of its connection's errors; the connection has reported the outage once.
    this.queue.on('error', () => undefined);
    this.worker = new Worker(config.queueName, (job, token) => this.process(job, token), {
      // Workers must keep retrying Redis forever: a recording outlives short Redis outages.
      connection: openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage),
      prefix: config.keyPrefix,
      concurrency: this.admission.concurrency(),
      name: this.identity,
      lockDuration: config.lockSeconds * 1000,
      stalledInterval: config.stalledCheckSeconds * 1000,
      maxStalledCount: 1_000_000,
      autorun: false,
    });
    this.worker.on('failed', (job, err) => {
      if (!(err instanceof WaitingError)) this.log.warn({ jobId: job?.id, err: err.message }, 'job failed');
    });
    this.worker.on('error', (err) => this.log.warn({ err: err.message }, 'worker error'));
    this.worker.on('locksRenewed', ({ jobIds }) => {
      const now = Date.now();
      for (const id of jobIds) this.renewedAt.set(id, now);
    });
    this.worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) this.sessions.get(id)?.fence('the job lock was taken by another worker');
    });
    this.watchdog = setInterval(() => this.checkLocks(), 250);
    this.watchdog.unref();
    this.admissionTimer = setInterval(() => {
      this.admission.sample();
      this.applyConcurrency();
    }, 1000);
    this.admissionTimer.unref();
    this.metrics = new WorkerMetrics({
      activeRecordings: () => this.sessions.size,
      reservedStreams: () => this.admission.streams,
      capacity: () => this.admission.capacity,
      saturated: () => this.admission.snapshot().saturated,
      queueDepth: async () => {
        const c = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized');
        return (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
      },
    });
  }

  /** The port of /metrics, /healthz and /readyz, once started (undefined without `httpPort`). */
  get httpPort(): number | undefined {
    return this.health?.port;
  }

  /** Recovers this host's spool, then starts taking jobs. */
  async start(): Promise<void> {
    await this.worker.waitUntilReady();
    // Producers refuse jobs naming a profile no worker of the fleet knows.
    await this.redis.sadd(
      storageProfilesKey(this.config.keyPrefix),
      ...Object.keys(this.config.storageProfiles),
    );
    await recoverSpool({
      spoolDir: this.config.spoolDir,
      keyPrefix: this.config.keyPrefix,
      redis: this.redis,
      storage: this.storage,
      backup: this.backupFor()?.policy,
      log: this.log,
    }).catch((err: unknown) =>
      this.log.error({ err }, 'spool recovery failed; files kept for the next start'),
    );
    await this.drain.start();
    if (this.config.httpPort !== undefined) {
      this.health = await startHealthServer({
        port: this.config.httpPort,
        host: this.config.httpHost,
        metrics: this.metrics,
        ready: () => ({
          ready: this.running && this.closing === undefined && this.worker.isRunning(),
          detail: { ...this.admission.snapshot(), recordings: this.sessions.size },
        }),
      });
    }
    this.running = true;
    void this.worker.run();
  }

  /**
   * Fencing: a lock renewed at time t is held by Redis until at most t + lockDuration. Stop writing
   * once three quarters of that has passed without a renewal, so the old writer has stopped before the
   * lock can expire and another worker can resume the recording.
   */
  private checkLocks(): void {
    const limit = this.config.lockSeconds * 1000 * 0.75;
    const now = Date.now();
    for (const [jobId, session] of this.sessions) {
      const last = this.renewedAt.get(jobId) ?? session.startedAt;
      if (now - last > limit) session.fence(`job lock not renewed for ${now - last} ms`);
    }
  }

  private applyConcurrency(): void {
    const concurrency = this.admission.concurrency();
    if (this.worker.concurrency !== concurrency) this.worker.concurrency = concurrency;
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

  private async process(job: Job, token: string | undefined): Promise<RecordingResult> {
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
    const jobId = String(job.id);
    // Admission by streams: a job that does not fit goes back to the queue for another host, untouched.
    const streams = streamsOf(spec);
    if (!this.admission.admit(jobId, streams)) {
      log.info({ streams, reserved: this.admission.streams }, 'job does not fit this host; put back');
      this.applyConcurrency();
      await job.moveToWait(token);
      throw new WaitingError();
    }
    this.applyConcurrency();
    const record = new RecordingRecord(this.redis, this.config.keyPrefix, spec.recordingId);
    const recLog = log.child({ recordingId: spec.recordingId, channel: spec.channel });
    try {
      const session = this.session(job, token, spec, record, recLog);
      this.sessions.set(jobId, session);
      this.renewedAt.set(jobId, Date.now());
      const result = await session.run().finally(() => {
        this.sessions.delete(jobId);
        this.renewedAt.delete(jobId);
      });
      recLog.info({ segments: result.segments, durationSeconds: result.durationSeconds }, 'recording done');
      return result;
    } catch (err) {
      // Handed back to the queue, or owned by another worker now: the job and record are not ours.
      if (err instanceof WaitingError || err instanceof SessionFencedError) throw err;
      const failure = asRecordingFailure(err);
      recLog.warn({ code: failure.code, message: failure.detail }, 'recording failed');
      await record
        .setState('failed', { errorCode: failure.code, errorMessage: failure.detail })
        .catch(() => undefined);
      throw failure;
    } finally {
      this.admission.release(jobId);
      this.applyConcurrency();
    }
  }

  /** The session of a job: its one stream, or the users of its channel. */
  private session(
    job: Job,
    token: string | undefined,
    spec: RecordingJob,
    record: RecordingRecord,
    log: Logger,
  ): SessionLifecycle {
    // A profile this host lacks fails with STORAGE_PROFILE_UNKNOWN, one whose secret cannot be read
    // with STORAGE_CONFIG_INVALID: each keeps its own code.
    const store = this.storage.get(spec.storage.profile);
    const backup = this.backupFor();
    const options = {
      job,
      token,
      spec,
      createRecorder: this.createRecorder,
      store,
      record,
      redis: this.redis,
      owner: this.identity,
      metrics: this.metrics,
      uploadSlots: this.uploadSlots,
      uploadAttemptTimeoutMs: this.config.uploadAttemptTimeoutSeconds * 1000,
      backedUpSetKey: backedUpSetKey(this.config.keyPrefix),
      ...(backup ? { backup } : {}),
      spoolDir: this.config.spoolDir,
      progressIntervalMs: this.config.progressIntervalSeconds * 1000,
      controlPollMs: 250,
      log,
    };
    if (spec.sourceUrl !== undefined) return new RecordingSession({ ...options, sourceUrl: spec.sourceUrl });
    // One directory per host, opened at the first channel recording: a host that records only single
    // streams needs no channel server.
    this.directory ??= this.factories.createDirectory
      ? this.factories.createDirectory(this.config)
      : directoryFromConfig(this.config, this.log.child({ component: 'channel-directory' }));
    return new ChannelRecordingSession({ ...options, directory: this.directory });
  }

  /** Whether another worker is connected to the queue to take over recordings. */
  private async anotherWorkerPresent(): Promise<boolean> {
    const workers = (await this.queue.getWorkers().catch(() => [])) as { rawname?: string }[];
    // BullMQ names a worker's connection `<prefix>:<queue>:w:<worker name>`.
    return workers.some((w) => typeof w.rawname === 'string' && !w.rawname.endsWith(`:w:${this.identity}`));
  }

  /**
   * Graceful shutdown: stop taking jobs; hand each running recording to another worker at a segment
   * boundary; if no other worker appears within `shutdownGraceSeconds`, keep recording until then and
   * finalize. Safe to call twice; runs every step even when one fails.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.watchdog);
      clearInterval(this.admissionTimer);
      const workerClosed = this.worker
        .close()
        .catch((err: unknown) => this.log.warn({ err }, 'worker close failed'));
      const deadline = Date.now() + this.config.shutdownGraceSeconds * 1000;
      const steps = [
        async () => {
          while (this.sessions.size > 0) {
            if (await this.anotherWorkerPresent()) {
              this.log.info({ recordings: this.sessions.size }, 'handing recordings over to other workers');
              await Promise.all([...this.sessions.values()].map((s) => s.handOff()));
              return;
            }
            if (Date.now() >= deadline) {
              this.log.info({ recordings: this.sessions.size }, 'no other worker: finalizing recordings');
              await Promise.all([...this.sessions.values()].map((s) => s.stop()));
              return;
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        },
        () => workerClosed,
        () => this.drain.close(),
        () => this.queue.close(),
        () => this.health?.close() ?? Promise.resolve(),
        async () => this.metrics.close(),
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
