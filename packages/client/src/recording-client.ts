import { randomBytes } from 'node:crypto';
import {
  activeRecordingKey,
  applySubscriptionUpdate,
  boundedRedisCall,
  type ControlRequest,
  DEFAULT_KEY_PREFIX,
  FINAL_STATES,
  type FieldProblem,
  InvalidRecordingJobError,
  isFinalState,
  isRecordingState,
  isRedisReply,
  numberRuleProblem,
  parseFailure,
  parseRecordingJob,
  parseUpdateRecordingRequest,
  RECORD_JOB_NAME,
  RecordingConfigSchema,
  RECORDING_STATES,
  type RecfleetErrorCode,
  type RecordingEvent,
  type RecordingJob,
  type RecordingJobInput,
  type RecordingKind,
  recordingKind,
  recordingRedisKeys,
  RECORDINGS_QUEUE,
  recordingsIndexKey,
  redactUrl,
  RecfleetError,
  RECORDING_ID_PATTERN,
  RedisUnavailableError,
  releaseActiveRecording,
  runScript,
  storageProfilesKey,
  type Subscriptions,
  subscriptionsOf,
  TERMINAL_EVENTS,
  trackSegmentsKey,
  type UpdateRecordingRequest,
  webhookRecordingsKey,
} from '@recfleet/contract';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BoundedConnection, boundedConnectionOptions, type RedisHealth } from './bounded-connection.js';
import {
  InvalidListFilterError,
  NotAChannelRecordingError,
  RecordingEndedError,
  RecordingNotFoundError,
} from './recording-errors.js';
import {
  asProgress,
  asSubscriptions,
  decodeCursor,
  encodeCursor,
  isSettled,
  LIST_LIMIT_RULE,
  type ListFilter,
  recordError,
  type RecordingPage,
  type RecordingStatus,
  type RecordingSummary,
  SETTLED_WITHOUT_EVENT_MS,
  toEvent,
  toSummary,
  toUsers,
} from './recording-read-model.js';
import type {
  ControlOutcome,
  FollowOptions,
  RecordingHandle,
  RecordingService,
  StartRequest,
  UpdateOutcome,
} from './recording-service.js';

export * from './recording-errors.js';
export * from './recording-read-model.js';
export { boundedConnectionOptions, REDIS_HEALTH, type RedisHealth } from './bounded-connection.js';
export * from './recording-service.js';

export interface RecordingClientOptions {
  redisUrl: string;
  keyPrefix?: string;
  queueName?: string;
  /**
   * Refuse a start whose `storage.profile` no worker of the fleet has registered (default true). Workers
   * add their profile names to `<prefix>:storage-profiles` when they start.
   */
  checkStorageProfiles?: boolean;
  /**
   * Bound on every Redis call, ms (default 3000, DEFAULT_REDIS_TIMEOUT_MS): a call Redis does not answer
   * within it, or cannot take because the connection is down, fails with RedisUnavailableError.
   */
  redisTimeoutMs?: number;
}

/** A producer waits this long for Redis per call before it reports it unavailable (API 503, CLI 5). */
export const DEFAULT_REDIS_TIMEOUT_MS = 3000;
/** How soon a follower that lost Redis asks again (its reads are bounded, so an outage is noticed). */
const FOLLOW_RETRY_MS = 250;

/** Records examined per list call at most; a sparse filter returns a short page and a cursor. */
const LIST_SCAN_LIMIT = 2000;
/** A `queued` recording without a job this old is left over from a failed start, not active. */
const ORPHAN_AFTER_MS = 60_000;

/** Merges retried when another update (or the worker's first claim) changed the subscriptions meanwhile. */
const UPDATE_ATTEMPTS = 5;

/**
 * The producer's client, and the one reader of recordings for every producer part (API, CLI,
 * dashboards): starts recordings (BullMQ jobs), stops or cancels them from any host, reads their
 * durable state and follows their events live. Every Redis call is bounded (`redisTimeoutMs`) and fails
 * with RedisUnavailableError when Redis is down, so callers decide on the error's type.
 */
