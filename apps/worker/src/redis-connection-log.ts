import type { Logger } from 'pino';

/**
 * What the worker says about its Redis, across all its connections (the queue's, the BullMQ workers',
 * its own): once, clearly, when the first connect fails — which Redis, where that URL came from, what
 * the connect answered — then nothing while ioredis keeps retrying (its backoff ends at one attempt
 * every 2 s); once per outage of a connection that had been up; once when Redis answers. BullMQ and
 * ioredis would otherwise repeat the same error, with its stack, several times a second.
 */
export class RedisConnectionLog {
  private everConnected = false;
  private down = false;
  private downSince = 0;

  /** `where`: the Redis URL without credentials; `origin`: what set it (RECFLEET_REDIS_URL, a file, the default). */
  constructor(
    private readonly log: Logger,
    private readonly where: string,
    private readonly origin: string,
  ) {}

  /** Whether Redis is unreachable now (told already: errors it causes need not be told again). */
  get isDown(): boolean {
    return this.down;
  }

  /** A connection's first error of an outage (openRedis's `onOutage`). */
  readonly onOutage = (err: Error): void => {
    if (this.down) return;
    this.down = true;
    this.downSince = Date.now();
    const reason = describeConnectError(err);
    if (!this.everConnected) {
      this.log.error(
        { redisUrl: this.where, from: this.origin, err: reason },
        `cannot reach Redis at ${this.where} (${this.origin}): ${reason}; retrying until it answers, at most every 2 s — no job is taken meanwhile`,
      );
    } else {
      this.log.warn(
        { redisUrl: this.where, err: reason },
        `Redis connection lost (${this.where}: ${reason}); reconnecting`,
      );
    }
  };

  /** A connection is ready (ioredis `ready`). */
  readonly onReady = (): void => {
    const wasDown = this.down;
    const first = !this.everConnected;
    this.down = false;
    this.everConnected = true;
    if (first) {
      const after = wasDown ? ` after ${Math.round((Date.now() - this.downSince) / 1000)} s` : '';
      this.log.info({ redisUrl: this.where }, `connected to Redis at ${this.where}${after}`);
    }
  };
}

/** The part of a connect error an operator acts on: `connect ECONNREFUSED 127.0.0.1:6379`, `getaddrinfo ENOTFOUND redis`. */
function describeConnectError(err: Error): string {
  return err.message.split('\n')[0] || err.name;
}

/**
 * Errors BullMQ repeats (a lost connection, a lapsed lock's renewal) every few seconds, told once a
 * minute each: whether an error is to be logged now.
 */
export class RepeatedErrors {
  private readonly toldAt = new Map<string, number>();

  constructor(private readonly everyMs = 60_000) {}

  shouldTell(err: Error): boolean {
    const now = Date.now();
    if (now - (this.toldAt.get(err.message) ?? -Infinity) < this.everyMs) return false;
    if (this.toldAt.size > 100) this.toldAt.clear();
    this.toldAt.set(err.message, now);
    return true;
  }
}
