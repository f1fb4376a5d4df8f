/**
 * The BullMQ job as a recording's ticket, with two workers in this process (scripted recorders, a private
 * redis-server, real BullMQ): a job whose lock lapsed while its owner recorded on (as in an outage of
 * Redis) is taken by the other worker, which holds it as a ticket — the owner is not fenced, records on
 * and writes the one outcome; the ticket holder completes the job with it. When the owner leaves (a
 * hand-off), the ticket holder claims the recording and resumes it.
 */
import { join } from 'node:path';
import { RECORD_JOB_NAME, RECORDINGS_QUEUE, recordingRedisKeys, TERMINAL_EVENTS } from '@recfleet/contract';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerConfigSchema } from './config.js';
import { AdmissionControl } from './admission-control.js';
import { createLogger } from './logger.js';
import { RecordingRecord } from './recording-record.js';
import { RecordingTicket } from './recording-ticket.js';
import { RecordingWorker } from './recording-worker.js';
import {
  linesLogger,
  ScriptedRecorder,
  SessionTestbed,
  takeOver,
  TEST_OWNERSHIP,
  testOwnership,
} from './test-support.js';

let bed: SessionTestbed;
let queue: Queue;
const workers = new Map<string, RecordingWorker>();
const logs: string[] = [];

beforeAll(async () => {
  bed = await SessionTestbed.start('ticket');
  queue = new Queue(RECORDINGS_QUEUE, { connection: { url: bed.url }, prefix: 'recfleet' });
});
afterAll(async () => {
  for (const w of workers.values()) await w.close();
  await queue?.close();
  await bed?.stop();
});

async function worker(name: string, extra: Record<string, unknown> = {}): Promise<RecordingWorker> {
  const config = WorkerConfigSchema.parse({
    redisUrl: bed.url,
    spoolDir: join(bed.dir, `spool-${name}`),
    storageProfiles: { local: { type: 'local', root: bed.storeRoot } },
    progressIntervalSeconds: 1,
    drainIntervalSeconds: 600,
    lockSeconds: 2,
    stalledCheckSeconds: 1,
    heartbeatSeconds: 0.2,
    takeoverAfterSeconds: 1,
    shutdownGraceSeconds: 5,
    ...extra,
  });
  const w = new RecordingWorker(config, linesLogger(logs, `${name} `), {
    createRecorder: () => new ScriptedRecorder({ segmentMs: 200 }),
    identity: { host: name, name: `${name}:1` },
  });
  await w.start();
  workers.set(name, w);
  return w;
}

const job = (recordingId: string): Record<string, unknown> => ({
  recordingId,
  appId: 'app',
  channel: 'room',
  uid: 1,
  sourceUrl: 'rtmp://127.0.0.1:1935/app/room',
  recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 30 },
  storage: { profile: 'local' },
});

async function eventTypes(id: string): Promise<string[]> {
  const entries = await bed.redis.xrange(recordingRedisKeys('recfleet', id).events, '-', '+');
  return entries.map(([, f]) => f[f.indexOf('type') + 1]!);
}

const recordOf = (id: string): Promise<Record<string, string>> =>
  bed.redis.hgetall(recordingRedisKeys('recfleet', id).record);

/** What an outage of Redis does to a job lock: it lapses while its owner records on. */
const lapse = (id: string): Promise<number> => bed.redis.del(`recfleet:${RECORDINGS_QUEUE}:${id}:lock`);

