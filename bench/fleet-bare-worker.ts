/**
 * The reference side of the fleet benchmark's join measurement: a plain BullMQ `Worker` with the same
 * connection, prefix, lock, stalled-check and concurrency settings as a recfleet worker, whose
 * processor does only the media join — a native `Recorder` opening the same RTMP source. No job
 * validation, durable record, claim/epoch, segment index or uploader: the ratio of the two join times
 * is recfleet's own overhead.
 *
 * When the recorder's `joined` event fires it appends `joined` (with `at`, epoch ms, taken in the event
 * handler exactly as a recfleet session does) to `<prefix>:bench-bare:{<jobId>}:events`, stops the
 * recorder, and appends `done` once the job is over.
 *
 * Usage: node fleet-bare-worker.js '<BareWorkerOptions as JSON>'
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Recorder } from '@recfleet/engine-binding';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

export interface BareWorkerOptions {
  redisUrl: string;
  queueName: string;
  prefix: string;
  spoolDir: string;
  lockSeconds: number;
  stalledCheckSeconds: number;
  concurrency: number;
}

export interface BareJobData {
  recordingId: string;
  sourceUrl: string;
  segmentSeconds: number;
  maxIdleSeconds: number;
}

export function bareEventsKey(prefix: string, jobId: string): string {
  return `${prefix}:bench-bare:{${jobId}}:events`;
}

async function main(o: BareWorkerOptions): Promise<void> {
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const processor = async (job: Job<BareJobData>): Promise<void> => {
    const { recordingId, sourceUrl, segmentSeconds, maxIdleSeconds } = job.data;
    const key = bareEventsKey(o.prefix, String(job.id));
    const outputDir = join(o.spoolDir, recordingId);
    await mkdir(outputDir, { recursive: true });
    const recorder = new Recorder();
    const joined = new Promise<void>((resolve) => {
      recorder.once('joined', () => {
        const at = Date.now();
        void redis.xadd(key, '*', 'type', 'joined', 'at', String(at)).finally(resolve);
      });
    });
    recorder.start({ recordingId, sourceUrl, outputDir, segmentSeconds, maxIdleSeconds });
    await Promise.race([joined, recorder.done]);
    if (recorder.state === 'running') await recorder.stop().catch(() => undefined);
    const last = await recorder.done;
    await recorder.release().catch(() => undefined);
    await rm(outputDir, { recursive: true, force: true });
    await redis.xadd(key, '*', 'type', 'done', 'at', String(Date.now()), 'data', JSON.stringify(last));
  };
  const worker = new Worker<BareJobData>(o.queueName, processor, {
    connection: new Redis(o.redisUrl, { maxRetriesPerRequest: null }),
    prefix: o.prefix,
    concurrency: o.concurrency,
    name: 'bench-bare',
    lockDuration: o.lockSeconds * 1000,
    stalledInterval: o.stalledCheckSeconds * 1000,
    maxStalledCount: 1_000_000,
    autorun: false,
  });
  worker.on('error', (err) => process.stderr.write(`bare worker error: ${err.message}\n`));
  await worker.waitUntilReady();
  void worker.run();
  process.stdout.write('BARE_WORKER_READY\n');
  const shutdown = (): void => {
    void worker.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

// Run only as a process entry point (fleet-bench.ts imports the types and key helper from this file).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(JSON.parse(process.argv[2] ?? '{}') as BareWorkerOptions);
}
