/**
 * What every demo variant runs on: a private Redis, the embedded channel server, one worker process
 * (configured as an operator would: a JSON file in RECFLEET_CONFIG) and the producer client. Each part
 * is registered for clean-up as soon as it runs, so an error or Ctrl-C at any point leaves nothing.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { ChannelServer, ManagedProcess, RedisServer } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';

/** What every variant is given: how long to record and where the local storage profile writes. */
export interface DemoOptions {
  seconds: number;
  outputRoot: string;
}

export const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** A path as the user should type it: relative to where they are when that is shorter. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

/** Steps undone in reverse order, once, whatever ends the demo. */
export class DemoCleanup {
  private readonly steps: (() => Promise<unknown>)[] = [];
  private running: Promise<void> | undefined;

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) await step().catch(() => undefined);
    })();
    return this.running;
  }
}

export interface DemoStack {
  redis: RedisServer;
  channels: ChannelServer;
  worker: ManagedProcess;
  client: RecordingClient;
  /** The local storage profile's root, where the recording lands. */
  outputRoot: string;
}

/** The environment variable the worker reads the channel server's API secret from (never its config file). */
const API_SECRET_ENV = 'RECFLEET_DEMO_CHANNEL_API_SECRET';

/**
 * Starts the stack. The worker's channel directory points at the embedded server (its RTMP base, its
 * HTTP API and the API's secret), so that the same worker records single streams and channels of users.
 */
export async function startDemoStack(outputRoot: string, cleanup: DemoCleanup): Promise<DemoStack> {
  const redis = await RedisServer.start();
  cleanup.add(() => redis.stop());
  const channels = await ChannelServer.start();
  cleanup.add(() => channels.stop());

  const work = await mkdtemp(join(tmpdir(), 'recfleet-demo-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  await mkdir(outputRoot, { recursive: true });
  const configPath = join(work, 'worker.json');
  await writeFile(
    configPath,
    JSON.stringify({
      redisUrl: redis.url,
      spoolDir: join(work, 'spool'),
      storageProfiles: { local: { type: 'local', root: outputRoot } },
      channelDirectory: {
        type: 'node-media-server',
        rtmpUrl: channels.rtmpBaseUrl,
        apiUrl: channels.apiUrl,
        apiSecret: { env: API_SECRET_ENV },
      },
      progressIntervalSeconds: 2,
      logLevel: 'warn',
    }),
  );
  const workerMain = join(dirname(createRequire(import.meta.url).resolve('@recfleet/worker')), 'main.js');
  const worker = new ManagedProcess('worker', process.execPath, [workerMain], {
    env: {
      ...process.env,
      RECFLEET_CONFIG: configPath,
      RECFLEET_READY_LINE: '1',
      [API_SECRET_ENV]: channels.apiSecret,
    },
  });
  cleanup.add(() => worker.stop('SIGTERM', 10_000));
  await worker.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 20_000);

  const client = new RecordingClient({ redisUrl: redis.url });
  cleanup.add(() => client.close());
  return { redis, channels, worker, client, outputRoot };
}

/**
 * Stops the recording after `seconds`, or at the first Ctrl-C; `cancelTimer` is for a recording that
 * ended by itself first.
 */
export function stopAfter(
  client: RecordingClient,
  recordingId: string,
  seconds: number,
): { cancelTimer: () => void } {
  let requested = false;
  const stop = (): void => {
    if (requested) return;
    requested = true;
    void client.stop(recordingId).catch(() => undefined);
  };
  const timer = setTimeout(stop, seconds * 1000);
  process.once('SIGINT', stop);
  return {
    cancelTimer: () => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
    },
  };
}
