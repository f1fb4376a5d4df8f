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
  numberRuleProblem,
  openRedis,
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
  type RecordingState,
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

export * from './recording-errors.js';
export * from './recording-read-model.js';

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

/** Records examined per list call at most; a sparse filter returns a short page and a cursor. */
const LIST_SCAN_LIMIT = 2000;
/** A `queued` recording without a job this old is left over from a failed start, not active. */
const ORPHAN_AFTER_MS = 60_000;

/** A start request: the job contract, with the recording id optional (generated when absent). */
export type StartRequest = Omit<RecordingJobInput, 'recordingId' | 'requestedAt'> & { recordingId?: string };

export interface RecordingHandle {
  recordingId: string;
  /** False when a recording with this id already existed (idempotent start). */
  created: boolean;
}

/** What a stop or cancel did: the request is stored; `state` is the recording's state after it. */
export interface ControlOutcome {
  recordingId: string;
  requested: ControlRequest;
  state: RecordingState;
}

/** What an update did: the subscriptions in force now, and their version (the worker applies it). */
export interface UpdateOutcome {
  recordingId: string;
  subscriptions: Subscriptions;
  version: number;
}

/** Merges retried when another update (or the worker's first claim) changed the subscriptions meanwhile. */
const UPDATE_ATTEMPTS = 5;

/**
 * The producer's client, and the one reader of recordings for every producer part (API, CLI,
 * dashboards): starts recordings (BullMQ jobs), stops or cancels them from any host, reads their
 * durable state and follows their events live. Every Redis call is bounded (`redisTimeoutMs`) and fails
 * with RedisUnavailableError when Redis is down, so callers decide on the error's type.
 */
export class RecordingClient {
  private readonly redis: Redis;
  private readonly queueConnection: Redis;
  private readonly queue: Queue;
  private readonly keyPrefix: string;
  private readonly timeoutMs: number;
  /** The Redis URL without credentials, for error messages. */
  private readonly where: string;
  private readonly followers = new Set<Redis>();
  private readyWait: Promise<void> | undefined;
  private lastConnectionError: Error | undefined;

