import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  backedUpSetKey,
  InvalidRecordingJobError,
  maxUsersOf,
  openRedis,
  redactUrl,
  parseRecordingJob,
  RecfleetErrorCode,
  RECORD_JOB_NAME,
  recordingKind,
  redundancyOf,
  standbyJobId,
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
import { ControlTicks } from './control-ticks.js';
import { FleetClock, OUTAGE_GAP_MS } from './fleet-clock.js';
import { FleetHosts } from './fleet-hosts.js';
import { asRecordingFailure, RecordingFailedError } from './recording-failure.js';
import { RecordingOwnership, type OwnershipRules } from './recording-ownership.js';
import { RecordingRecord, type ClaimOutcome, type RecordingFinish } from './recording-record.js';
import { RecordingSession, singleStreamRecorderOptions } from './recording-session.js';
import { StandbyRecording, type Standby, type StandbyHandover } from './standby-recording.js';
import { ChannelStandby, type ChannelStandbyHandover } from './channel-session/channel-standby.js';
import { RedisConnectionLog, RepeatedErrors } from './redis-connection-log.js';
import { recordedOutcome, RecordingTicket, type TicketEnd } from './recording-ticket.js';
import type { RecorderFactory } from './recording-track.js';
import {
  NotOwnerError,
  RecordingEndedError,
  SessionFencedError,
  type SessionLifecycle,
} from './session-lifecycle.js';
import { recoverSpool } from './spool-recovery.js';
import { StorageRegistry } from './storage-registry.js';

/** What a worker makes its recorders and its channel directory with (tests script them). */
export interface WorkerFactories {
  /** Default: the engine's `new Recorder()`. */
  createRecorder?: RecorderFactory;
  /** Default: the directory the config's `channelDirectory` names, opened at the first channel job. */
  createDirectory?: (config: WorkerConfig) => ChannelDirectory;
  /** Default: `$HOSTNAME` (or the host name) and `<host>:<pid>`; tests run several workers in one process. */
  identity?: { host: string; name: string };
  /** What set `redisUrl` (`RECFLEET_REDIS_URL`, `redisUrl in FILE`), named when Redis cannot be reached. */
  redisUrlOrigin?: string;
}

/** The streams a job reserves on a host: one, or the users a channel recording may record at once. */
export function streamsOf(spec: RecordingJob): number {
  return recordingKind(spec) === 'channel' ? maxUsersOf(spec.recordingConfig) : 1;
}

/**
 * How long a host takes no job after putting back one whose storage profile it lacks: long enough for a
 * host that has the profile (waiting for jobs) to take it, short enough to cost little — it is not a
 * refusal of room, and it does not grow.
 */
const PROFILE_PASS_MS = 1000;
/** How often every recording reads its stop/cancel request (and subscriptions): bounds stop latency. */
const CONTROL_POLL_MS = 250;

/** One run of a recording job on this worker: the job, what it asks, its record and its ownership. */
interface JobRun {
  job: Job;
  token: string | undefined;
  spec: RecordingJob;
  record: RecordingRecord;
  ownership: RecordingOwnership;
  log: Logger;
  /** This run holds the process's right to claim the recording (see claims). */
  claiming?: boolean;
}

/** A recording this process records, and the end of its session. */
interface LocalRecording {
  session: SessionLifecycle;
  done: Promise<void>;
}

/**
 * The BullMQ worker of one host: takes recording jobs from the queue and runs each as a RecordingSession
 * (one stream) or a ChannelRecordingSession (the users of a channel).
 * A job it cannot run fails with a stable code; nothing a job contains can crash the process.
 *
 * Ownership (see RecordingOwnership): the worker that claims a recording records it, heartbeating, and
 * stops only when Redis says another worker has claimed it — never merely because Redis is unreachable,
 * since then nobody can claim anything: it records on into its spool, and what needs Redis waits in
 * order. The BullMQ job is the recording's ticket: a job lock held for hours, renewed every
 * `lockSeconds / 2`. When a worker dies its locks expire after `lockSeconds`, the next stalled-job check
 * (every `stalledCheckSeconds`) puts the job back, and the worker that takes it finds the heartbeat stale
 * and resumes the recording. When a lock lapsed in an outage while its owner recorded on, the worker that
 * takes the job holds it as a ticket (RecordingTicket) and completes it with the owner's outcome.
 * `maxStalledCount` is set high because for a recording a stall means "resume", never "give up".
 */
