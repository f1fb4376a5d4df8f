import { boundedRedisCall, openRedis, RedisUnavailableError } from '@recfleet/contract';
import type { Redis, RedisOptions } from 'ioredis';

/**
 * What a producer can tell of its Redis: it answers, it cannot be reached, or it accepts connections but
 * does not answer (hung).
 */
export const REDIS_HEALTH = ['up', 'down', 'not_answering'] as const;
export type RedisHealth = (typeof REDIS_HEALTH)[number];

/**
 * The ioredis options of a producer connection whose every call is bounded by `timeoutMs`:
 *
 * - no offline queue and one retry: a command is never queued while the connection is down, to run
 *   after its caller was told it failed;
 * - unfulfilled commands are not sent again after a reconnect, for the same reason;
 * - `socketTimeout`: a socket that receives nothing while a command waits (a SIGSTOPped or frozen
 *   Redis, a primary gone without closing its connections) is destroyed and the connection reconnects,
 *   instead of keeping every later command queued behind the one that never returns;
 * - reconnect attempts at most a second apart, so that a Redis back from an outage is used within a
 *   second rather than after ioredis's default backoff of up to 5 s.
 *
 * `blockMs`: the longest blocking command the connection sends (its socket is silent that long).
 */
export function boundedConnectionOptions(timeoutMs: number, blockMs = 0): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    socketTimeout: timeoutMs + blockMs,
    connectTimeout: Math.max(timeoutMs, 1000),
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
  };
}

/**
 * One Redis connection of a producer, with a bound on every call: `call` waits for the connection to be
 * ready and for the answer within one deadline, and fails with RedisUnavailableError otherwise. Callers
 * waiting for the connection meanwhile share one `ready` listener, removed when none waits any more.
 */
export class BoundedConnection {
  readonly redis: Redis;
  private readyEvent: Promise<void> | undefined;
  private removeReadyListener: (() => void) | undefined;
  private waiting = 0;
  private lastError: Error | undefined;
  /** The last connection attempt reached a server (TCP connected) before it closed. */
  private lastAttemptReachedServer = false;
  private attemptReachedServer = false;

  constructor(
    url: string,
    /** The Redis URL without credentials, for messages. */
    readonly where: string,
    readonly timeoutMs: number,
    options: RedisOptions = {},
  ) {
    this.redis = openRedis(url, { ...boundedConnectionOptions(timeoutMs), ...options });
    this.redis.on('error', (err: Error) => (this.lastError = err));
    this.redis.on('connecting', () => (this.attemptReachedServer = false));
    this.redis.on('connect', () => (this.attemptReachedServer = true));
    this.redis.on('close', () => (this.lastAttemptReachedServer = this.attemptReachedServer));
    this.redis.on('ready', () => {
      this.lastError = undefined;
      this.lastAttemptReachedServer = true;
    });
  }

  /** A deadline `timeoutMs` from now, for a method that makes several calls within one bound. */
  deadline(timeoutMs = this.timeoutMs): number {
    return Date.now() + timeoutMs;
  }

  /**
   * One Redis operation, once the connection is ready, both before `deadline`. A connection that is not
   * ready in time fails as "not reachable", with the connection's own reason.
   */
  async call<T>(op: () => Promise<T>, deadline = this.deadline()): Promise<T> {
    await this.whenReady(deadline);
    return boundedRedisCall(op, { timeoutMs: Math.max(1, deadline - Date.now()), where: this.where });
  }

  /** Whether Redis answers a PING within `timeoutMs`, and if not, whether it is down or hung. */
  async health(timeoutMs: number): Promise<RedisHealth> {
    try {
      await this.call(() => this.redis.ping(), this.deadline(timeoutMs));
      return 'up';
    } catch {
      return this.reachesServer() ? 'not_answering' : 'down';
    }
  }

  /**
   * A server accepts our connections: the connection is up (or its handshake is under way), or the last
   * attempt got that far before it was closed (by the socket timeout, when the server does not answer).
   */
  private reachesServer(): boolean {
    const status = this.redis.status;
    if (status === 'ready' || status === 'connect') return true;
    return this.lastAttemptReachedServer && status !== 'end';
  }

  /** Resolves once the connection is ready; RedisUnavailableError when it is not by `deadline`. */
  whenReady(deadline: number): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    if (!this.readyEvent) {
      this.readyEvent = new Promise<void>((resolve) => {
        const onReady = (): void => {
          this.readyEvent = undefined;
          this.removeReadyListener = undefined;
          resolve();
        };
        this.redis.once('ready', onReady);
        this.removeReadyListener = () => this.redis.off('ready', onReady);
      });
    }
    const event = this.readyEvent;
    this.waiting += 1;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        this.waiting -= 1;
        // The last waiter gone: no listener is left behind on a connection that stays down.
        if (this.waiting === 0 && this.readyEvent === event) {
          this.removeReadyListener?.();
          this.readyEvent = undefined;
          this.removeReadyListener = undefined;
        }
        return true;
      };
      const timer = setTimeout(
        () => {
          if (!done()) return;
          const reason = this.lastError?.message.split('\n')[0];
          reject(
            new RedisUnavailableError(
              `Redis at ${this.where} is not reachable${reason ? ` (${reason})` : ''}`,
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      void event.then(() => {
        if (done()) resolve();
      });
    });
  }

  /** Closes the connection; a Redis that does not answer the QUIT within half a second is left at once. */
  async close(): Promise<void> {
    if (this.redis.status === 'ready') {
      await boundedRedisCall(() => this.redis.quit(), { timeoutMs: 500, where: this.where }).catch(
        () => undefined,
      );
    }
    this.redis.disconnect();
  }
}