  constructor(private readonly options: RecordingClientOptions) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.timeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    this.where = redactUrl(options.redisUrl);
    // Producers fail fast when Redis is down instead of queueing commands in memory: a command queued
    // offline would run after the caller was told it failed.
    this.redis = openRedis(options.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    });
    this.redis.on('error', (err: Error) => (this.lastConnectionError = err));
    this.redis.on('ready', () => (this.lastConnectionError = undefined));
    // Its own connection: BullMQ registers its scripts on it, and some share our scripts' names.
    this.queueConnection = openRedis(options.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    });
    this.queue = new Queue(options.queueName ?? RECORDINGS_QUEUE, {
      connection: this.queueConnection,
      prefix: this.keyPrefix,
    });
    this.queue.on('error', () => undefined);
  }

  /**
   * Starts a recording, idempotently: a recording id that exists never starts a second recording, and
   * while a recording of the same app, channel and uid is active (not in a final state) its id is
   * returned instead of starting another; `created` tells which happened. Refuses an invalid request
   * with InvalidRecordingJobError naming every bad field, including a storage profile no worker knows.
   */
  async start(request: StartRequest): Promise<RecordingHandle> {
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
      const known = await this.knownStorageProfiles();
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
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const [outcome, id] = (await this.call(() =>
        runScript(
          this.redis,
          'startRecording',
          [
            keys.record,
            keys.events,
            activeKey,
            recordingsIndexKey(this.keyPrefix),
            webhookRecordingsKey(this.keyPrefix),
          ],
          [
            recordingId,
            now,
            job.appId,
            job.channel,
            job.uid,
            job.callbackUrl ?? '',
            'client',
            recordingKind(job),
            // Version 0 of a channel recording's subscriptions, which updates replace (see update).
            recordingKind(job) === 'channel' ? JSON.stringify(subscriptionsOf(job.recordingConfig)) : '',
          ],
        ),
      )) as [string, string];
      if (outcome === 'created') {
        try {
          await this.addJob(job);
        } catch (err) {
          // Nothing will run it: end it, and free the identity so that a retry can start it again.
          await this.endQueued(recordingId, 'INTERNAL', 'the job could not be enqueued').catch(
            () => undefined,
          );
          throw err;
        }
        return { recordingId, created: true };
      }
      if (outcome === 'exists') {
        // A start retried after its job could not be added enqueues it now (BullMQ ignores a known id).
        if ((await this.call(() => this.redis.hget(keys.record, 'state'))) === 'queued')
          await this.addJob(job);
        return { recordingId, created: false };
      }
      // Another recording of this identity holds the active key: it is the answer, unless it is over
      // (or is left over from a start that never enqueued its job), in which case the key is freed.
      if (attempt < 3 && (await this.isStale(id))) {
        await this.call(() => runScript(this.redis, 'releaseActiveRecording', [activeKey], [id]));
        continue;
      }
      return { recordingId: id, created: false };
    }
  }

  private async isStale(recordingId: string): Promise<boolean> {
    const [state, createdAt] = await this.call(() =>
      this.redis.hmget(recordingRedisKeys(this.keyPrefix, recordingId).record, 'state', 'createdAt'),
    );
    if (!state || isFinalState(state)) return true;
    if (state !== 'queued' || Date.now() - Number(createdAt) < ORPHAN_AFTER_MS) return false;
    return (await this.call(() => this.queue.getJob(recordingId))) === undefined;
  }

  private async addJob(job: RecordingJob): Promise<void> {
    // jobId = recordingId: BullMQ ignores an add whose id exists, so retries of start are harmless.
    await this.call(() =>
      this.queue.add(RECORD_JOB_NAME, job, {
        jobId: job.recordingId,
        attempts: 1,
        removeOnComplete: { age: 7 * 24 * 3600 },
        removeOnFail: { age: 30 * 24 * 3600 },
      }),
    );
  }

  /** Ends a recording no worker took (only while its record is `queued`) and frees its identity. */
  private async endQueued(recordingId: string, code: RecfleetErrorCode, message: string): Promise<void> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const ended = await this.call(() =>
      runScript(
        this.redis,
        'failQueuedRecording',
        [keys.record, keys.events],
        [code, message, Date.now(), JSON.stringify({ code, message })],
      ),
    );
    if (ended === 1) await this.call(() => releaseActiveRecording(this.redis, this.keyPrefix, recordingId));
  }

  /** Whether Redis answers (for health checks). */
  async ping(): Promise<boolean> {
    try {
      return (await this.call(() => this.redis.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  /** The storage profile names the fleet's workers registered, sorted. */
  async knownStorageProfiles(): Promise<string[]> {
    return (await this.call(() => this.redis.smembers(storageProfilesKey(this.keyPrefix)))).sort();
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

  private async control(recordingId: string, request: ControlRequest): Promise<ControlOutcome> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const [outcome, state] = (await this.call(() =>
      runScript(this.redis, 'requestControl', [keys.record], [request, Date.now(), ...FINAL_STATES]),
    )) as [string, string];
    if (outcome === 'not_found') throw new RecordingNotFoundError(recordingId);
    if (outcome === 'ended') {
      throw new RecordingEndedError(recordingId, isRecordingState(state) ? state : 'failed', request);
    }
    // A job no worker has taken yet is taken out of the queue, and the recording ends here. Only a
    // removal that succeeded may end it: BullMQ refuses to remove a job a worker holds (one that took
    // it since the state was read), and that worker acts on the request stored above.
    if (
      (await this.call(() => this.queue.getJobState(recordingId))) === 'waiting' &&
      (await this.call(() => this.queue.remove(recordingId))) === 1
    ) {
      await this.endQueued(recordingId, 'CANCELLED', `${request} requested before any worker took it`);
    }
    const after = await this.call(() => this.redis.hget(keys.record, 'state'));
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
    for (let attempt = 1; ; attempt++) {
      const [state, kindField, stored, version] = await this.call(() =>
        this.redis.hmget(keys.record, 'state', 'kind', 'subscriptions', 'subscriptionsVersion'),
      );
      if (state === null) throw new RecordingNotFoundError(recordingId);
      if (isFinalState(state)) throw new RecordingEndedError(recordingId, state, 'update');
      // A record written before `kind` was (or by a start that did not write it): the job data says.
      let kind = asKind(kindField);
      let jobConfig: Subscriptions | undefined;
      if (kind === undefined || stored === null) {
        const data = (await this.call(() => this.queue.getJob(recordingId)))?.data as
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
      const [outcome, value] = (await this.call(() =>
        runScript(
          this.redis,
          'updateSubscriptions',
          [keys.record],
          [JSON.stringify(next), version ?? '', Date.now(), kind, ...FINAL_STATES],
        ),
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

  /** The recording's record, job state, progress, result and error. Throws RecordingNotFoundError. */
  async get(recordingId: string): Promise<RecordingStatus> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const [fields, indexed, users, job] = await this.call(() =>
      Promise.all([
        this.redis.hgetall(keys.record),
        this.redis.hlen(keys.segments),
        this.redis.hgetall(keys.users),
        this.queue.getJob(recordingId),
      ]),
    );
    // The worker writes the result on the record before the job completes; older records have it only
    // on the job.
    if (!fields.result && job?.returnvalue) fields.result = JSON.stringify(job.returnvalue);
    const summary = toSummary(fields, indexed, job?.progress);
    if (!summary) throw new RecordingNotFoundError(recordingId);
    const jobState = job ? await this.call(() => job.getState()) : 'unknown';
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
   * one. Works for recordings started by any producer. Its blocking reads are not bounded: a follower
   * rides through Redis restarts (the read is sent again after reconnecting).
   */
  async *follow(
    recordingId: string,
    options: { afterId?: string; blockMs?: number } = {},
  ): AsyncGenerator<RecordingEvent> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const reader = openRedis(this.options.redisUrl, { maxRetriesPerRequest: null });
    reader.on('error', () => undefined);
    this.followers.add(reader);
    let lastId = options.afterId ?? '0-0';
    try {
      for (;;) {
        const reply = (await reader.xread(
          'BLOCK',
          options.blockMs ?? 1000,
          'STREAMS',
          keys.events,
          lastId,
        )) as [string, [string, string[]][]][] | null;
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
      reader.disconnect();
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
    const recordings: RecordingSummary[] = [];
    let scanned = 0;
    let last: [string, number] | undefined;
    let exhausted = false;
    const pages = this.scanIndex(position);
    outer: for (;;) {
      const next = await pages.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      const batch = next.value;
      const summaries = await this.readSummaries(batch.map(([id]) => id));
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
    await this.addJobProgress(recordings);
    const page: RecordingPage = { recordings };
    if (!exhausted && last) page.nextCursor = encodeCursor(last);
    return page;
  }

  /** Records and segment counts of several recordings, in one round trip. */
  private async readSummaries(ids: readonly string[]): Promise<(RecordingSummary | undefined)[]> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      const keys = recordingRedisKeys(this.keyPrefix, id);
      pipeline.hgetall(keys.record).hlen(keys.segments);
    }
    const replies = (await this.call(() => pipeline.exec())) ?? [];
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
  private async addJobProgress(recordings: RecordingSummary[]): Promise<void> {
    const running = recordings.filter((r) => !r.result);
    const jobs = await this.call(() => Promise.all(running.map((r) => this.queue.getJob(r.recordingId))));
    running.forEach((r, i) => {
      const progress = asProgress(jobs[i]?.progress);
      if (progress) r.progress = progress;
    });
  }

  /** The index in order (newest first, ties by descending id), from after `after`, in batches. */
  private async *scanIndex(after: [string, number] | undefined): AsyncGenerator<[string, number][]> {
    const key = recordingsIndexKey(this.keyPrefix);
    let pos = after;
    for (;;) {
      let entries: [string, number][] = [];
      if (pos) {
        const [afterId, score] = pos;
        const same = (await this.call(() => this.redis.zrangebyscore(key, score, score))).filter(
          (id) => id < afterId,
        );
        entries = same.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)).map((id) => [id, score]);
      }
      const from = pos ? `(${pos[1]}` : '+inf';
      const flat = await this.call(() =>
        this.redis.zrevrangebyscore(key, from, '-inf', 'WITHSCORES', 'LIMIT', 0, 200),
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
   * One Redis operation, once the connection is ready (waited for at most the bound), within the bound.
   * A connection that is not there fails as "not reachable", with the connection's own reason.
   */
  private async call<T>(op: () => Promise<T>): Promise<T> {
    await this.ready();
    return boundedRedisCall(op, { timeoutMs: this.timeoutMs, where: this.where });
  }

  /**
   * Resolves once the connection is ready. Every caller waiting meanwhile shares one wait (and one
   * `ready` listener), which ends with the bound: an outage does not pile listeners up.
   */
  private ready(): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    this.readyWait ??= new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        this.readyWait = undefined;
        resolve();
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        this.readyWait = undefined;
        const reason = this.lastConnectionError?.message.split('\n')[0];
        reject(
          new RedisUnavailableError(`Redis at ${this.where} is not reachable${reason ? ` (${reason})` : ''}`),
        );
      }, this.timeoutMs);
      this.redis.once('ready', onReady);
    });
    return this.readyWait;
  }

  async close(): Promise<void> {
    for (const f of this.followers) f.disconnect();
    await this.queue.close().catch(() => undefined);
    for (const connection of [this.queueConnection, this.redis]) {
      if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect());
      else connection.disconnect();
    }
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
      rule: `must be one of ${RECORDING_STATES.join(', ')} (got ${JSON.stringify(badState)})`,
    });
  }
  const position = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
  if (filter.cursor !== undefined && !position) {
    problems.push({ field: 'cursor', rule: 'must be a nextCursor returned by a previous list' });
  }
  if (problems.length > 0) throw new InvalidListFilterError(problems);
  return { limit, states, position };
}
