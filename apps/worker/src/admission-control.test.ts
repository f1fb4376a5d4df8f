/**
 * Admission by streams: a single-stream recording costs one stream, a channel recording reserves its
 * maxUsers. A host never takes a job that does not fit its budget — it puts it back, backing off, for
 * another host — except when it runs nothing at all. Two RecordingWorkers in this process, with
 * scripted recorders and a scripted channel directory, on a private redis-server.
 */
import { join } from 'node:path';
import { RECORD_JOB_NAME, recordingRedisKeys, RECORDINGS_QUEUE } from '@recfleet/contract';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionControl } from './admission-control.js';
import { WorkerConfigSchema } from './config.js';
import { RecordingWorker } from './recording-worker.js';
import { linesLogger, ScriptedDirectory, ScriptedRecorder, SessionTestbed } from './test-support.js';

/** Four streams: one core at a quarter of a core each. */
const streams = { cpuBudgetCores: 1, cpuCoresPerStream: 0.25, memoryMbPerStream: 1 };

describe('admission control', () => {
  it('reserves streams: what does not fit is refused, an empty host takes anything', () => {
    const host = new AdmissionControl(streams, 50);
    expect(host.capacity).toBe(4);
    expect(host.admit('a', 1)).toBe(true);
    expect(host.admit('b', 1)).toBe(true);
    expect(host.admit('channel', 3)).toBe(false);
    // Backing off after the refusal: it holds what it runs and takes nothing more for now.
    expect(host.concurrency()).toBe(2);
    // Room again: it looks at once, for as many single streams as would fit.
    host.release('a');
    expect(host.concurrency()).toBe(4);
    expect(host.admit('channel', 3)).toBe(true);
    expect(host.snapshot()).toMatchObject({ capacity: 4, streams: 4, recordings: 2 });
    expect(host.concurrency()).toBe(2);

    const empty = new AdmissionControl(streams, 50);
    expect(empty.admit('larger than the host', 17)).toBe(true);
    expect(empty.admit('one more', 1)).toBe(false);

    const few = new AdmissionControl(streams, 2);
    expect(few.admit('a', 1) && few.admit('b', 1)).toBe(true);
    expect(few.admit('c', 1)).toBe(false);
  });
});

describe('admission of jobs by streams', () => {
  let bed: SessionTestbed;
  let queue: Queue;
  const workers: RecordingWorker[] = [];
  const logs: string[] = [];
  const directory = new ScriptedDirectory();

  beforeAll(async () => {
    bed = await SessionTestbed.start('admission');
    queue = new Queue(RECORDINGS_QUEUE, { connection: { url: bed.url }, prefix: 'recfleet' });
  });
  afterAll(async () => {
    for (const w of workers) await w.close();
    await queue?.close();
    await bed?.stop();
  });

  async function worker(name: string): Promise<RecordingWorker> {
    const config = WorkerConfigSchema.parse({
      redisUrl: bed.url,
      spoolDir: join(bed.dir, `spool-${name}`),
      storageProfiles: { local: { type: 'local', root: bed.storeRoot } },
      admission: streams,
      progressIntervalSeconds: 1,
      drainIntervalSeconds: 600,
      shutdownGraceSeconds: 0,
    });
    const w = new RecordingWorker(config, linesLogger(logs, `${name} `), {
      createRecorder: () => new ScriptedRecorder({ segmentMs: 200 }),
      createDirectory: () => directory,
      identity: { host: name, name: `${name}:1` },
    });
    await w.start();
    workers.push(w);
    return w;
  }

  const job = (recordingId: string, extra: Record<string, unknown>): Record<string, unknown> => ({
    recordingId,
    appId: 'app',
    channel: 'room',
    uid: 1,
    storage: { profile: 'local' },
    ...extra,
  });
  const single = { sourceUrl: 'rtmp://127.0.0.1:1935/app/one', recordingConfig: { maxIdleSeconds: 30 } };

  async function stateOf(ids: string[]): Promise<string[]> {
    return Promise.all(ids.map(async (id) => (await queue.getJob(id))!.getState()));
  }

  it("puts back a channel recording whose maxUsers do not fit, for a host with room, and doesn't spin", async () => {
    const a = await worker('a');
    // One active recording per (app, channel, uid): each job records as its own uid.
    for (const [uid, id] of [
      [3, 'single-1'],
      [4, 'single-2'],
    ] as const) {
      await queue.add(RECORD_JOB_NAME, job(id, { ...single, uid }), { jobId: id });
    }
    await expect
      .poll(() => stateOf(['single-1', 'single-2']), { timeout: 10_000 })
      .toEqual(['active', 'active']);
    await queue.add(
      RECORD_JOB_NAME,
      job('channel-3', { uid: 2, recordingConfig: { maxUsers: 3, maxIdleSeconds: 30 } }),
      { jobId: 'channel-3' },
    );
    await new Promise((r) => setTimeout(r, 3000));
    // Two streams reserved of four: three more do not fit, so host A leaves the job in the queue, its
    // recording started (the API knows it) but not claimed.
    expect(await stateOf(['channel-3'])).toEqual(['waiting']);
    expect(
      await bed.redis.hmget(recordingRedisKeys('recfleet', 'channel-3').record, 'state', 'owner', 'epoch'),
    ).toEqual(['queued', null, null]);
    expect(a.admission.snapshot()).toMatchObject({ capacity: 4, streams: 2, recordings: 2 });
    const putBack = logs.filter((l) => l.includes('does not fit this host')).length;
    expect(putBack).toBeGreaterThanOrEqual(1);
    // Backing off: a few looks in three seconds, not a loop.
    expect(putBack).toBeLessThanOrEqual(5);
    expect(await a.metrics.registry.getSingleMetricAsString('recfleet_reserved_streams')).toMatch(
      /recfleet_reserved_streams 2$/m,
    );

    // A host with room takes it.
    const b = await worker('b');
    await expect.poll(() => stateOf(['channel-3']), { timeout: 15_000 }).toEqual(['active']);
    await expect.poll(() => b.admission.snapshot().streams).toBe(3);
    expect(a.admission.snapshot().streams).toBe(2);

    for (const id of ['single-1', 'single-2', 'channel-3']) {
      await bed.redis.hset(recordingRedisKeys('recfleet', id).record, 'control', 'stop');
    }
    await expect
      .poll(() => stateOf(['single-1', 'single-2', 'channel-3']), { timeout: 15_000 })
      .toEqual(['completed', 'completed', 'completed']);
    expect(a.admission.snapshot().streams).toBe(0);
  });
});
