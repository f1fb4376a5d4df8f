/**
 * Fault: the storage profile's secret is wrong. A real recording runs from a live channel into an OSS
 * endpoint (the test server authenticates every request like the service) that refuses the signature.
 * The failure carries one code, STORAGE_AUTH_FAILED, wherever anyone looks: the durable record, the
 * job's failedReason, the HTTP API, the CLI, the webhook and Bull Board; and it shows at once, in the
 * first upload attempt's uploader_failure event, which is not retried — and, while the recording still
 * runs, as the record's `storageError` (with a `storage_error` event) and in the job's progress. A
 * bucket that does not exist shows the same way, with STORAGE_BUCKET_NOT_FOUND.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFailure, RECORDINGS_QUEUE, recordingRedisKeys, type RecordingEvent } from '@recfleet/contract';
import { ChannelServer, TestPublisher, type ManagedProcess } from '@recfleet/embedded';
import { buildApiServer, WebhookDispatcher } from '@recfleet/api';
import { RecordingClient, type WebhookPayload } from '@recfleet/client';
import { registerDashboards } from '@recfleet/api/dashboard';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssTestServer, type OssTestServer } from '../src/fakes/oss-test-server.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';
import { WebhookReceiver } from '../src/harness/webhook-receiver.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

const CLI = fileURLToPath(new URL('../../apps/cli/dist/main.js', import.meta.url));
const APP = 'authfail';
const CHANNEL = 'lobby';
const API_KEY = 'e2e-api-key-0123456789';
const WEBHOOK_SECRET = 'whsec-e2e-0123456789';
const AK = 'LTAI-e2e-key';
const CODE = 'STORAGE_AUTH_FAILED';

let dir: string;
let redis: TestRedis;
let oss: OssTestServer;
let channels: ChannelServer;
let publisher: TestPublisher;
let worker: ManagedProcess;
let client: RecordingClient;
let api: FastifyInstance;
let apiUrl: string;
let receiver: WebhookReceiver;
let dispatcher: WebhookDispatcher;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-authfail-'));
  redis = await startTestRedis();
  oss = await startOssTestServer({
    accessKeyId: AK,
    accessKeySecret: 'the-right-secret',
    buckets: ['recordings'],
  });
  channels = await ChannelServer.start();
  publisher = TestPublisher.start({
    url: channels.rtmpUrl(APP, CHANNEL),
    width: 320,
    height: 180,
    frameRate: 25,
    gop: 25,
  });
  await channels.waitForPublish(APP, CHANNEL);
  worker = await startWorkerProcess({
    redisUrl: redis.url,
    spoolDir: join(dir, 'spool'),
    storageProfiles: {
      aliyun: {
        type: 'oss',
        bucket: 'recordings',
        region: 'oss-cn-hangzhou',
        endpoint: oss.url,
        accessKeyId: AK,
        accessKeySecret: 'a-wrong-secret',
        timeoutMs: 5000,
      },
      nobucket: {
        type: 'oss',
        bucket: 'no-such-bucket',
        region: 'oss-cn-hangzhou',
        endpoint: oss.url,
        accessKeyId: AK,
        accessKeySecret: 'the-right-secret',
        timeoutMs: 5000,
      },
    },
  });
  client = new RecordingClient({ redisUrl: redis.url });
  api = buildApiServer({ client, apiKeys: [API_KEY] });
  await api.register(registerDashboards, { redisUrl: redis.url, apiKeys: [API_KEY] });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  receiver = await WebhookReceiver.start();
  dispatcher = new WebhookDispatcher({ redisUrl: redis.url, secret: WEBHOOK_SECRET, pollIntervalMs: 100 });
  await dispatcher.start();
});

afterAll(async () => {
  await dispatcher?.close();
  await receiver?.close();
  await api?.close();
  await client?.close();
  await worker?.stop('SIGTERM', 10_000);
  await publisher?.stop();
  await channels?.stop();
  await oss?.close();
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `recfleet <args>` as users run it, against the test Redis. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, RECFLEET_REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Follows a recording to its end; at its first uploader_failure, reads the record and the job while the
 * recording runs (the storage error must show there before the end), then stops it.
 */
async function followToEnd(
  recordingId: string,
  startedAt: number,
): Promise<{
  events: RecordingEvent[];
  firstFailureAfterMs: number | undefined;
  whileRecording: { state?: string; storageError?: unknown; progress?: unknown };
}> {
  const events: RecordingEvent[] = [];
  let firstFailureAfterMs: number | undefined;
  let looked: Promise<{ state?: string; storageError?: unknown; progress?: unknown }> | undefined;
  const r = new Redis(redis.url);
  const keys = recordingRedisKeys('recfleet', recordingId);
  try {
    for await (const e of client.follow(recordingId)) {
      events.push(e);
      if (e.type === 'uploader_failure' && firstFailureAfterMs === undefined) {
        firstFailureAfterMs = Date.now() - startedAt;
        looked = (async () => {
          for (let i = 0; i < 50 && !(await r.hget(keys.record, 'storageError')); i++) {
            await new Promise((done) => setTimeout(done, 100));
          }
          const [state, flag] = await r.hmget(keys.record, 'state', 'storageError');
          const progress = (await client.get(recordingId)).progress;
          const raw = await r.hget(`recfleet:${RECORDINGS_QUEUE}:${recordingId}`, 'progress');
          await client.stop(recordingId);
          return {
            state: state ?? undefined,
            storageError: flag ? (JSON.parse(flag) as unknown) : undefined,
            progress: raw ? (JSON.parse(raw) as unknown) : progress,
          };
        })();
      }
    }
    return { events, firstFailureAfterMs, whileRecording: (await looked) ?? {} };
  } finally {
    r.disconnect();
  }
}

