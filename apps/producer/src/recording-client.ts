import { randomBytes } from 'node:crypto';
import {
  activeRecordingKey,
  type ControlRequest,
  DEFAULT_KEY_PREFIX,
  type FieldProblem,
  InvalidRecordingJobError,
  isFinalState,
  openRedis,
  parseFailure,
  parseRecordingJob,
  RECORD_JOB_NAME,
  type RecordingEvent,
  type RecordingEventType,
  type RecordingJob,
  type RecordingJobInput,
  recordingRedisKeys,
  type RecordingResult,
  RECORDINGS_QUEUE,
  recordingsIndexKey,
  releaseActiveRecording,
  runScript,
  storageProfilesKey,
  TERMINAL_EVENTS,
  webhookRecordingsKey,
} from '@recfleet/contract';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface RecordingClientOptions {
  redisUrl: string;
  keyPrefix?: string;
  queueName?: string;
  /**
   * Refuse a start whose `storage.profile` no worker of the fleet has registered (default true). Workers
   * add their profile names to `<prefix>:storage-profiles` when they start.
   */
  checkStorageProfiles?: boolean;
}

/** States a recording's record can be in (see the README's lifecycle). */
export const RECORDING_STATES = [
  'queued',
  'joining',
  'recording',
  'stopping',
  'uploaded',
  'backed_up',
  'failed',
] as const;

export interface ListFilter {
  /** Only recordings in one of these states. */
  state?: string | readonly string[];
  channel?: string;
  appId?: string;
  /** Page size, 1–500 (default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One recording in a list: what its record says, without events. */
export interface RecordingSummary {
  recordingId: string;
  state: string;
  appId: string;
  channel: string;
  uid: number;
  createdAt: number;
  updatedAt: number;
  reason?: string;
  errorCode?: string;
  callbackUrl?: string;
}

export interface RecordingPage {
  /** Newest first. */
  recordings: RecordingSummary[];
  /** Present when more recordings may follow: pass it as `cursor` for the next page. */
  nextCursor?: string;
}

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

export interface RecordingStatus {
  recordingId: string;
  state: string;
  jobState: string;
  fields: Record<string, string>;
  progress: unknown;
  result?: RecordingResult;
  error?: { code: string; message: string };
}

/**
 * The producer's client: starts recordings (BullMQ jobs), stops or cancels them from any host, reads
 * their durable state and follows their events live.
 */
export class RecordingClient {
  private readonly redis: Redis;
  private readonly queue: Queue;
  private readonly keyPrefix: string;
  private readonly followers = new Set<Redis>();

  constructor(private readonly options: RecordingClientOptions) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    // Producers fail fast when Redis is down instead of queueing commands in memory.
    this.redis = openRedis(options.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    });
    this.queue = new Queue(options.queueName ?? RECORDINGS_QUEUE, {
      connection: openRedis(options.redisUrl, { maxRetriesPerRequest: 1 }).on('error', () => undefined),
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
    await this.ready();

    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const activeKey = activeRecordingKey(this.keyPrefix, job.appId, job.channel, job.uid);
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const [outcome, id] = (await runScript(
        this.redis,
        'startRecording',
        [
          keys.record,
          keys.events,
          activeKey,
          recordingsIndexKey(this.keyPrefix),
          webhookRecordingsKey(this.keyPrefix),
        ],
        [recordingId, now, job.appId, job.channel, job.uid, job.callbackUrl ?? '', 'client'],
      )) as [string, string];
      if (outcome === 'created') {
        try {
          await this.addJob(job);
        } catch (err) {
          // Nothing will run it: free the identity so that a retry can start it again.
          await this.redis
            .hset(keys.record, { state: 'failed', errorCode: 'INTERNAL', errorMessage: 'job not enqueued' })
            .then(() => releaseActiveRecording(this.redis, this.keyPrefix, recordingId))
            .catch(() => undefined);
          throw err;
        }
        return { recordingId, created: true };
      }
      if (outcome === 'exists') {
        // A start retried after its job could not be added enqueues it now (BullMQ ignores a known id).
        if ((await this.redis.hget(keys.record, 'state')) === 'queued') await this.addJob(job);
        return { recordingId, created: false };
      }
      // Another recording of this identity holds the active key: it is the answer, unless it is over
      // (or is left over from a start that never enqueued its job), in which case the key is freed.
      if (attempt < 3 && (await this.isStale(id))) {
        await runScript(this.redis, 'releaseActiveRecording', [activeKey], [id]);
        continue;
      }
      return { recordingId: id, created: false };
    }
  }

