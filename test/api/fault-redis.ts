import { recordingRedisKeys, storageProfilesKey } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import { Redis } from 'ioredis';

/**
 * A private Redis for fault tests (AOF on, so a kill and restart keeps its data): a connection of the
 * test's that waits through outages, the fleet's `local` storage profile registered, and the hang
 * (SIGSTOP: accepts connections, answers nothing) and resume of the server.
 */
export class FaultRedis {
  private constructor(
    readonly server: RedisServer,
    readonly redis: Redis,
    readonly worker: WorkerEvents,
  ) {}

  static async start(): Promise<FaultRedis> {
    const server = await RedisServer.start({ appendOnly: true });
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    await redis.sadd(storageProfilesKey('recfleet'), 'local');
    return new FaultRedis(server, redis, new WorkerEvents(redis));
  }

  get url(): string {
    return this.server.url;
  }

  hang(): void {
    process.kill(this.server.process!.pid!, 'SIGSTOP');
  }

  resume(): void {
    if (this.server.process?.running) process.kill(this.server.process.pid!, 'SIGCONT');
  }

  /** Resumed first: a stopped server would not hear the SIGTERM. */
  async stop(): Promise<void> {
    this.resume();
    this.redis.disconnect();
    await this.server.stop();
  }
}

/**
 * A recording's events written as its worker writes them (XADD on the recording's events stream), for
 * tests of the followers that need no worker: what they read is exactly what a worker would leave.
 */
export class WorkerEvents {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix = 'recfleet',
  ) {}

  /** Appends one event; resolves to its stream id. */
  append(recordingId: string, type: string, data: Record<string, unknown> = {}): Promise<unknown> {
    return this.redis.xadd(
      recordingRedisKeys(this.keyPrefix, recordingId).events,
      '*',
      'type',
      type,
      'at',
      String(Date.now()),
      'data',
      JSON.stringify(data),
    );
  }

  /** `count` segments from `from`, each cut (`segment`) and delivered (`uploaded_segment`). */
  async segments(recordingId: string, from: number, count: number): Promise<void> {
    for (let sequence = from; sequence < from + count; sequence++) {
      await this.append(recordingId, 'segment', { sequence, durationSeconds: 1, bytes: 1000 });
      await this.append(recordingId, 'uploaded_segment', { sequence, bytes: 1000 });
    }
  }

  /** The stream ids of the recording's events, in order. */
  async ids(recordingId: string): Promise<string[]> {
    return (await this.redis.xrange(recordingRedisKeys(this.keyPrefix, recordingId).events, '-', '+')).map(
      ([id]) => id,
    );
  }
}