describe('storage authentication failure', () => {
  it('reports STORAGE_AUTH_FAILED in the record, the job, the API, the CLI, the webhook and Bull Board', async () => {
    const { recordingId } = await client.start({
      appId: APP,
      channel: CHANNEL,
      uid: 1,
      sourceUrl: channels.rtmpUrl(APP, CHANNEL),
      recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
      storage: { profile: 'aliyun' },
      callbackUrl: receiver.url,
    });

    // The first upload attempt is refused and not retried; the record shows it while recording; then
    // the recording is stopped.
    const startedAt = Date.now();
    const { events, firstFailureAfterMs, whileRecording } = await followToEnd(recordingId, startedAt);
    expect(whileRecording).toMatchObject({ state: 'recording', storageError: { code: CODE } });
    expect(whileRecording.progress).toMatchObject({ storageError: { code: CODE } });
    expect(events.find((e) => e.type === 'storage_error')?.data).toMatchObject({ code: CODE });
    const firstFailure = events.find((e) => e.type === 'uploader_failure')!;
    expect(firstFailure.data).toMatchObject({ code: CODE, attempt: 1, willRetry: false });
    // Refused at the first segment (1 s segments, after the join): no backoff before it shows.
    expect(firstFailureAfterMs).toBeLessThan(15_000);
    expect(
      events.filter((e) => e.type === 'uploader_failure').every((e) => e.data.code === CODE),
      JSON.stringify(events.filter((e) => e.type === 'uploader_failure').map((e) => e.data)),
    ).toBe(true);
    const last = events.at(-1)!;
    expect(last.type).toBe('fatal_error');
    expect(last.data.code).toBe(CODE);
    // The store saw only requests it refused, and holds nothing.
    expect(oss.requests.length).toBeGreaterThan(0);
    expect(oss.objects.get('recordings')!.size).toBe(0);

    // The durable record.
    const r = new Redis(redis.url);
    try {
      const record = await r.hgetall(recordingRedisKeys('recfleet', recordingId).record);
      expect(record.state).toBe('failed');
      expect(record.errorCode).toBe(CODE);
    } finally {
      r.disconnect();
    }

    // The job's failedReason, `[CODE] message` for any BullMQ consumer.
    await expect
      .poll(async () => (await client.get(recordingId)).jobState, { timeout: 10_000 })
      .toBe('failed');
    const status = await client.get(recordingId);
    expect(status.error?.code).toBe(CODE);

    // The HTTP API.
    const viewed = await fetch(`${apiUrl}/v1/recordings/${recordingId}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(viewed.status).toBe(200);
    const view = (await viewed.json()) as { state: string; error?: { code: string; message: string } };
    expect(view.state).toBe('failed');
    expect(view.error?.code).toBe(CODE);

    // The CLI.
    const shown = await cli(['status', recordingId, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const printed = JSON.parse(shown.stdout) as { state: string; error: { code: string } | null };
    expect(printed.state).toBe('failed');
    expect(printed.error?.code).toBe(CODE);

    // Bull Board's job API.
    const basic = Buffer.from(`recfleet:${API_KEY}`).toString('base64');
    const board = await fetch(`${apiUrl}/admin/queues/api/queues/recfleet-recordings/${recordingId}`, {
      headers: { authorization: `Basic ${basic}` },
    });
    expect(board.status).toBe(200);
    const { job } = (await board.json()) as { job: { failedReason: string } };
    expect(job.failedReason.startsWith(`[${CODE}] `)).toBe(true);
    expect(parseFailure(job.failedReason)).toEqual({ code: CODE, message: view.error!.message });

    // The webhook.
    await expect
      .poll(
        () =>
          receiver.requests
            .map((q) => JSON.parse(q.body) as WebhookPayload)
            .find((p) => p.recordingId === recordingId && p.type === 'fatal_error'),
        { timeout: 15_000 },
      )
      .toMatchObject({ data: { code: CODE } });
  });

  it('shows a bucket that does not exist on the record while recording, then fails with its code', async () => {
    const code = 'STORAGE_BUCKET_NOT_FOUND';
    const { recordingId } = await client.start({
      appId: APP,
      channel: CHANNEL,
      uid: 2,
      sourceUrl: channels.rtmpUrl(APP, CHANNEL),
      recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
      storage: { profile: 'nobucket' },
    });
    const { events, whileRecording } = await followToEnd(recordingId, Date.now());
    expect(whileRecording).toMatchObject({ state: 'recording', storageError: { code } });
    expect(whileRecording.progress).toMatchObject({ storageError: { code } });
    expect(events.filter((e) => e.type === 'uploader_failure').every((e) => e.data.code === code)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'fatal_error', data: { code } });
  });
});
