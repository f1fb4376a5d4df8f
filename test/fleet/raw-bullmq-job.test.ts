/**
 * A job added with BullMQ's own `Queue.add` — queue `recfleet-recordings`, job name `record`, prefix
 * `recfleet`, job id = recording id, data = the job contract, as a Python or Go service with BullMQ's
 * own library adds it — is a recording like one `RecordingClient.start` started: the worker writes what
 * the start would have (record, identity lock, list entry, webhook registration), so the HTTP API
 * answers it and stops it, `recfleet status` and `list` show it, its callbackUrl gets its events; a
 * second such job for a busy (app, channel, uid) fails at once with RECORDING_ACTIVE, its record saying
 * so; a cancel written as the documented record fields (`control`) ends it.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  DEFAULT_KEY_PREFIX,
  RECORD_JOB_NAME,
  RECORDINGS_QUEUE,
  type RecordingJobInput,
} from '@recfleet/contract';
import type { ManagedProcess } from '@recfleet/embedded';
import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../cli/cli-process.js';
import { startApiProcess } from '../src/harness/api-process.js';
import { FleetFixture } from '../src/harness/fleet-fixture.js';
import { WebhookReceiver } from '../src/harness/webhook-receiver.js';

const KEY = 'raw-jobs-key-0123456789abcdef';
const SECRET = `whsec_${Buffer.from('raw-jobs-webhook-key-0123456789a').toString('base64')}`;

let fleet: FleetFixture;
let api: ManagedProcess & { baseUrl: string };
let receiver: WebhookReceiver;
let queue: Queue;

beforeAll(async () => {
  fleet = await FleetFixture.start({ app: 'raw', channel: 'bare queue' });
  await fleet.worker('a');
  api = await startApiProcess({ redisUrl: fleet.redis.url, apiKeys: [KEY], webhookSecret: SECRET });
  receiver = await WebhookReceiver.start();
  // What a producer without recfleet's client has: BullMQ, the queue's name and prefix.
  queue = new Queue(RECORDINGS_QUEUE, { connection: { url: fleet.redis.url }, prefix: DEFAULT_KEY_PREFIX });
});
afterAll(async () => {
  await queue?.close();
  await receiver?.close();
  await api?.stop();
  await fleet?.stop();
});

/** The job contract's data for the fixture's live stream, as uid 7 of the channel. */
function job(recordingId: string, extra: Partial<RecordingJobInput> = {}): RecordingJobInput {
  return {
    recordingId,
    appId: fleet.app,
    channel: fleet.channel,
    uid: 7,
    sourceUrl: fleet.sourceUrl,
    recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
    storage: { profile: 'local' },
    ...extra,
  };
}