  private async isStale(recordingId: string): Promise<boolean> {
    const [state, createdAt] = await this.redis.hmget(
      recordingRedisKeys(this.keyPrefix, recordingId).record,
      'state',
      'createdAt',
    );
    if (!state || isFinalState(state)) return true;
    if (state !== 'queued' || Date.now() - Number(createdAt) < ORPHAN_AFTER_MS) return false;
    return (await this.queue.getJob(recordingId)) === undefined;
  }

  private async addJob(job: RecordingJob): Promise<void> {
    // jobId = recordingId: BullMQ ignores an add whose id exists, so retries of start are harmless.
    await this.queue.add(RECORD_JOB_NAME, job, {
      jobId: job.recordingId,
      attempts: 1,
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    });
  }

  /** Whether Redis answers (for health checks). */
  async ping(): Promise<boolean> {
    try {
      await this.ready();
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** The storage profile names the fleet's workers registered, sorted. */
  async knownStorageProfiles(): Promise<string[]> {
    await this.ready();
    return (await this.redis.smembers(storageProfilesKey(this.keyPrefix))).sort();
  }

  /** Asks the worker running the recording to finalize it. Durable: a reconnecting worker still sees it. */
  stop(recordingId: string): Promise<void> {
    return this.control(recordingId, 'stop');
  }

  /** Asks the worker to abandon the recording without finalizing the current segment. */
  cancel(recordingId: string): Promise<void> {
    return this.control(recordingId, 'cancel');
  }

  private async control(recordingId: string, request: ControlRequest): Promise<void> {
    await this.ready();
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    if (!(await this.redis.exists(keys.record))) throw new RecordingNotFoundError(recordingId);
    await this.redis.hset(keys.record, { control: request, controlAt: Date.now() });
    // A waiting job that no worker took yet is simply removed.
    const job = await this.queue.getJob(recordingId);
    if (job && (await job.getState()) === 'waiting') {
      await job.remove().catch(() => undefined);
      await this.redis.hset(keys.record, { state: 'failed', errorCode: 'CANCELLED', updatedAt: Date.now() });
      await releaseActiveRecording(this.redis, this.keyPrefix, recordingId);
    }
  }

  async get(recordingId: string): Promise<RecordingStatus> {
    await this.ready();
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const fields = await this.redis.hgetall(keys.record);
    if (!fields.recordingId) throw new RecordingNotFoundError(recordingId);
    const job = await this.queue.getJob(recordingId);
    const jobState = job ? await job.getState() : 'unknown';
    const status: RecordingStatus = {
      recordingId,
      state: fields.state ?? 'unknown',
      jobState,
      fields,
      progress: job?.progress,
    };
    if (fields.result) status.result = JSON.parse(fields.result) as RecordingResult;
    else if (job?.returnvalue) status.result = job.returnvalue as RecordingResult;
    if (fields.errorCode && jobState !== 'failed') {
      status.error = { code: fields.errorCode, message: fields.errorMessage ?? '' };
    }
    if (jobState === 'failed') status.error = parseFailure(job?.failedReason);
    return status;
  }

  /**
   * Follows a recording's events from the start (or after `afterId`), live, until a terminal event
   * (`uploaded`, `backed_up`, `fatal_error`). Works for recordings started by any producer.
   */
  async *follow(
    recordingId: string,
    options: { afterId?: string; blockMs?: number } = {},
  ): AsyncGenerator<RecordingEvent> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const reader = openRedis(this.options.redisUrl, { maxRetriesPerRequest: null });
    // A follower rides through Redis restarts: the blocked read is sent again after reconnecting.
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
        if (!reply) continue;
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

  /**
   * Lists recordings, newest first, from the durable records (index `<prefix>:recordings`, written at
   * start). Filters by state, channel and app id; pages with `limit` and the previous page's
   * `nextCursor`. At most 2,000 records are examined per call, so a sparse filter can return a short
   * (even empty) page with a cursor to continue from.
   */
  async list(filter: ListFilter = {}): Promise<RecordingPage> {
    const limit = filter.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new InvalidListFilterError([{ field: 'limit', rule: 'must be an integer from 1 to 500' }]);
    }
    const states = filter.state === undefined ? undefined : ([] as string[]).concat(filter.state);
    const badState = states?.find((s) => !(RECORDING_STATES as readonly string[]).includes(s));
    if (badState !== undefined) {
      throw new InvalidListFilterError([
        {
          field: 'state',
          rule: `must be one of ${RECORDING_STATES.join(', ')} (got ${JSON.stringify(badState)})`,
        },
      ]);
    }
    const position = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    await this.ready();
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
      const pipeline = this.redis.pipeline();
      for (const [id] of batch) pipeline.hgetall(recordingRedisKeys(this.keyPrefix, id).record);
      const replies = (await pipeline.exec()) ?? [];
      for (let i = 0; i < batch.length; i++) {
        last = batch[i];
        scanned += 1;
        const fields = (replies[i]?.[1] ?? {}) as Record<string, string>;
        if (fields.recordingId) {
          const summary = toSummary(fields);
          const matches =
            (!states || states.includes(summary.state)) &&
            (filter.channel === undefined || summary.channel === filter.channel) &&
            (filter.appId === undefined || summary.appId === filter.appId);
          if (matches) recordings.push(summary);
        }
        if (recordings.length >= limit || scanned >= LIST_SCAN_LIMIT) {
          // More may follow unless this was the index's last entry (the next page is then empty).
          break outer;
        }
      }
    }
    await pages.return(undefined);
    const page: RecordingPage = { recordings };
    if (!exhausted && last) page.nextCursor = encodeCursor(last);
    return page;
  }