describe('the job as a ticket', () => {
  it('completes, from the record, the job of a recording whose owner lost its lock and recorded on', async () => {
    // The owner has room for one recording only: the other worker is the one to take the job back.
    await worker('a', { maxRecordings: 1 });
    const id = 'rec-lapsed';
    await queue.add(RECORD_JOB_NAME, job(id), { jobId: id });
    await expect.poll(async () => (await recordOf(id)).state, { timeout: 10_000 }).toBe('recording');
    await worker('b');
    await lapse(id);
    await expect
      .poll(() => logs.some((l) => l.startsWith('b ') && l.includes('holding its job until it ends')), {
        timeout: 10_000,
      })
      .toBe(true);
    const before = (await eventTypes(id)).filter((t) => t === 'segment').length;
    await expect
      .poll(async () => (await eventTypes(id)).filter((t) => t === 'segment').length, { timeout: 10_000 })
      .toBeGreaterThan(before + 3);
    await bed.redis.hset(recordingRedisKeys('recfleet', id).record, 'control', 'stop');
    await expect
      .poll(async () => (await queue.getJob(id))!.getState(), { timeout: 15_000 })
      .toBe('completed');

    const record = await recordOf(id);
    // One owner from start to end: never fenced, never resumed.
    expect(record).toMatchObject({ state: 'uploaded', epoch: '1', owner: 'a:1', terminal: 'uploaded' });
    const done = (await queue.getJob(id))!;
    expect(done.returnvalue).toEqual(JSON.parse(record.result!));
    const types = await eventTypes(id);
    expect(types.filter((t) => TERMINAL_EVENTS.includes(t as never))).toEqual(['uploaded']);
    expect(types.filter((t) => t === 'joined')).toHaveLength(1);
    expect(logs.some((l) => l.includes('fenced'))).toBe(false);
    expect(logs.some((l) => l.startsWith('a ') && l.includes('the job lock lapsed meanwhile'))).toBe(true);
    expect(logs.some((l) => l.includes('"job failed"'))).toBe(false);
  });

  it('claims and resumes the recording when its owner leaves', async () => {
    const id = 'rec-left';
    const a = workers.get('a')!;
    const b = workers.get('b')!;
    await queue.add(RECORD_JOB_NAME, job(id), { jobId: id });
    await expect.poll(async () => (await recordOf(id)).state, { timeout: 10_000 }).toBe('recording');
    const first = (await recordOf(id)).owner;
    const [owner, other] = first === 'a:1' ? [a, b] : [b, a];
    const holding = (): number => logs.filter((l) => l.includes('holding its job until it ends')).length;
    const held = holding();
    await lapse(id);
    await expect.poll(holding, { timeout: 10_000 }).toBe(held + 1);
    // The owner shuts down (another worker is there): it hands the recording off; the ticket holder claims it.
    await owner.close();
    workers.delete(owner === a ? 'a' : 'b');
    await expect.poll(async () => (await recordOf(id)).epoch, { timeout: 10_000 }).toBe('2');
    expect((await recordOf(id)).owner).toBe(other.identity);
    await expect
      .poll(
        async () => (await eventTypes(id)).lastIndexOf('segment') > (await eventTypes(id)).indexOf('handoff'),
        {
          timeout: 10_000,
        },
      )
      .toBe(true);
    await bed.redis.hset(recordingRedisKeys('recfleet', id).record, 'control', 'stop');
    await expect
      .poll(async () => (await queue.getJob(id))!.getState(), { timeout: 15_000 })
      .toBe('completed');
    const types = await eventTypes(id);
    expect(types.filter((t) => TERMINAL_EVENTS.includes(t as never))).toEqual(['uploaded']);
    expect(types.filter((t) => t === 'handoff')).toHaveLength(1);
    expect((await recordOf(id)).state).toBe('uploaded');
  });
});

describe('tickets claiming at once', () => {
  it('never take the last room twice: the room is reserved before the claim, and given back when refused', async () => {
    // One stream of room, two tickets on this host whose recordings' owner has just died.
    const admission = new AdmissionControl(
      { cpuBudgetCores: 0.25, cpuCoresPerStream: 0.25, memoryMbPerStream: 1 },
      50,
    );
    expect(admission.capacity).toBe(1);
    const ids = ['ticket-race-1', 'ticket-race-2'];
    for (const id of ids) await takeOver(bed.redis, 'ticket', id, 'dead-host:1');
    await new Promise((r) => setTimeout(r, TEST_OWNERSHIP.takeoverAfterMs + 100));
    const ends = await Promise.all(
      ids.map((id, i) => {
        const record = new RecordingRecord(bed.redis, 'ticket', id);
        return new RecordingTicket({
          record,
          ownership: testOwnership(record, 'this-host:1'),
          pollMs: 10,
          localEnd: () => undefined,
          reserve: () => admission.tryReserve(`job-${i}`, 1),
          unreserve: () => admission.release(`job-${i}`),
          takeClaim: () => true,
          dropClaim: () => undefined,
          closing: () => false,
          log: createLogger('silent'),
        }).hold(undefined);
      }),
    );
    expect(ends.map((e) => e.type).sort()).toEqual(['claimed', 'released']);
    expect(admission.streams).toBe(1);
  });

  it('of one recording in one process: only the one holding the claim right claims; the other holds on', async () => {
    // A job given again after its lock lapsed, while its first run still holds it: two tickets here.
    const id = 'ticket-twice';
    await takeOver(bed.redis, 'ticket', id, 'dead-host:1');
    await new Promise((r) => setTimeout(r, TEST_OWNERSHIP.takeoverAfterMs + 100));
    const claims = new Set<string>();
    const record = new RecordingRecord(bed.redis, 'ticket', id);
    let claimed = 0;
    const holding = [0, 1].map(() => {
      let mine = false;
      return new RecordingTicket({
        record,
        ownership: testOwnership(record, 'this-host:1'),
        pollMs: 10,
        localEnd: () => undefined,
        reserve: () => true,
        unreserve: () => undefined,
        takeClaim: () => {
          if (claims.has(id)) return false;
          claims.add(id);
          return (mine = true);
        },
        dropClaim: () => {
          if (mine) claims.delete(id);
          mine = false;
        },
        closing: () => claimed > 0 && !mine,
        log: createLogger('silent'),
      })
        .hold(undefined)
        .then((end) => {
          if (end.type === 'claimed') claimed += 1;
          return end.type;
        });
    });
    // The one that did not claim holds on until told (here: closing, once the other has claimed).
    expect((await Promise.all(holding)).sort()).toEqual(['claimed', 'released']);
    // One claim, one epoch: the recording was claimed once from this process.
    expect((await record.fields('epoch')).epoch).toBe('2');
  });
});