async function get(recordingId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${api.baseUrl}/v1/recordings/${recordingId}`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const cli = (...args: string[]) => runCliProcess(args, { RECFLEET_REDIS_URL: fleet.redis.url });

/**
 * Runs the README's cancel for a producer without HTTP access ("Through BullMQ directly"), as written
 * there, for `recordingId` against the fleet's Redis.
 */
async function readmeCancel(recordingId: string): Promise<void> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)]
    .map((m) => m[1]!)
    .filter((b) => b.includes('control cancel controlAt'));
  expect(blocks).toHaveLength(1);
  const script = blocks[0]!
    .replaceAll('redis-cli ', `redis-cli -u ${fleet.redis.url} `)
    .replaceAll('rec-1', recordingId);
  expect(script).toContain(recordingId);
  await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script]);
}

describe('a job added with a bare BullMQ Queue.add', () => {
  it('is a recording the API, the CLI and its webhooks know; a second one for its identity fails with RECORDING_ACTIVE', async () => {
    const id = 'raw-first';
    await queue.add(RECORD_JOB_NAME, job(id, { callbackUrl: `${receiver.url}?r=${id}` }), { jobId: id });

    await expect.poll(async () => (await get(id)).body.state, { timeout: 20_000 }).toBe('recording');
    const started = await get(id);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ recordingId: id, appId: fleet.app, channel: fleet.channel, uid: 7 });
    const status = await cli('status', id);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(id);
    const list = await cli('list', '--json');
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(list.stdout))).toContain(id);

    // The same (app, channel, uid) again, under another id: one clear outcome, at once.
    const second = 'raw-second';
    await queue.add(RECORD_JOB_NAME, job(second, { callbackUrl: `${receiver.url}?r=${second}` }), {
      jobId: second,
    });
    await expect.poll(async () => (await get(second)).body.state, { timeout: 10_000 }).toBe('failed');
    expect((await get(second)).body).toMatchObject({ error: { code: 'RECORDING_ACTIVE' } });
    await expect
      .poll(async () => (await queue.getJob(second))?.failedReason, { timeout: 5000 })
      .toMatch(/^\[RECORDING_ACTIVE\] recording raw-first of app raw, channel "bare queue", uid 7 is active/);
    const refused = await cli('status', second);
    expect(refused.stdout).toContain('RECORDING_ACTIVE');
    // Never recorded: no segment indexed, no `started` event.
    expect(await fleet.index(second)).toEqual([]);
    expect((await fleet.client.events(second)).map((e) => e.type)).toEqual(['queued', 'fatal_error']);
    expect(await fleet.client.get(id)).toMatchObject({ state: 'recording' });

    // Stopped through the API, as any recording.
    const stop = await fetch(`${api.baseUrl}/v1/recordings/${id}/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(stop.status).toBe(202);
    await expect.poll(async () => (await get(id)).body.state, { timeout: 20_000 }).toBe('uploaded');
    expect((await fleet.verify(id)).errors).toBe('');

    // Both callback URLs got their recording's events, signed as Standard Webhooks.
    const verifier = new Webhook(SECRET);
    const types = (r: string) =>
      receiver.requests
        .filter((w) => w.url.endsWith(`?r=${r}`) && w.status === 200)
        .map((w) => (verifier.verify(w.body, w.headers as Record<string, string>) as { type: string }).type);
    await expect.poll(() => types(id).at(-1), { timeout: 20_000 }).toBe('uploaded');
    expect(types(id)).toContain('started');
    await expect.poll(() => types(second), { timeout: 20_000 }).toEqual(['queued', 'fatal_error']);
  });

  it('ends on a cancel written as the record’s documented fields, and frees its identity', async () => {
    const id = 'raw-cancelled';
    await queue.add(RECORD_JOB_NAME, job(id), { jobId: id });
    await expect.poll(async () => (await get(id)).body.state, { timeout: 20_000 }).toBe('recording');
    // A producer with no HTTP access: the record's `control` field (README "Through BullMQ directly").
    await readmeCancel(id);
    await expect.poll(async () => (await get(id)).body.state, { timeout: 10_000 }).toBe('uploaded');
    expect((await fleet.client.get(id)).result?.stopReason).toBe('cancelled');
    // The identity is free again: the next bare job for it records.
    const next = 'raw-after';
    await queue.add(RECORD_JOB_NAME, job(next), { jobId: next });
    await expect.poll(async () => (await get(next)).body.state, { timeout: 20_000 }).toBe('recording');
    expect(
      await (
        await fetch(`${api.baseUrl}/v1/recordings/${next}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${KEY}` },
        })
      ).status,
    ).toBe(202);
    await expect.poll(async () => (await get(next)).body.state, { timeout: 10_000 }).toBe('uploaded');
  });

  it('keeps a cancel written before any worker took the job: it ends cancelled, never recording', async () => {
    const id = 'raw-cancelled-first';
    await readmeCancel(id);
    await queue.add(RECORD_JOB_NAME, job(id, { uid: 8 }), { jobId: id });
    await expect
      .poll(async () => (await queue.getJob(id))?.finishedOn, { timeout: 20_000 })
      .toBeGreaterThan(0);
    const ended = await get(id);
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ recordingId: id, uid: 8, state: 'uploaded' });
    expect((await fleet.client.get(id)).result?.stopReason).toBe('cancelled');
    expect(await fleet.index(id)).toEqual([]);
  });
});