export class RecordingClient implements RecordingService {
  private readonly connection: BoundedConnection;
  private readonly redis: Redis;
  private readonly queueConnection: BoundedConnection;
  private readonly queue: Queue;
  private readonly keyPrefix: string;
  private readonly timeoutMs: number;
  /** The Redis URL without credentials, for error messages. */
  private readonly where: string;
  private readonly followers = new Set<BoundedConnection>();

  constructor(private readonly options: RecordingClientOptions) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.timeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    this.where = redactUrl(options.redisUrl);
    // Producers fail fast when Redis is down instead of queueing commands in memory (a command queued
    // offline would run after the caller was told it failed), and drop a socket Redis stops answering.
    this.connection = new BoundedConnection(options.redisUrl, this.where, this.timeoutMs);
    this.redis = this.connection.redis;
    // Its own connection: BullMQ registers its scripts on it, and some share our scripts' names.
    this.queueConnection = new BoundedConnection(options.redisUrl, this.where, this.timeoutMs);
    this.queue = new Queue(options.queueName ?? RECORDINGS_QUEUE, {
      connection: this.queueConnection.redis,
      prefix: this.keyPrefix,
    });
    this.queue.on('error', () => undefined);
  }

  /**
   * Starts a recording, idempotently: a recording id that exists never starts a second recording, and
   * while a recording of the same app, channel and uid is active (not in a final state) its id is
   * returned instead of starting another; `created` tells which happened. Refuses an invalid request
   * with InvalidRecordingJobError naming every bad field, including a storage profile no worker knows.
   * A start that fails never leaves a record that blocks its id: see `enqueue`.
   */
  async start(request: StartRequest): Promise<RecordingHandle> {
    const deadline = this.connection.deadline();
    const recordingId =
      request.recordingId === undefined ? `rec-${randomBytes(8).toString('hex')}` : request.recordingId;
    const problems: FieldProblem[] = [];
    let job: RecordingJob | undefined;
    try {
      job = parseRecordingJob({ ...request, recordingId, requestedAt: Date.now() });
    } catch (err) {
      if (!(err instanceof InvalidRecordingJobError)) throw err;
      problems.push(...err.problems);
    }
    if ('requestedAt' in request) problems.push({ field: 'requestedAt', rule: 'is not a known field' });
    const profile = (request.storage as { profile?: unknown } | undefined)?.profile;
    if (
      this.options.checkStorageProfiles !== false &&
      typeof profile === 'string' &&
      !problems.some((p) => p.field === 'storage.profile' || p.field === 'storage')
    ) {
      const known = await this.knownStorageProfiles(deadline);
      if (!known.includes(profile)) {
        problems.push({
          field: 'storage.profile',
          rule: `must be a storage profile configured on the fleet's workers (known: ${known.join(', ') || 'none yet'})`,
        });
      }
    }
    if (problems.length > 0 || !job) throw new InvalidRecordingJobError(problems);

    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const activeKey = activeRecordingKey(this.keyPrefix, job.appId, job.channel, job.uid);
    const startKeys = [
      keys.record,
      keys.events,
      activeKey,
      recordingsIndexKey(this.keyPrefix),
      webhookRecordingsKey(this.keyPrefix),
    ];
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const [outcome, id] = await this.startScript(job, startKeys, 'client', now, deadline);
      if (outcome === 'created') {
        await this.enqueue(job, startKeys, deadline);
        return { recordingId, created: true };
      }
      if (outcome === 'exists') {
        // A start retried after its job could not be added enqueues it now (BullMQ ignores a known id).
        if ((await this.call(() => this.redis.hget(keys.record, 'state'), deadline)) === 'queued')
          await this.enqueue(job, startKeys, deadline);
        return { recordingId, created: false };
      }
      // Another recording of this identity holds the active key: it is the answer, unless it is over
      // (or is left over from a start that never enqueued its job), in which case the key is freed.
      if (attempt < 3 && (await this.isStale(id, deadline))) {
        await this.call(() => runScript(this.redis, 'releaseActiveRecording', [activeKey], [id]), deadline);
        continue;
      }
      return { recordingId: id, created: false };
    }
  }

  private async isStale(recordingId: string, deadline: number): Promise<boolean> {
    const [state, createdAt] = await this.call(
      () => this.redis.hmget(recordingRedisKeys(this.keyPrefix, recordingId).record, 'state', 'createdAt'),
      deadline,
    );
    if (!state || isFinalState(state)) return true;
    if (state !== 'queued' || Date.now() - Number(createdAt) < ORPHAN_AFTER_MS) return false;
    return (await this.call(() => this.queue.getJob(recordingId), deadline)) === undefined;
  }

  /**
   * Adds a started recording's job (jobId = recordingId: BullMQ ignores an add whose id exists, so
   * retries of start are harmless). A start that fails here never leaves a record that blocks its id:
   *
   * - Redis refused the add (its answer, e.g. NOPERM, OOM, READONLY): nothing was enqueued, so the start
   *   is undone (abandonStart-5: record, events, index entry, webhook registration and active key) and
   *   the id and the identity can start again; the caller gets RedisUnavailableError.
   * - Redis did not answer: whether the job was added is unknown. The record stays `queued`, and a start
   *   retried with the same id adds the job (or finds it there).
   */
  private async enqueue(job: RecordingJob, startKeys: string[], deadline: number): Promise<void> {
    try {
      await this.call(
        () =>
          this.queue.add(RECORD_JOB_NAME, job, {
            jobId: job.recordingId,
            attempts: 1,
            removeOnComplete: { age: 7 * 24 * 3600 },
            removeOnFail: { age: 30 * 24 * 3600 },
          }),
        deadline,
      );
    } catch (err) {
      if (!isRedisReply(err)) throw err;
      // Redis answers: the undo gets a bound of its own, the start's may be spent.
      await this.call(() => runScript(this.redis, 'abandonStart', startKeys, [job.recordingId])).catch(
        () => undefined,
      );
      const reason = (err as Error).message.split('\n')[0];
      throw new RedisUnavailableError(
        `Redis at ${this.where} refused to enqueue recording ${job.recordingId} (${reason}); nothing was started`,
        { cause: err },
      );
    }
  }

  /** Ends a recording no worker took (only while its record is `queued`) and frees its identity. */
  private async endQueued(
    recordingId: string,
    code: RecfleetErrorCode,
    message: string,
    deadline: number,
  ): Promise<void> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const ended = await this.call(
      () =>
        runScript(
          this.redis,
          'failQueuedRecording',
          [keys.record, keys.events],
          [code, message, Date.now(), JSON.stringify({ code, message })],
        ),
      deadline,
    );
    if (ended === 1) {
      await this.call(() => releaseActiveRecording(this.redis, this.keyPrefix, recordingId), deadline);
    }
  }

  /** Whether Redis answers (for health checks). */
  async ping(): Promise<boolean> {
    return (await this.health()) === 'up';
  }

  /**
   * Whether Redis answers a PING within `timeoutMs` (default: the client's bound): `up`; `down` when it
   * cannot be reached; `not_answering` when it accepts connections but does not answer (hung).
   */
  health(timeoutMs = this.timeoutMs): Promise<RedisHealth> {
    return this.connection.health(timeoutMs);
  }

  /** The storage profile names the fleet's workers registered, sorted. */
  async knownStorageProfiles(deadline = this.connection.deadline()): Promise<string[]> {
    return (await this.call(() => this.redis.smembers(storageProfilesKey(this.keyPrefix)), deadline)).sort();
  }

  /**
   * Asks the worker running the recording to finalize it. Durable: a reconnecting worker still sees it.
   * Throws RecordingNotFoundError, or RecordingEndedError when the recording is over.
   */
  stop(recordingId: string): Promise<ControlOutcome> {
    return this.control(recordingId, 'stop');
  }

  /** Asks the worker to abandon the recording without finalizing the current segment (see stop). */
  cancel(recordingId: string): Promise<ControlOutcome> {
    return this.control(recordingId, 'cancel');
  }

  private async control(
    recordingId: string,
    request: ControlRequest,
    adopted = false,
  ): Promise<ControlOutcome> {
    const deadline = this.connection.deadline();
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const [outcome, state] = (await this.call(
      () => runScript(this.redis, 'requestControl', [keys.record], [request, Date.now(), ...FINAL_STATES]),
      deadline,
    )) as [string, string];
    if (outcome === 'not_found') {
      if (!adopted && (await this.adoptQueuedJob(recordingId, deadline)))
        return this.control(recordingId, request, true);
      throw new RecordingNotFoundError(recordingId);
    }
    if (outcome === 'ended') {
      throw new RecordingEndedError(recordingId, isRecordingState(state) ? state : 'failed', request);
    }
    // A job no worker has taken yet is taken out of the queue, and the recording ends here. Only a
    // removal that succeeded may end it: BullMQ refuses to remove a job a worker holds (one that took
    // it since the state was read), and that worker acts on the request stored above. A recording that
    // has started is never taken out, even when its job waits: that job is back in the queue after a
    // crash or a Redis outage (its recording may be going on meanwhile), and whoever takes it next
    // finalizes the recording on the request.
    if (
      state === 'queued' &&
      (await this.call(() => this.queue.getJobState(recordingId), deadline)) === 'waiting' &&
      (await this.call(() => this.queue.remove(recordingId), deadline)) === 1
    ) {
      await this.endQueued(
        recordingId,
        'CANCELLED',
        `${request} requested before any worker took it`,
        deadline,
      );
    }
    const after = await this.call(() => this.redis.hget(keys.record, 'state'), deadline);
    return { recordingId, requested: request, state: isRecordingState(after) ? after : 'failed' };
  }

  /**
   * Changes the subscriptions of a running channel recording: each list the update names replaces the
   * current one, `null` removes it (applySubscriptionUpdate). The worker running it applies the change
   * within a second (event `updated`); a worker taking it over later reads it from the record. Refuses,
   * changing nothing: a bad update or one whose result breaks the rules (InvalidRecordingJobError naming
   * every field), an unknown recording (RecordingNotFoundError), one that has ended
   * (RecordingEndedError), one that records a single stream (NotAChannelRecordingError).
   */
  async update(recordingId: string, body: UpdateRecordingRequest | unknown): Promise<UpdateOutcome> {
    const update = parseUpdate(body);
    if (!RECORDING_ID_PATTERN.test(recordingId)) throw new RecordingNotFoundError(recordingId);
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const deadline = this.connection.deadline();
    for (let attempt = 1; ; attempt++) {
      const [state, kindField, stored, version] = await this.call(
        () => this.redis.hmget(keys.record, 'state', 'kind', 'subscriptions', 'subscriptionsVersion'),
        deadline,
      );
      if (state === null) throw new RecordingNotFoundError(recordingId);
      if (isFinalState(state)) throw new RecordingEndedError(recordingId, state, 'update');
      // A record written before `kind` was (or by a start that did not write it): the job data says.
      let kind = asKind(kindField);
      let jobConfig: Subscriptions | undefined;
      if (kind === undefined || stored === null) {
        const data = (await this.call(() => this.queue.getJob(recordingId), deadline))?.data as
          RecordingJobInput | undefined;
        if (data) {
          kind ??= recordingKind(data);
          const config = RecordingConfigSchema.safeParse(data.recordingConfig ?? {});
          if (config.success) jobConfig = subscriptionsOf(config.data);
        }
      }
      if (kind !== 'channel') throw new NotAChannelRecordingError(recordingId, kind);
      const current = asSubscriptions(stored ?? undefined) ?? jobConfig ?? {};
      const next = applySubscriptionUpdate(current, update);
      const problems = mergedProblems(current, update, next);
      if (problems.length > 0) throw new InvalidRecordingJobError(problems);
      const [outcome, value] = (await this.call(
        () =>
          runScript(
            this.redis,
            'updateSubscriptions',
            [keys.record],
            [JSON.stringify(next), version ?? '', Date.now(), kind, ...FINAL_STATES],
          ),
        deadline,
      )) as [string, string];
      switch (outcome) {
        case 'updated':
          return { recordingId, subscriptions: next, version: Number(value) };
        case 'not_found':
          throw new RecordingNotFoundError(recordingId);
        case 'ended':
          throw new RecordingEndedError(recordingId, isRecordingState(value) ? value : 'failed', 'update');
        case 'not_a_channel':
          throw new NotAChannelRecordingError(recordingId, asKind(value));
      }
      // 'changed': merged into subscriptions that were replaced meanwhile; merge into the new ones.
      if (attempt >= UPDATE_ATTEMPTS) {
        throw new RecfleetError(
          'INTERNAL',
          `the subscriptions of ${recordingId} kept changing during the update; nothing was changed`,
        );
      }
    }
  }

  /** startRecording-5 for `job` (see its header): its outcome and the recording id it names. */
  private async startScript(
    job: RecordingJob,
    startKeys: string[],
    startedBy: 'client' | 'worker',
    now: number,
    deadline: number,
  ): Promise<[string, string]> {
    return (await this.call(
      () =>
        runScript(this.redis, 'startRecording', startKeys, [
          job.recordingId,
          now,
          job.appId,
          job.channel,
          job.uid,
          job.callbackUrl ?? '',
          startedBy,
          recordingKind(job),
          // Version 0 of a channel recording's subscriptions, which updates replace (see update).
          recordingKind(job) === 'channel' ? JSON.stringify(subscriptionsOf(job.recordingConfig)) : '',
        ]),
      deadline,
    )) as [string, string];
  }

  /**
   * A job added with BullMQ directly (any language) has no record until a worker takes it. Asked about
   * one that waits, the client writes what the worker's start would (startRecording-5 as `worker`: the
   * record, the identity, the list entry, the webhook registration), so that it reads, stops and
   * cancels exactly like a recording RecordingClient.start began. False when there is no such job, its
   * data breaks the contract, or its identity is another active recording's (its worker refuses it).
   */
  private async adoptQueuedJob(recordingId: string, deadline: number): Promise<boolean> {
    const raw = await this.call(() => this.queue.getJob(recordingId), deadline);
    if (!raw || raw.name !== RECORD_JOB_NAME) return false;
    let job: RecordingJob;
    try {
      job = parseRecordingJob({ ...(raw.data as object), recordingId });
    } catch {
      return false;
    }
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const startKeys = [
      keys.record,
      keys.events,
      activeRecordingKey(this.keyPrefix, job.appId, job.channel, job.uid),
      recordingsIndexKey(this.keyPrefix),
      webhookRecordingsKey(this.keyPrefix),
    ];
    const [outcome] = await this.startScript(job, startKeys, 'worker', raw.timestamp, deadline);
    return outcome !== 'active';
  }

  /** The recording's record, job state, progress, result and error. Throws RecordingNotFoundError. */
  get(recordingId: string): Promise<RecordingStatus> {
    return this.status(recordingId, false);
  }

  private async status(recordingId: string, adopted: boolean): Promise<RecordingStatus> {
    const deadline = this.connection.deadline();
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const [fields, indexed, users, job] = await this.call(
      () =>
        Promise.all([
          this.redis.hgetall(keys.record),
          this.redis.hlen(keys.segments),
          this.redis.hgetall(keys.users),
          this.queue.getJob(recordingId),
        ]),
      deadline,
    );
    // The worker writes the result on the record before the job completes; older records have it only
    // on the job.
    if (!fields.result && job?.returnvalue) fields.result = JSON.stringify(job.returnvalue);
    const summary = toSummary(fields, indexed, job?.progress);
    if (!summary) {
      if (!adopted && (await this.adoptQueuedJob(recordingId, deadline)))
        return this.status(recordingId, true);
      throw new RecordingNotFoundError(recordingId);
    }
    const jobState = job ? await this.call(() => job.getState(), deadline) : 'unknown';
    const status: RecordingStatus = { ...summary, jobState };
    // Records written before `kind` and the subscriptions were: the job data tells (never its token).
    const data = job?.data as RecordingJobInput | undefined;
    if (!status.kind && data) status.kind = recordingKind(data);
    if (status.kind === 'channel') {
      if (!status.subscriptions && data) {
        const config = RecordingConfigSchema.safeParse(data.recordingConfig ?? {});
        if (config.success) {
          status.subscriptions = subscriptionsOf(config.data);
          status.subscriptionsVersion = 0;
        }
      }
      status.users = toUsers(users, status.progress);
    }
    // The record's code is the worker's own; the job's reason says the same, unless no worker wrote one.
    const error =
      recordError(summary) ?? (jobState === 'failed' ? parseFailure(job?.failedReason) : undefined);
    if (error) status.error = error;
    return status;
  }

  /**
   * Whether any of the recording's segments (of one user track, `<uid>-<type>`, for a channel
   * recording) is verified in its primary store, so its playlist is there too: the dashboards offer
   * playback from storage only then.
   */
  async hasSegmentInPrimary(recordingId: string, trackId?: string): Promise<boolean> {
    const key =
      trackId === undefined
        ? recordingRedisKeys(this.keyPrefix, recordingId).segments
        : trackSegmentsKey(this.keyPrefix, recordingId, trackId);
    const values = await this.call(() => this.redis.hvals(key));
    return values.some((v) => {
      try {
        return (JSON.parse(v) as { location?: unknown }).location === 'primary';
      } catch {
        return false;
      }
    });
  }

  /**
   * Follows a recording's events from the start (or after `afterId`), live, until a terminal event
   * (`uploaded`, `backed_up`, `fatal_error`), or until its record has been settled for a while without
   * one. Works for recordings started by any producer. Follows through Redis outages of any length —
   * restarts, failovers, a Redis that stops answering: every read is bounded, a connection Redis stops
   * answering is dropped, and reading continues after the last event yielded, so nothing is repeated or
   * skipped. `onOutage` is told when Redis is lost and when it is back.
   */
  async *follow(recordingId: string, options: FollowOptions = {}): AsyncGenerator<RecordingEvent> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const blockMs = options.blockMs ?? 1000;
    // A blocking read leaves its socket silent for blockMs: the socket timeout allows for it.
    const reader = new BoundedConnection(
      this.options.redisUrl,
      this.where,
      this.timeoutMs,
      boundedConnectionOptions(this.timeoutMs, blockMs),
    );
    this.followers.add(reader);
    let lastId = options.afterId ?? '0-0';
    let lostAt: number | undefined;
    try {
      for (;;) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await reader.call(
            () => reader.redis.xread('BLOCK', blockMs, 'STREAMS', keys.events, lastId),
            reader.deadline(blockMs + this.timeoutMs),
          )) as typeof reply;
        } catch (err) {
          if (!(err instanceof RedisUnavailableError)) throw err;
          if (lostAt === undefined) {
            lostAt = Date.now();
            options.onOutage?.({ state: 'lost', at: lostAt, error: err });
          }
          await new Promise((r) => setTimeout(r, FOLLOW_RETRY_MS));
          continue;
        }
        if (lostAt !== undefined) {
          const at = Date.now();
          options.onOutage?.({ state: 'restored', at, downMs: at - lostAt });
          lostAt = undefined;
        }
        if (!reply) {
          if (await this.settledWithoutEvent(recordingId)) return;
          continue;
        }
        for (const [, entries] of reply) {
          for (const [id, flat] of entries) {
            lastId = id;
            const event = toEvent(id, flat);
            yield event;
            if (TERMINAL_EVENTS.includes(event.type)) return;
          }
        }
      }
    } finally {
      this.followers.delete(reader);
      reader.redis.disconnect();
    }
  }

  private async settledWithoutEvent(recordingId: string): Promise<boolean> {
    try {
      const [state, updatedAt] = await this.call(() =>
        this.redis.hmget(recordingRedisKeys(this.keyPrefix, recordingId).record, 'state', 'updatedAt'),
      );
      return isSettled(state ?? undefined) && Date.now() - Number(updatedAt) > SETTLED_WITHOUT_EVENT_MS;
    } catch (err) {
      // Following rides through an outage; the next empty read asks again.
      if (err instanceof RedisUnavailableError) return false;
      throw err;
    }
  }

  /**
   * Lists recordings, newest first, from the durable records (index `<prefix>:recordings`, written at
   * start). Filters by state, channel and app id; pages with `limit` and the previous page's
   * `nextCursor`. At most 2,000 records are examined per call, so a sparse filter can return a short
   * (even empty) page with a cursor to continue from. Throws InvalidListFilterError naming every bad
   * field.
   */
  async list(filter: ListFilter = {}): Promise<RecordingPage> {
    const { limit, states, position } = checkFilter(filter);
    const deadline = this.connection.deadline();
    const recordings: RecordingSummary[] = [];
    let scanned = 0;
    let last: [string, number] | undefined;
    let exhausted = false;
    const pages = this.scanIndex(position, deadline);
    outer: for (;;) {
      const next = await pages.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      const batch = next.value;
      const summaries = await this.readSummaries(
        batch.map(([id]) => id),
        deadline,
      );
      for (let i = 0; i < batch.length; i++) {
        last = batch[i];
        scanned += 1;
        const summary = summaries[i];
        if (
          summary &&
          (!states || states.includes(summary.state)) &&
          (filter.channel === undefined || summary.channel === filter.channel) &&
          (filter.appId === undefined || summary.appId === filter.appId)
        ) {
          recordings.push(summary);
        }
        if (recordings.length >= limit || scanned >= LIST_SCAN_LIMIT) {
          // More may follow unless this was the index's last entry (the next page is then empty).
          break outer;
        }
      }
    }
    await pages.return(undefined);
    await this.addJobProgress(recordings, deadline);
    const page: RecordingPage = { recordings };
    if (!exhausted && last) page.nextCursor = encodeCursor(last);
    return page;
  }

  /** Records and segment counts of several recordings, in one round trip. */
  private async readSummaries(
    ids: readonly string[],
    deadline: number,
  ): Promise<(RecordingSummary | undefined)[]> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      const keys = recordingRedisKeys(this.keyPrefix, id);
      pipeline.hgetall(keys.record).hlen(keys.segments);
    }
    const replies = (await this.call(() => pipeline.exec(), deadline)) ?? [];
    return ids.map((_, i) => {
      const [err, fields] = replies[2 * i] ?? [];
      if (err) throw err;
      const indexed = replies[2 * i + 1]?.[1];
      return toSummary(
        (fields ?? {}) as Record<string, string>,
        typeof indexed === 'number' ? indexed : 0,
        null,
      );
    });
  }

  /** Running recordings' progress lives on their jobs (the worker reports it there). */
  private async addJobProgress(recordings: RecordingSummary[], deadline: number): Promise<void> {
    const running = recordings.filter((r) => !r.result);
    const jobs = await this.call(
      () => Promise.all(running.map((r) => this.queue.getJob(r.recordingId))),
      deadline,
    );
    running.forEach((r, i) => {
      const progress = asProgress(jobs[i]?.progress);
      if (progress) r.progress = progress;
    });
  }

  /** The index in order (newest first, ties by descending id), from after `after`, in batches. */
  private async *scanIndex(
    after: [string, number] | undefined,
    deadline: number,
  ): AsyncGenerator<[string, number][]> {
    const key = recordingsIndexKey(this.keyPrefix);
    let pos = after;
    for (;;) {
      let entries: [string, number][] = [];
      if (pos) {
        const [afterId, score] = pos;
        const same = (await this.call(() => this.redis.zrangebyscore(key, score, score), deadline)).filter(
          (id) => id < afterId,
        );
        entries = same.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)).map((id) => [id, score]);
      }
      const from = pos ? `(${pos[1]}` : '+inf';
      const flat = await this.call(
        () => this.redis.zrevrangebyscore(key, from, '-inf', 'WITHSCORES', 'LIMIT', 0, 200),
        deadline,
      );
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i]!, Number(flat[i + 1])]);
      if (entries.length === 0) return;
      yield entries;
      pos = entries.at(-1);
    }
  }

  /** The recording's events in order (at most `count`, default 1000, after `afterId`). */
  async events(
    recordingId: string,
    options: { afterId?: string; count?: number } = {},
  ): Promise<RecordingEvent[]> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const start = options.afterId ? `(${options.afterId}` : '-';
    const entries = (await this.call(() =>
      this.redis.xrange(keys.events, start, '+', 'COUNT', options.count ?? 1000),
    )) as [string, string[]][];
    return entries.map(([id, flat]) => toEvent(id, flat));
  }

  /**
   * One Redis operation, once the connection is ready, both before `deadline` (default: the bound from
   * now). A method that makes several calls gives them one deadline, so that it is bounded as a whole.
   */
  private async call<T>(op: () => Promise<T>, deadline = this.connection.deadline()): Promise<T> {
    // Operations may go through the queue's connection too: both are ready first (after an outage the
    // two reconnect each on its own).
    await this.queueConnection.whenReady(deadline);
    return this.connection.call(op, deadline);
  }

  /** Closes every connection; bounded, also when Redis does not answer. */
  async close(): Promise<void> {
    for (const f of this.followers) f.redis.disconnect();
    await boundedRedisCall(() => this.queue.close(), { timeoutMs: 500, where: this.where }).catch(
      () => undefined,
    );
    this.queueConnection.redis.disconnect();
    await this.connection.close();
  }
}

