import { randomBytes } from 'node:crypto';
import {
  DEFAULT_KEY_PREFIX,
  parseFailure,
  parseRecordingJob,
  RECORD_JOB_NAME,
  RECORDINGS_QUEUE,
  recordingRedisKeys,
  TERMINAL_EVENTS,
  type ControlRequest,
  type RecordingEvent,
  type RecordingEventType,
  type RecordingJobInput,
  type RecordingResult,
} from '@recfleet/contract';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

export interface RecordingClientOptions {
  redisUrl: string;
  keyPrefix?: string;
  queueName?: string;
}

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
    this.redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    });
    this.queue = new Queue(options.queueName ?? RECORDINGS_QUEUE, {
      connection: new Redis(options.redisUrl, { maxRetriesPerRequest: 1 }).on('error', () => undefined),
      prefix: this.keyPrefix,
    });
    this.queue.on('error', () => undefined);
  }

  async start(request: StartRequest): Promise<RecordingHandle> {
    const recordingId = request.recordingId ?? `rec-${randomBytes(8).toString('hex')}`;
    const job = parseRecordingJob({ ...request, recordingId, requestedAt: Date.now() });
    await this.ready();
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    // The record is created once; a second start with the same id finds it and adds nothing.
    const created = await this.redis.hsetnx(keys.record, 'recordingId', recordingId);
    if (created === 1) {
      await this.redis.hset(keys.record, {
        state: 'queued',
        appId: job.appId,
        channel: job.channel,
        uid: job.uid,
        createdAt: Date.now(),
        updatedAt: Date.now(),
      });
      await this.redis.xadd(keys.events, '*', 'type', 'queued', 'at', String(Date.now()), 'data', '{}');
    }
    // jobId = recordingId: BullMQ ignores an add whose id exists, so retries of start are harmless.
    await this.queue.add(RECORD_JOB_NAME, job, {
      jobId: recordingId,
      attempts: 1,
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    });
    return { recordingId, created: created === 1 };
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
    const reader = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null });
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
            const f: Record<string, string> = {};
            for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
            const event: RecordingEvent = {
              id,
              type: f.type as RecordingEventType,
              at: Number(f.at),
              data: f.data ? (JSON.parse(f.data) as Record<string, unknown>) : {},
            };
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
