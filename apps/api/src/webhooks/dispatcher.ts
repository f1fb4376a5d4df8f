import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  DEFAULT_KEY_PREFIX,
  openRedis,
  recordingRedisKeys,
  redactText,
  redactUrl,
  runScript,
  webhookLeaseKey,
  webhookRecordingsKey,
} from '@recfleet/contract';
import type { Redis } from 'ioredis';
import {
  isSettled,
  LAST_EVENTS,
  SETTLED_WITHOUT_EVENT_MS,
  signWebhook,
  toEvent,
  WEBHOOK_HEADERS,
  type WebhookPayload,
  webhookSecretProblem,
} from '@recfleet/client';

export interface WebhookLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface WebhookDispatcherOptions {
  redisUrl: string;
  keyPrefix?: string;
  /**
   * The Standard Webhooks secret (`whsec_<base64>`; a secret without the prefix is used as its own
   * bytes), or several while receivers move from one to the next: every delivery is signed with each.
   */
  secret: string | readonly string[];
  /** Delay before the first retry of a failed delivery; doubles every attempt (with jitter). */
  initialRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Attempts per event before it is given up (counted in the record's `webhookDropped`). */
  maxAttempts?: number;
  /** Limit of one delivery attempt. */
  timeoutMs?: number;
  /** How often a recording's event stream is read for new events when it had none. */
  pollIntervalMs?: number;
  /** One dispatcher of a fleet delivers at a time; the others wait for its lease to lapse. */
  leaseMs?: number;
  log?: WebhookLogger;
}

/** A dispatcher connection that receives nothing this long while a command waits is dropped. */
const REDIS_SOCKET_TIMEOUT_MS = 10_000;

/** Record field: the stream id of the last event delivered (or given up); delivery resumes after it. */
export const WEBHOOK_DELIVERED_FIELD = 'webhookDelivered';

/**
 * Delivers the events of recordings that named a `callbackUrl` (registered in `<prefix>:webhooks` at
 * start) as JSON POSTs signed as Standard Webhooks, in order per recording, at least once: the id of the last delivered
 * event is kept in the recording's record, so a restarted dispatcher resumes after it and repeats at
 * most the event that was in flight; a Redis outage (restart, failover, a Redis that stops answering)
 * pauses delivery, which resumes after the last delivered event. A failed delivery (network error,
 * timeout, non-2xx) is retried with exponential backoff; the same event is always sent with the same
 * id. Runs inside the API process or on its own (`recfleet-webhooks`); with several running, one holds the lease and delivers.
 *
 * Emits `delivered` (payload, attempts, ms), `attempt_failed` (payload, attempt, error, ms), `retry`
 * (payload, the next attempt, the delay before it in ms) and `dropped` (payload).
 */
export class WebhookDispatcher extends EventEmitter {
  private readonly redis: Redis;
  private readonly keyPrefix: string;
  private readonly token = randomBytes(8).toString('hex');
  private readonly loops = new Map<string, Promise<void>>();
  /** Per recording followed, when the event it is delivering now happened (ms since epoch). */
  private readonly undelivered = new Map<string, number>();
  private term: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly o: WebhookDispatcherOptions) {
    super();
    const secrets = ([] as string[]).concat(o.secret);
    if (secrets.length === 0) throw new Error('a webhook secret is required');
    const problem = secrets.map(webhookSecretProblem).find((p) => p !== undefined);
    if (problem !== undefined) throw new Error(`webhook secret: ${problem}`);
    this.keyPrefix = o.keyPrefix ?? DEFAULT_KEY_PREFIX;
    // Waits through outages (commands are kept and sent again after a reconnect: every one is a read or
    // an idempotent write), but drops a socket Redis stops answering, so that a hung or failed-over
    // primary does not hold the dispatcher forever, and reconnects within a second of Redis's return.
    this.redis = openRedis(o.redisUrl, {
      maxRetriesPerRequest: null,
      socketTimeout: REDIS_SOCKET_TIMEOUT_MS,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
    });
    this.redis.on('error', () => undefined);
  }

  private get leaseKey(): string {
    return webhookLeaseKey(this.keyPrefix);
  }

  private get leaseMs(): number {
    return this.o.leaseMs ?? 15_000;
  }

  /** Whether this dispatcher holds the lease and delivers. */
  get leader(): boolean {
    return this.term !== undefined;
  }

  /** Recordings whose events this dispatcher is delivering now. */
  get followed(): number {
    return this.loops.size;
  }

  /**
   * When the oldest event not yet delivered happened (ms since epoch), among the recordings this
   * dispatcher follows: the event each is delivering (or retrying) now; undefined when it is caught up.
   */
  oldestUndeliveredAt(): number | undefined {
    let oldest: number | undefined;
    for (const at of this.undelivered.values()) if (oldest === undefined || at < oldest) oldest = at;
    return oldest;
  }