/**
 * The contract's check of an update (parseUpdateRecordingRequest), as every producer part refuses one:
 * a problem with the update as a whole is named `(update)`. Throws InvalidRecordingJobError.
 */
export function parseUpdate(body: unknown): ReturnType<typeof parseUpdateRecordingRequest> {
  try {
    return parseUpdateRecordingRequest(body);
  } catch (err) {
    if (!(err instanceof InvalidRecordingJobError)) throw err;
    throw new InvalidRecordingJobError(
      err.problems.map((p) => (p.field === '(job)' ? { ...p, field: '(update)' } : p)),
    );
  }
}

function asKind(value: string | null | undefined): RecordingKind | undefined {
  return value === 'channel' || value === 'single_stream' ? value : undefined;
}

/**
 * What breaks the rules once an update is merged into the current subscriptions: a `subscribe` and an
 * `unsubscribe` list of one kind exclude each other (the update alone is checked by its schema). The
 * field named is the one the update sets.
 */
function mergedProblems(
  current: Subscriptions,
  update: ReturnType<typeof parseUpdate>,
  next: Subscriptions,
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const kind of ['Audio', 'Video'] as const) {
    const only = `subscribe${kind}Uids` as const;
    const except = `unsubscribe${kind}Uids` as const;
    if (next[only] === undefined || next[except] === undefined) continue;
    const [field, other] = update[only] !== undefined ? [only, except] : [except, only];
    problems.push({
      field,
      rule: `must not be given while the recording has ${other} (${JSON.stringify(current[other])}); send "${other}": null with it to replace one by the other`,
    });
  }
  return problems;
}

/** The checked form of a list filter, or InvalidListFilterError naming every bad field. */
function checkFilter(filter: ListFilter): {
  limit: number;
  states: string[] | undefined;
  position: [string, number] | undefined;
} {
  const problems: FieldProblem[] = [];
  const limit = filter.limit ?? LIST_LIMIT_RULE.default;
  const limitProblem = numberRuleProblem(LIST_LIMIT_RULE, limit);
  if (limitProblem) problems.push({ field: 'limit', rule: `must be ${limitProblem}` });
  const states = filter.state === undefined ? undefined : ([] as string[]).concat(filter.state);
  const badState = states?.find((s) => !isRecordingState(s));
  if (badState !== undefined) {
    problems.push({
      field: 'state',
      rule: `must be one of ${RECORDING_STATES.join(', ')} (got ${JSON.stringify(badState.length > 40 ? `${badState.slice(0, 40)}…` : badState)})`,
    });
  }
  const position = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
  if (filter.cursor !== undefined && !position) {
    problems.push({ field: 'cursor', rule: 'must be a nextCursor returned by a previous list' });
  }
  if (problems.length > 0) throw new InvalidListFilterError(problems);
  return { limit, states, position };
}