export class RecordingWorker {
  private readonly worker: Worker;
  private readonly queue: Queue;
  private readonly redis: Redis;
  private readonly controlTicks: ControlTicks;
  private closing: Promise<void> | undefined;
  /** This process's recordings, by recording id. */
  private readonly local = new Map<string, LocalRecording>();
  /**
   * Recordings one of this process's runs is claiming or owns: one at a time per recording, so that a
   * job given again while its first run still holds it (its lock lapsed in an outage or a partition)
   * never claims beside it — two sessions of one recording would share its spool folder.
   */
  private readonly claims = new Set<string>();
  private readonly createRecorder: RecorderFactory;
  private directory: ChannelDirectory | undefined;
  private readonly storage: StorageRegistry;
  private readonly uploadSlots: UploadSlots;
  private readonly drain: BackupDrainWorker;
  private readonly admissionTimer: NodeJS.Timeout;
  private readonly clock: FleetClock;
  private readonly hosts: FleetHosts;
  private readonly rules: OwnershipRules;
  /** Jobs whose lock lapsed (told once each), and worker errors told recently (BullMQ repeats them). */
  private readonly lapsed = new Set<string>();
  /** Recordings this process stands by for (StandbyRecording). */
  private standbys = 0;
  /** Recordings told to have no host for a standby (told once each). */
  private readonly toldNoStandbyHost = new Set<string>();
  private readonly repeatedErrors = new RepeatedErrors();
  private readonly connectionLog: RedisConnectionLog;
  readonly admission: AdmissionControl;
  readonly metrics: WorkerMetrics;
  private health: { port: number; close(): Promise<void> } | undefined;
  private running = false;
  readonly identity: string;