  async start(): Promise<void> {
    await this.tick();
    const every = Math.max(100, Math.min(1000, this.leaseMs / 3));
    this.timer = setInterval(() => {
      this.ticking = this.ticking.then(() => this.tick());
    }, every);
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.term) {
        const renewed = await runScript(this.redis, 'renewLock', [this.leaseKey], [this.token, this.leaseMs]);
        if (renewed !== 1) {
          this.o.log?.warn({}, 'webhook lease lost; another dispatcher delivers');
          await this.endTerm();
          return;
        }
      } else {
        const got = await this.redis.set(this.leaseKey, this.token, 'PX', this.leaseMs, 'NX');
        if (got !== 'OK') return;
        this.term = new AbortController();
        this.o.log?.info({}, 'webhook dispatcher delivering');
      }
      const term = this.term;
      for (const recordingId of await this.redis.smembers(webhookRecordingsKey(this.keyPrefix))) {
        if (this.loops.has(recordingId)) continue;
        const loop = this.follow(recordingId, term.signal)
          .catch((err: unknown) => {
            this.o.log?.warn({ recordingId, err: (err as Error).message }, 'webhook delivery paused');
          })
          .finally(() => {
            this.loops.delete(recordingId);
            this.undelivered.delete(recordingId);
          });
        this.loops.set(recordingId, loop);
      }
    } catch (err) {
      this.o.log?.warn({ err: (err as Error).message }, 'webhook dispatcher tick failed');
    }
  }

  private async endTerm(): Promise<void> {
    this.term?.abort();
    this.term = undefined;
    await Promise.allSettled([...this.loops.values()]);
  }

  /** Delivers one recording's events in order until its last one, or until the term ends. */
  private async follow(recordingId: string, signal: AbortSignal): Promise<void> {
    const keys = recordingRedisKeys(this.keyPrefix, recordingId);
    const [callbackUrl, delivered] = await this.redis.hmget(
      keys.record,
      'callbackUrl',
      WEBHOOK_DELIVERED_FIELD,
    );
    if (!callbackUrl) {
      await this.redis.srem(webhookRecordingsKey(this.keyPrefix), recordingId);
      return;
    }
    let lastId = delivered || '0-0';
    while (!signal.aborted) {
      const entries = (await this.redis.xrange(keys.events, `(${lastId}`, '+', 'COUNT', 100)) as [
        string,
        string[],
      ][];
      if (entries.length === 0) {
        const [state, updatedAt] = await this.redis.hmget(keys.record, 'state', 'updatedAt');
        // Settled this long without a last event (it failed before any worker ran it): done.
        if (isSettled(state ?? undefined) && Date.now() - Number(updatedAt) > SETTLED_WITHOUT_EVENT_MS) {
          await this.redis.srem(webhookRecordingsKey(this.keyPrefix), recordingId);
          return;
        }
        await sleep(this.o.pollIntervalMs ?? 500, signal);
        continue;
      }
      for (const [id, flat] of entries) {
        const event = toEvent(id, flat);
        const payload: WebhookPayload = {
          id: `${recordingId}:${id}`,
          recordingId,
          type: event.type,
          at: event.at,
          data: event.data,
        };
        this.undelivered.set(recordingId, event.at);
        const outcome = await this.deliver(callbackUrl, payload, signal);
        if (outcome === 'aborted') return;
        this.undelivered.delete(recordingId);
        if (outcome === 'dropped') await this.redis.hincrby(keys.record, 'webhookDropped', 1);
        // Written only after the receiver answered 2xx: a crash here repeats this one event, no more.
        await this.redis.hset(keys.record, WEBHOOK_DELIVERED_FIELD, id);
        lastId = id;
        // Not at `backed_up`: the receiver also gets the `uploaded` that follows once the drain is done.
        if (LAST_EVENTS.includes(event.type)) {
          await this.redis.srem(webhookRecordingsKey(this.keyPrefix), recordingId);
          return;
        }
      }
    }
  }

  private async deliver(
    url: string,
    payload: WebhookPayload,
    signal: AbortSignal,
  ): Promise<'delivered' | 'dropped' | 'aborted'> {
    const body = JSON.stringify(payload);
    const maxAttempts = this.o.maxAttempts ?? 15;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) return 'aborted';
      const timestamp = String(Math.floor(Date.now() / 1000));
      const began = performance.now();
      let error: string;
      try {
        const res = await fetch(url, {
          method: 'POST',
          body,
          redirect: 'manual',
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.o.timeoutMs ?? 10_000)]),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'recfleet-webhooks/1',
            [WEBHOOK_HEADERS.id]: payload.id,
            [WEBHOOK_HEADERS.timestamp]: timestamp,
            [WEBHOOK_HEADERS.signature]: signWebhook(this.o.secret, payload.id, timestamp, body),
            'x-recfleet-attempt': String(attempt),
          },
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) {
          this.emit('delivered', payload, attempt, performance.now() - began);
          return 'delivered';
        }
        error = `HTTP ${res.status}`;
      } catch (err) {
        if (signal.aborted) return 'aborted';
        error = (err as Error).message;
      }
      this.emit('attempt_failed', payload, attempt, error, performance.now() - began);
      if (attempt >= maxAttempts) {
        this.o.log?.warn(
          { eventId: payload.id, url: redactUrl(url), attempts: attempt, error: redactText(error) },
          'webhook dropped',
        );
        this.emit('dropped', payload);
        return 'dropped';
      }
      const base = Math.min(
        this.o.maxRetryDelayMs ?? 300_000,
        (this.o.initialRetryDelayMs ?? 1000) * 2 ** (attempt - 1),
      );
      const delay = base * (0.75 + Math.random() * 0.5);
      this.emit('retry', payload, attempt + 1, delay);
      await sleep(delay, signal);
    }
  }

  /**
   * Stops delivering (an event in flight is abandoned and sent again by the next dispatcher). Bounded:
   * with Redis down or hung, each step is given up after a while (the lease then lapses by itself).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await settledWithin(this.ticking, CLOSE_STEP_MS);
    const wasLeader = this.leader;
    await settledWithin(this.endTerm(), CLOSE_STEP_MS);
    if (wasLeader) {
      await settledWithin(runScript(this.redis, 'releaseLock', [this.leaseKey], [this.token]), CLOSE_STEP_MS);
    }
    await settledWithin(this.redis.quit(), CLOSE_STEP_MS);
    this.redis.disconnect();
  }
}

/** How long close waits for each of its steps. */
const CLOSE_STEP_MS = 1000;

/** Resolves when `p` settles, or after `ms`, whichever comes first. */
function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
