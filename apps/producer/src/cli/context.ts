import { DEFAULT_KEY_PREFIX, openRedis, redactUrl } from '@recfleet/contract';
import type { Redis } from 'ioredis';
import { RecordingRecords } from '../dashboard/recording-records.js';
import { RecordingClient } from '../recording-client.js';
import { CliError, ExitCode } from './errors.js';

/** Where the CLI writes: the process's streams, or anything that looks like them (tests). */
export interface CliIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(chunk: string): unknown };
  env: Record<string, string | undefined>;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const CONNECT_TIMEOUT_MS = 5000;

/** What a command runs with: output settings and lazily opened Redis connections. */
export class CliContext {
  private probe?: Redis;
  private clientInstance?: RecordingClient;
  private readonly extra = new Set<Redis>();

  constructor(
    readonly io: CliIo,
    readonly redisUrl: string,
    readonly json: boolean,
    /** The fleet's key prefix (workers' `keyPrefix`). */
    readonly keyPrefix: string = DEFAULT_KEY_PREFIX,
  ) {}

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** One JSON document (or one JSON line, for streams) on stdout. */
  outJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  err(line: string): void {
    this.io.stderr.write(`recfleet: ${line}\n`);
  }

  /** A connection to Redis, checked: a Redis that cannot be reached is exit code 5, not a hang. */
  async redis(): Promise<Redis> {
    if (!this.probe) this.probe = await this.connect();
    return this.probe;
  }

  /** Another checked connection (for blocking reads). */
  async dedicatedRedis(): Promise<Redis> {
    const r = await this.connect();
    this.extra.add(r);
    return r;
  }

  async records(): Promise<RecordingRecords> {
    return new RecordingRecords(await this.redis(), { keyPrefix: this.keyPrefix });
  }

  async client(): Promise<RecordingClient> {
    await this.redis();
    this.clientInstance ??= new RecordingClient({ redisUrl: this.redisUrl, keyPrefix: this.keyPrefix });
    return this.clientInstance;
  }

  private async connect(): Promise<Redis> {
    const redis = openRedis(this.redisUrl, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Once connected, ride through a short blip; give up (and report it) after ~5 s.
      retryStrategy: (attempt) => (attempt > 10 ? null : Math.min(attempt * 100, 1000)),
      // Sentinel's lookups retry on their own schedule (forever by default): bound them the same way.
      sentinelRetryStrategy: (attempt) => (attempt > 10 ? null : Math.min(attempt * 100, 1000)),
    });
    let lastError: Error | undefined;
    redis.on('error', (e: Error) => {
      lastError = e;
    });
    try {
      await redis.connect();
      return redis;
    } catch (e) {
      redis.disconnect();
      throw redisUnreachable(this.redisUrl, lastError ?? e);
    }
  }

  async close(): Promise<void> {
    await this.clientInstance?.close().catch(() => undefined);
    for (const r of this.extra) r.disconnect();
    if (this.probe) await this.probe.quit().catch(() => this.probe?.disconnect());
  }
}

export function redisUnreachable(url: string, cause: unknown): CliError {
  const reason = cause instanceof Error && cause.message ? ` (${cause.message.split('\n')[0]})` : '';
  return new CliError(
    ExitCode.REDIS_UNREACHABLE,
    'REDIS_UNREACHABLE',
    `Redis at ${redactUrl(url)} is not reachable${reason}`,
  );
}

/** Errors from ioredis that mean the connection is gone (rather than a bad command). */
export function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return (
    /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|MaxRetriesPerRequest|Stream isn't writeable|not reachable/i.test(
      e.message,
    ) || (e as { code?: string }).code === 'ECONNREFUSED'
  );
}