  constructor(
    private readonly config: WorkerConfig,
    private readonly log: Logger,
    private readonly factories: WorkerFactories = {},
  ) {
    this.createRecorder = factories.createRecorder ?? (() => new Recorder());
    const host = factories.identity?.host ?? process.env.HOSTNAME ?? hostname();
    this.identity = factories.identity?.name ?? `${host}:${process.pid}`;
    const connectionLog = (this.connectionLog = new RedisConnectionLog(
      log,
      redactUrl(config.redisUrl),
      factories.redisUrlOrigin ?? 'redisUrl',
    ));
    const onOutage = connectionLog.onOutage;
    this.redis = openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage);
    this.redis.on('ready', connectionLog.onReady);
    // Outages are reported by the main connection; this one only waits them out.
    this.controlTicks = new ControlTicks(
      CONTROL_POLL_MS,
      openRedis(config.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true }),
    );
    this.storage = new StorageRegistry(config.storageProfiles);
    this.uploadSlots = new UploadSlots(config.uploadConcurrency);
    this.drain = new BackupDrainWorker(config, this.storage, log, { connectionLog });
    this.admission = new AdmissionControl(config.admission, config.maxRecordings);
    this.clock = new FleetClock(this.redis, config.keyPrefix, log.child({ component: 'fleet-clock' }));
    this.hosts = new FleetHosts(
      this.redis,
      config.keyPrefix,
      { identity: this.identity, host, profiles: Object.keys(config.storageProfiles) },
      this.clock,
      log,
    );
    this.rules = {
      identity: this.identity,
      host,
      takeoverAfterMs: config.takeoverAfterSeconds * 1000,
      graceAfterResumeMs: config.outageGraceSeconds * 1000,
      outageGapMs: OUTAGE_GAP_MS,
      heartbeatMs: config.heartbeatSeconds * 1000,
    };
    this.queue = new Queue(config.queueName, {
      connection: openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage),
      prefix: config.keyPrefix,
    });
    // The queue repeats each of its connection's errors; the connection has reported the outage once.
    this.queue.on('error', () => undefined);
    this.worker = new Worker(config.queueName, (job, token) => this.process(job, token), {
      // Workers must keep retrying Redis forever: a recording outlives Redis outages.
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
    this.worker.on('error', (err) => this.workerError(err));
    this.worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) {
        if (this.lapsed.has(id)) continue;
        this.lapsed.add(id);
        this.log.info(
          { jobId: id },
          'job lock lapsed (Redis was unreachable): its recording goes on; whoever holds the job next completes it',
        );
      }
    });
    this.admissionTimer = setInterval(() => {
      this.admission.sample();
      this.applyConcurrency();
    }, 1000);
    this.admissionTimer.unref();
    this.metrics = new WorkerMetrics({
      activeRecordings: () => this.local.size,
      standbyRecordings: () => this.standbys,
      reservedStreams: () => this.admission.streams,
      capacity: () => this.admission.capacity,
      saturated: () => this.admission.snapshot().saturated,
      queueDepth: async () => {
        const c = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized');
        return (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
      },
      redisReachable: () => this.clock.reachable,
    });
  }

  /** The port of /metrics, /healthz and /readyz, once started (undefined without `httpPort`). */
  get httpPort(): number | undefined {
    return this.health?.port;
  }

  /**
   * Serves /healthz (and /readyz, not ready yet) at once, waits for Redis as long as it takes, recovers
   * this host's spool, then starts taking jobs.
   */
  async start(): Promise<void> {
    if (this.config.httpPort !== undefined) {
      this.health = await startHealthServer({
        port: this.config.httpPort,
        host: this.config.httpHost,
        metrics: this.metrics,
        ready: () => ({
          ready:
            this.running && this.closing === undefined && this.worker.isRunning() && this.clock.reachable,
          detail: { ...this.admission.snapshot(), recordings: this.local.size, redis: this.clock.reachable },
        }),
      });
    }
    await this.worker.waitUntilReady();
    await this.clock.start();
    await this.hosts.start();
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
    this.running = true;
    void this.worker.run();
  }

  /** BullMQ repeats an error (a lapsed lock's renewal, a lost connection) every few seconds: told once a minute. */
  private workerError(err: Error): void {
    if (this.connectionLog.isDown || !this.repeatedErrors.shouldTell(err)) return;
    this.log.warn({ err: err.message }, 'worker error');
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
    const record = new RecordingRecord(this.redis, this.config.keyPrefix, spec.recordingId);
    // Before anything else, on every run: a job put back, retried or resumed after a crash finds its
    // record and leaves it as it is, so the API knows a bare job even while it waits for another host.
    await this.startRecord(record, spec, log);
    const profile = spec.storage.profile;
    // A host records only what it can: a job naming a storage profile it lacks goes to a host that has
    // it; when no live host has it, the job can run nowhere and fails (once this worker owns it).
    let unrunnable: { code: RecfleetErrorCode; message: string } | undefined;
    if (!Object.hasOwn(this.config.storageProfiles, profile)) {
      if (await this.hosts.anotherHas(profile)) {
        const context = { profile };
        return this.putBack(
          job,
          token,
          log,
          PROFILE_PASS_MS,
          context,
          'job needs a storage profile this host lacks; put back',
          true,
        );
      }
      unrunnable = {
        code: 'STORAGE_PROFILE_UNKNOWN',
        message: `no worker of the fleet has the storage profile "${profile}"`,
      };
    }
    const streams = unrunnable ? 0 : streamsOf(spec);
    const local = this.local.get(spec.recordingId);
    // Admission by streams: a job that does not fit goes back to the queue for another host, untouched.
    if (!local && !unrunnable && !this.admission.admit(jobId, streams)) {
      const context = { streams, reserved: this.admission.streams };
      const wait = this.admission.refusalWaitMs;
      return this.putBack(job, token, log, wait, context, 'job does not fit this host; put back');
    }
    // The other ticket of a recording this process owns (the lost owner's job, back from the queue):
    // a standby must be on another host, so it goes to one while one lives.
    if (local && redundancyOf(spec, this.config.redundancy) >= 2 && (await this.hosts.anotherHostLive())) {
      this.admission.release(jobId);
      const why = 'this process owns the recording; its other ticket goes to another host for a standby';
      return this.putBack(job, token, log, PROFILE_PASS_MS, {}, why, true);
    }
    this.applyConcurrency();
    const recLog = log.child({ recordingId: spec.recordingId, channel: spec.channel });
    const run: JobRun = {
      job,
      token,
      spec,
      record,
      log: recLog,
      ownership: new RecordingOwnership(record, this.rules, recLog),
    };
    try {
      const first = !local && this.takeClaim(run) ? await run.ownership.claim() : undefined;
      if (first !== undefined && first.type !== 'claimed') this.dropClaim(run);
      let standby: Handover | undefined;
      if (first?.type !== 'claimed') {
        this.admission.release(jobId);
        const end = await this.holdTicket(run, streams, first, unrunnable === undefined);
        if (end.type === 'result') return end.result;
        if (end.type === 'failed') throw end.failure;
        if (end.type === 'released') {
          await job.moveToWait(token).catch(() => undefined);
          throw new WaitingError();
        }
        standby = end.standby;
      }
      if (unrunnable) return await this.failOwned(run, unrunnable);
      return await this.recordOwned(run, standby);
    } finally {
      this.dropClaim(run);
      this.admission.release(jobId);
      this.applyConcurrency();
    }
  }

  /** Takes this process's right to claim the run's recording (false: another run of it has it). */
  private takeClaim(run: JobRun): boolean {
    const id = run.spec.recordingId;
    if (run.claiming) return true;
    if (this.claims.has(id)) return false;
    this.claims.add(id);
    run.claiming = true;
    return true;
  }

  private dropClaim(run: JobRun): void {
    if (!run.claiming) return;
    run.claiming = false;
    this.claims.delete(run.spec.recordingId);
  }

  /**
   * Gives a job added without a producer's start (a bare BullMQ `Queue.add`, from any language) what
   * the start would have written — its record, identity lock, list entry and webhook registration —
   * so that the API, the CLI and its callbackUrl know it like any other. A job whose identity (app,
   * channel, uid) another active recording holds is not recorded: producers start one recording per
   * identity, so it fails with RECORDING_ACTIVE, its record saying so (state `failed`, `fatal_error`).
   */
  private async startRecord(record: RecordingRecord, spec: RecordingJob, log: Logger): Promise<void> {
    const start = await record.start(spec);
    if (start.type === 'created')
      log.info({ recordingId: spec.recordingId }, 'job added without a start: recording started');
    if (start.type !== 'active') return;
    const message = `recording ${start.otherId} of app ${spec.appId}, channel "${spec.channel}", uid ${spec.uid} is active; this job was not recorded`;
    log.warn({ recordingId: spec.recordingId, activeRecordingId: start.otherId }, message);
    if (!(await record.refuseStart(spec, { code: 'RECORDING_ACTIVE', message, otherId: start.otherId }))) {
      // Started meanwhile by a producer (the same id): its record stands, and the job records it.
      return;
    }
    throw new RecordingFailedError('RECORDING_ACTIVE', message);
  }

  /**
   * Puts a job this host cannot run back in the queue, for a host that can. A job put back is first in
   * line, and BullMQ fetches the next job the moment this one ends: this host waits a moment first, its
   * slot held and (`pause`) taking no job meanwhile, so that another host takes it. The wait ends before
   * the job's first lock renewal would fall due (the lock is gone), and then this slot fetches again:
   * BullMQ looks at its concurrency only when a job ends, so the pause must end with one.
   */
  private async putBack(
    job: Job,
    token: string | undefined,
    log: Logger,
    waitMs: number,
    context: Record<string, unknown>,
    why: string,
    pause = false,
  ): Promise<never> {
    const renewsAt = (job.processedOn ?? Date.now()) + (this.config.lockSeconds * 1000) / 4;
    const linger = Math.max(0, Math.min(waitMs, renewsAt - Date.now() - 100));
    if (pause) this.admission.pause(linger);
    log.info({ ...context, waitMs: linger }, why);
    this.applyConcurrency();
    await job.moveToWait(token);
    await sleep(linger);
    this.applyConcurrency();
    throw new WaitingError();
  }

  /**
   * Holds the job while another worker (or this process, before the lock lapsed) owns the recording;
   * see RecordingTicket. Ends with the recording's outcome, this worker's claim (admitted), or released.
   */
  private async holdTicket(
    run: JobRun,
    streams: number,
    first: Exclude<ClaimOutcome, { type: 'claimed' }> | undefined,
    runnable: boolean,
  ): Promise<TicketEnd & { standby?: Handover }> {
    const jobId = String(run.job.id);
    this.admission.holdTicket(jobId);
    this.applyConcurrency();
    let standby: Standby<Handover> | undefined;
    let counted = false;
    try {
      const ownerAlive = first?.type === 'owner_alive' || first?.type === 'grace';
      if (ownerAlive && runnable && this.takeClaim(run)) {
        // The standby's process claims through it: the claim of another ticket of the recording here
        // (a job handed back by a SIGTERM) would come from the standby's identity, which the
        // standby-first rule lets through, and start its users afresh beside the standby's recorders.
        standby = await this.standBy(run, streams);
        if (!standby) this.dropClaim(run);
      }
      counted = standby !== undefined;
      if (counted) this.standbys += 1;
      const end = await new RecordingTicket({
        record: run.record,
        ownership: run.ownership,
        pollMs: this.rules.heartbeatMs,
        localEnd: () => this.local.get(run.record.recordingId)?.done,
        // A standby holds its room already: it records.
        reserve: () => (standby?.active ? true : this.admission.tryReserve(jobId, streams)),
        unreserve: () => (standby?.active ? undefined : this.admission.release(jobId)),
        takeClaim: () => this.takeClaim(run),
        // A standby keeps the right while it stands by: it, not another ticket here, claims.
        dropClaim: () => (standby?.active ? undefined : this.dropClaim(run)),
        closing: () => this.closing !== undefined,
        log: run.log,
      }).hold(first);
      if (end.type === 'claimed' && standby?.active && standby.recording) {
        const handover = standby.handOver();
        standby = undefined;
        return { ...end, standby: handover };
      }
      return end;
    } finally {
      if (counted) this.standbys -= 1;
      await standby?.close();
      this.admission.releaseTicket(jobId);
    }
  }

  /**
   * Makes this worker the standby of a recording with redundancy 2 whose owner records elsewhere
   * (takeStandby-1.lua), and starts its recorder (a channel's: one per user the owner records). A standby job that reached the owner's host goes back
   * for another host while one lives; with none the recording has one worker (logged). Undefined when
   * this worker holds the job as a plain ticket.
   */
  private async standBy(run: JobRun, streams: number): Promise<Standby<Handover> | undefined> {
    const { job, token, spec, record, log } = run;
    if (redundancyOf(spec, this.config.redundancy) < 2) return undefined;
    const outcome = await record.takeStandby(this.rules);
    if (outcome.type === 'same_host') {
      if (await this.hosts.anotherHostLive()) {
        const context = { ownerHost: outcome.ownerHost };
        const why = "a standby must not share the owner's host; put back for another host";
        return this.putBack(job, token, log, PROFILE_PASS_MS, context, why, true);
      }
      if (!this.toldNoStandbyHost.has(spec.recordingId)) {
        this.toldNoStandbyHost.add(spec.recordingId);
        log.warn('redundancy 2, but no live worker on another host: one worker records it (no standby)');
      }
      return undefined;
    }
    if (outcome.type !== 'standby') return undefined;
    const jobId = String(job.id);
    if (!this.admission.tryReserve(jobId, streams)) {
      log.info('no room for a standby here: holding the job as a ticket');
      return undefined;
    }
    const common = {
      record,
      identity: this.identity,
      recordingDir: join(this.config.spoolDir, spec.recordingId),
      windowSeconds: this.config.standbyWindowSeconds,
      heartbeatMs: this.rules.heartbeatMs,
      log,
    };
    const gapSeconds = spec.recordingConfig.gapSeconds ?? this.config.gapSeconds;
    const standby =
      spec.sourceUrl === undefined
        ? new ChannelStandby({
            ...common,
            spec,
            directory: this.channelDirectory(),
            createRecorder: this.createRecorder,
            gapSeconds,
          })
        : new StandbyRecording({
            ...common,
            recorder: this.createRecorder(),
            recorderOptions: singleStreamRecorderOptions(
              spec,
              spec.sourceUrl,
              gapSeconds,
              spec.recordingConfig.maxDurationSeconds === undefined
                ? 0
                : await recordedSeconds(this.redis, record),
            ),
          });
    try {
      await standby.start();
    } catch (err) {
      log.warn({ err }, 'standby not started');
      await standby.close();
      this.admission.release(jobId);
      return undefined;
    }
    return standby;
  }

  /**
   * A recording with redundancy 2 has two tickets: its own job and its standby job (standbyJobId). The
   * owner adds the other one if it is not there (BullMQ ignores an add whose id exists), so a producer
   * that adds one job gets the standby too, and a standby promoted to owner gets a new standby from the
   * lost owner's job once it stalls back into the queue.
   */
  private async ensureOtherTicket(run: JobRun): Promise<void> {
    const { job, spec, log } = run;
    if (redundancyOf(spec, this.config.redundancy) < 2) return;
    const standbyId = standbyJobId(spec.recordingId);
    const other = String(job.id) === standbyId ? spec.recordingId : standbyId;
    const { attempts, removeOnComplete, removeOnFail } = job.opts;
    try {
      await this.queue.add(RECORD_JOB_NAME, job.data, {
        jobId: other,
        ...(attempts !== undefined ? { attempts } : {}),
        ...(removeOnComplete !== undefined ? { removeOnComplete } : {}),
        ...(removeOnFail !== undefined ? { removeOnFail } : {}),
      });
    } catch (err) {
      log.warn({ err, jobId: other }, 'standby ticket not added: the recording has no standby for now');
    }
  }

  /** This worker owns the recording: it records it, and completes the job with its outcome. */
  private async recordOwned(run: JobRun, standby?: Handover): Promise<RecordingResult> {
    let session: SessionLifecycle;
    try {
      session = this.session(run, standby);
    } catch (err) {
      // A profile whose secret cannot be read fails with STORAGE_CONFIG_INVALID, keeping its own code.
      const failure = asRecordingFailure(err);
      return this.failOwned(run, { code: failure.code, message: failure.detail });
    }
    const { job, token, spec, record, ownership, log } = run;
    void this.ensureOtherTicket(run);
    const recording = session.run();
    const done = recording.then(
      () => undefined,
      () => undefined,
    );
    this.local.set(spec.recordingId, { session, done });
    try {
      const result = await recording;
      log.info({ segments: result.segments, durationSeconds: result.durationSeconds }, 'recording done');
      return await this.completeHere(run, result);
    } catch (err) {
      // Handed back to the queue: the next worker to take the job claims the recording.
      if (err instanceof WaitingError) throw err;
      // Owned by another worker now: the job is that worker's ticket (or is given back for one).
      if (err instanceof SessionFencedError || err instanceof NotOwnerError) {
        if (await this.lockHeld(job, token)) await job.moveToWait(token).catch(() => undefined);
        throw new WaitingError();
      }
      // Another outcome was written first (e.g. cancelled while its job waited): the job ends with it.
      if (err instanceof RecordingEndedError) {
        const end = await recordedOutcome(record);
        if (end.type === 'result') return this.completeHere(run, end.result);
        throw await this.failHere(run, end.failure);
      }
      const failure = asRecordingFailure(err);
      log.warn({ code: failure.code, message: failure.detail }, 'recording failed');
      if (!(err instanceof RecordingFailedError)) {
        // Not the session's own ending (Redis answering an error, a bug): the recording ends here with it.
        await record.finish(ownership.epoch, failedEnd(failure)).catch(() => undefined);
      }
      throw await this.failHere(run, failure);
    } finally {
      this.local.delete(spec.recordingId);
    }
  }

  /** Ends a recording this worker owns but cannot run as failed, with its code, once. */
  private async failOwned(
    run: JobRun,
    problem: { code: RecfleetErrorCode; message: string },
  ): Promise<never> {
    const failure = new RecordingFailedError(problem.code, problem.message);
    run.log.warn({ code: failure.code, message: failure.detail }, 'recording failed');
    if ((await run.record.finish(run.ownership.epoch, failedEnd(failure))) === 'after_terminal') {
      const end = await recordedOutcome(run.record);
      if (end.type === 'failed') throw await this.failHere(run, end.failure);
    }
    throw await this.failHere(run, failure);
  }

  /**
   * The job completes with the recording's result here — unless its lock lapsed meanwhile (an outage):
   * then the job was given to another worker, which holds it as a ticket and completes it from the
   * record. That is expected, not an error: WaitingError leaves the job alone.
   */
  private async completeHere(run: JobRun, result: RecordingResult): Promise<RecordingResult> {
    if (await this.lockHeld(run.job, run.token)) return result;
    run.log.info('the job lock lapsed meanwhile: the worker holding the job completes it from the record');
    throw new WaitingError();
  }

  /** The error to fail the job with here (or WaitingError when the job is held elsewhere now). */
  private async failHere(run: JobRun, failure: RecordingFailedError): Promise<Error> {
    return (await this.lockHeld(run.job, run.token)) ? failure : new WaitingError();
  }

  /** Whether this worker still holds the job's lock (checked by extending it). */
  private async lockHeld(job: Job, token: string | undefined): Promise<boolean> {
    if (token === undefined) return false;
    const held = await job.extendLock(token, this.config.lockSeconds * 1000).catch(() => 0);
    return Number(held) === 1;
  }

  /** The session of a job: its one stream, or the users of its channel. */
  private session(
    { job, token, spec, record, ownership, log }: JobRun,
    standby?: Handover,
  ): SessionLifecycle {
    // A profile whose secret cannot be read throws STORAGE_CONFIG_INVALID, with its own code.
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
      ownership,
      metrics: this.metrics,
      uploadSlots: this.uploadSlots,
      uploadAttemptTimeoutMs: this.config.uploadAttemptTimeoutSeconds * 1000,
      backedUpSetKey: backedUpSetKey(this.config.keyPrefix),
      ...(backup ? { backup } : {}),
      spoolDir: this.config.spoolDir,
      progressIntervalMs: this.config.progressIntervalSeconds * 1000,
      gapSeconds: this.config.gapSeconds,
      controlPollMs: CONTROL_POLL_MS,
      controlTicks: this.controlTicks,
      log,
    };
    // Owner and standby cut at the same source instants, so either can continue the other.
    const alignToSource = redundancyOf(spec, this.config.redundancy) >= 2;
    if (spec.sourceUrl !== undefined) {
      return new RecordingSession({
        ...options,
        sourceUrl: spec.sourceUrl,
        alignToSource,
        ...(standby && !(standby instanceof Map) ? { standby } : {}),
      });
    }
    return new ChannelRecordingSession({
      ...options,
      directory: this.channelDirectory(),
      alignToSource,
      ...(standby instanceof Map ? { standby } : {}),
    });
  }

  /**
   * The host's channel directory, opened at its first channel recording (or standby): a host that
   * records only single streams needs no channel server.
   */
  private channelDirectory(): ChannelDirectory {
    this.directory ??= this.factories.createDirectory
      ? this.factories.createDirectory(this.config)
      : directoryFromConfig(this.config, this.log.child({ component: 'channel-directory' }));
    return this.directory;
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
      clearInterval(this.admissionTimer);
      const workerClosed = this.worker
        .close()
        .catch((err: unknown) => this.log.warn({ err }, 'worker close failed'));
      const deadline = Date.now() + this.config.shutdownGraceSeconds * 1000;
      const steps = [
        async () => {
          while (this.local.size > 0) {
            const sessions = [...this.local.values()].map((l) => l.session);
            if (await this.anotherWorkerPresent()) {
              this.log.info({ recordings: sessions.length }, 'handing recordings over to other workers');
              await Promise.all(sessions.map((s) => s.handOff()));
              return;
            }
            if (Date.now() >= deadline) {
              this.log.info({ recordings: sessions.length }, 'no other worker: finalizing recordings');
              await Promise.all(sessions.map((s) => s.stop()));
              return;
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        },
        () => workerClosed,
        () => this.hosts.stop(),
        async () => this.clock.stop(),
        () => this.drain.close(),
        () => this.queue.close(),
        () => this.health?.close() ?? Promise.resolve(),
        async () => this.metrics.close(),
        () => this.controlTicks.redis!.quit(),
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

/** What a standby gives the session of the recording it claimed: a single stream's recorder, or a channel's by track. */
type Handover = StandbyHandover | ChannelStandbyHandover;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function failedEnd(failure: RecordingFailedError): RecordingFinish {
  return {
    state: 'failed',
    fields: { errorCode: failure.code, errorMessage: failure.detail },
    event: { type: 'fatal_error', data: { code: failure.code, message: failure.detail }, at: Date.now() },
  };
}

/** Seconds of media the recording's index holds (what a standby's recorder need not record again). */
async function recordedSeconds(redis: Redis, record: RecordingRecord): Promise<number> {
  const entries = await redis.hvals(record.keys.segments).catch(() => [] as string[]);
  let sum = 0;
  for (const json of entries) {
    try {
      sum += Number((JSON.parse(json) as { durationSeconds?: number }).durationSeconds ?? 0);
    } catch {
      // a damaged entry counts for nothing here
    }
  }
  return sum;
}