  /** The index in order (newest first, ties by descending id), from after `after`, in batches. */
  private async *scanIndex(after: [string, number] | undefined): AsyncGenerator<[string, number][]> {
    const key = recordingsIndexKey(this.keyPrefix);
    let pos = after;
    for (;;) {
      let entries: [string, number][] = [];
      if (pos) {
        const [afterId, score] = pos;
        const same = (await this.redis.zrangebyscore(key, score, score)).filter((id) => id < afterId);
        entries = same.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)).map((id) => [id, score]);
      }
      const flat = await this.redis.zrevrangebyscore(
        key,
        pos ? `(${pos[1]}` : '+inf',
        '-inf',
        'WITHSCORES',
        'LIMIT',
        0,
        200,
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
    await this.ready();
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const start = options.afterId ? `(${options.afterId}` : '-';
    const entries = (await this.redis.xrange(keys.events, start, '+', 'COUNT', options.count ?? 1000)) as [
      string,
      string[],
    ][];
    return entries.map(([id, flat]) => toEvent(id, flat));
  }

  private async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Redis at ${this.options.redisUrl} is not reachable`)),
        5000,
      );
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const f of this.followers) f.disconnect();
    await this.queue.close().catch(() => undefined);
    await this.redis.quit().catch(() => undefined);
  }
}

export class RecordingNotFoundError extends Error {
  readonly code = 'RECORDING_NOT_FOUND' as const;
  constructor(readonly recordingId: string) {
    super(`no recording with id ${recordingId}`);
    this.name = 'RecordingNotFoundError';
  }
}

export class InvalidListFilterError extends Error {
  readonly code = 'INVALID_FILTER' as const;
  constructor(readonly problems: FieldProblem[]) {
    super(`invalid list filter: ${problems.map((p) => `${p.field} ${p.rule}`).join('; ')}`);
    this.name = 'InvalidListFilterError';
  }
}

/** A stream entry as a RecordingEvent. */
export function toEvent(id: string, flat: string[]): RecordingEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  return {
    id,
    type: f.type as RecordingEventType,
    at: Number(f.at),
    data: f.data ? (JSON.parse(f.data) as Record<string, unknown>) : {},
  };
}

function toSummary(f: Record<string, string>): RecordingSummary {
  const summary: RecordingSummary = {
    recordingId: f.recordingId ?? '',
    state: f.state ?? 'unknown',
    appId: f.appId ?? '',
    channel: f.channel ?? '',
    uid: Number(f.uid ?? 0),
    createdAt: Number(f.createdAt ?? 0),
    updatedAt: Number(f.updatedAt ?? 0),
  };
  if (f.reason) summary.reason = f.reason;
  if (f.errorCode) summary.errorCode = f.errorCode;
  if (f.callbackUrl) summary.callbackUrl = f.callbackUrl;
  return summary;
}

function encodeCursor([id, score]: [string, number]): string {
  return Buffer.from(JSON.stringify([score, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, number] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && Number.isFinite(value[0]) && typeof value[1] === 'string') {
      return [value[1], value[0] as number];
    }
  } catch {
    // reported below
  }
  throw new InvalidListFilterError([
    { field: 'cursor', rule: 'must be a nextCursor returned by a previous list' },
  ]);
}
