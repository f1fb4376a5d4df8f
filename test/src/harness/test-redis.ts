import { RedisServer } from '@recfleet/embedded';
import { containersWanted, TEST_IMAGES } from './test-containers.js';

/** The Redis a test suite talks to: started fresh per suite, stopped by it. */
export interface TestRedis {
  url: string;
  /** Stop and start again on the same address with the same data (AOF when `appendOnly`). */
  restart(downMs?: number): Promise<void>;
  /** End it at once, as a crash would. */
  kill(): Promise<void>;
  /** kill -9, down for `downMs`, then started again on the same address with its data (AOF). */
  crash(downMs: number): Promise<void>;
  /** SIGSTOP for `ms`, then SIGCONT: a hung Redis, whose connections stay open and answer nothing. */
  freeze(ms: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A private Redis per suite: the system `redis-server` binary on a free port — the default, and what runs
 * where no Docker engine is — or, opted in with RECFLEET_TEST_CONTAINERS (test-containers.ts), a
 * `redis` container through testcontainers. Both run with `noeviction` (BullMQ needs every key).
 */
export async function startTestRedis(options: { appendOnly?: boolean } = {}): Promise<TestRedis> {
  if (containersWanted('redis')) return startRedisContainer(options.appendOnly ?? false);
  const server = await RedisServer.start(options);
  return {
    get url() {
      return server.url;
    },
    restart: (downMs) => server.restart(downMs),
    kill: () => server.kill(),
    async crash(downMs) {
      await server.kill();
      await sleep(downMs);
      await server.restart();
    },
    async freeze(ms) {
      const child = server.process!.child;
      child.kill('SIGSTOP');
      try {
        await sleep(ms);
      } finally {
        child.kill('SIGCONT');
      }
    },
    stop: () => server.stop(),
  };
}

async function startRedisContainer(appendOnly: boolean): Promise<TestRedis> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(TEST_IMAGES.redis)
    .withCommand([
      'redis-server',
      '--maxmemory-policy',
      'noeviction',
      '--appendonly',
      appendOnly ? 'yes' : 'no',
      '--save',
      '',
    ])
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  return {
    url,
    async restart(downMs = 0) {
      await container.exec(['redis-cli', 'shutdown']).catch(() => undefined);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await container.restart();
    },
    async kill() {
      await container.exec(['sh', '-c', 'kill -9 1']).catch(() => undefined);
    },
    async crash(downMs) {
      await container.exec(['sh', '-c', 'kill -9 1']).catch(() => undefined);
      await sleep(downMs);
      await container.restart();
    },
    async freeze(ms) {
      await container.exec(['sh', '-c', 'kill -STOP 1']);
      await sleep(ms);
      await container.exec(['sh', '-c', 'kill -CONT 1']);
    },
    async stop() {
      await container.stop();
    },
  };
}
