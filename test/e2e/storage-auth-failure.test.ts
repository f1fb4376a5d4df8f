/**
 * Fault: the storage profile's secret is wrong. A real recording runs from a live channel into an OSS
 * endpoint (the test server authenticates every request like the service) that refuses the signature.
 * The failure carries one code, STORAGE_AUTH_FAILED, wherever anyone looks: the durable record, the
 * job's failedReason, the HTTP API, the CLI, the webhook and Bull Board; and it shows at once, in the
 * first upload attempt's uploader_failure event, which is not retried.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFailure, recordingRedisKeys, type RecordingEvent } from '@recfleet/contract';
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

    // The first upload attempt is refused and not retried; then the recording is stopped.
    const events: RecordingEvent[] = [];
    const startedAt = Date.now();
    let firstFailureAfterMs: number | undefined;
    for await (const e of client.follow(recordingId)) {
      events.push(e);
      if (e.type === 'uploader_failure' && firstFailureAfterMs === undefined) {
        firstFailureAfterMs = Date.now() - startedAt;
        void client.stop(recordingId);
      }
    }
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
});
