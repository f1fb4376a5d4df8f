/**
 * Every process's /metrics keeps Prometheus's conventions, as `promtool check metrics` (Debian's
 * `prometheus` package) lints them: counters end in `_total`, units are in the names, every metric has
 * its HELP, Node's default process and runtime metrics are there. Each process is scraped after it has
 * done some work (requests, a delivered webhook, a failing receiver's retries), so the metrics that
 * only appear once they have values are linted too. Another process is one more entry of PROCESSES.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManagedProcess } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess, startWebhooksProcess } from '../src/harness/api-process.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';
import { hasPromtool, promtoolCheck } from '../src/harness/promtool.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';
import { WebhookReceiver } from '../src/harness/webhook-receiver.js';

const KEY = 'metrics-key-0123456789abcdef';
const SECRET = `whsec_${Buffer.from('metrics-webhook-key-0123456789ab').toString('base64')}`;

let redis: TestRedis;
let client: RecordingClient;
let receiver: WebhookReceiver;
let dir: string;
const running: ManagedProcess[] = [];

interface ScrapedProcess {
  name: string;
  /** Starts the process, makes it do some work, and answers where its metrics are. */
  start(): Promise<string>;
  /** Metrics that must be there once it has worked. */
  expected: string[];
}

const PROCESSES: ScrapedProcess[] = [
  {
    name: 'recfleet-api (with its webhook dispatcher)',
    async start() {
      const api = await startApiProcess({ redisUrl: redis.url, apiKeys: [KEY], webhookSecret: SECRET });
      running.push(api);
      const auth = { authorization: `Bearer ${KEY}` };
      await fetch(`${api.baseUrl}/v1/recordings?limit=5`, { headers: auth });
      await fetch(`${api.baseUrl}/v1/recordings/unknown-1`, { headers: auth });
      await fetch(`${api.baseUrl}/v1/recordings`);
      await startWithCallback('api');
      await expect.poll(() => delivered('api'), { timeout: 15_000 }).toBe(true);
      return `${api.baseUrl}/metrics`;
    },
    expected: [
      'recfleet_api_requests_total',
      'recfleet_api_request_duration_seconds_bucket',
      'recfleet_api_event_streams',
      'recfleet_webhook_deliveries_total',
      'recfleet_webhook_oldest_undelivered_event_age_seconds',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ],
  },
  {
    name: 'recfleet-webhooks',
    async start() {
      const webhooks = await startWebhooksProcess({
        redisUrl: redis.url,
        webhookSecret: SECRET,
        // Its own key prefix: the API process's dispatcher holds the lease of the default one.
        env: { RECFLEET_KEY_PREFIX: 'hooks' },
      });
      running.push(webhooks);
      await startWithCallback('webhooks', 'hooks');
      await expect.poll(() => delivered('webhooks'), { timeout: 15_000 }).toBe(true);
      return webhooks.metricsUrl;
    },
    expected: [
      'recfleet_webhook_deliveries_total',
      'recfleet_webhook_delivery_failures_total',
      'recfleet_webhook_retries_total',
      'recfleet_webhook_attempt_duration_seconds_bucket',
      'recfleet_webhook_leader',
      'recfleet_webhook_oldest_undelivered_event_age_seconds',
      'process_resident_memory_bytes',
    ],
  },
  {
    name: 'recfleet-worker',
    async start() {
      // A worker that has recorded something: a 3 s file, cut into 1 s segments and uploaded.
      const source = join(dir, 'source.ts');
      const ffmpeg = spawnSync('ffmpeg', [
        ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-t', '3'],
        ...['-c:v', 'libx264', '-preset', 'veryfast', '-g', '25', '-f', 'mpegts', '-y', source],
      ]);
      expect(ffmpeg.status, String(ffmpeg.stderr)).toBe(0);
      const worker = await startWorkerProcess({
        redisUrl: redis.url,
        storageProfiles: { local: { type: 'local', root: join(dir, 'store') } },
        extra: { keyPrefix: 'workers', httpPort: 0, drainIntervalSeconds: 600 },
      });
      running.push(worker);
      const producer = new RecordingClient({ redisUrl: redis.url, keyPrefix: 'workers' });
      try {
        const { recordingId } = await producer.start({
          appId: 'metrics',
          channel: 'worker',
          uid: 1,
          sourceUrl: `file://${source}`,
          recordingConfig: { segmentSeconds: 1 },
          storage: { profile: 'local' },
        });
        await expect
          .poll(async () => (await producer.get(recordingId)).state, { timeout: 30_000 })
          .toBe('uploaded');
      } finally {
        await producer.close();
      }
      return `http://127.0.0.1:${worker.httpPort}/metrics`;
    },
    expected: [
      'recfleet_active_recordings',
      'recfleet_queue_depth',
      'recfleet_segments_written_total',
      'recfleet_segments_uploaded_total',
      'recfleet_upload_latency_seconds_bucket',
      'recfleet_engine_written_bytes_total',
      'recfleet_engine_dropped_packets_total',
      'recfleet_redis_reachable',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_p99_seconds',
    ],
  },
];

/** A recording with a callback URL: its `queued` event is delivered without any worker. */
async function startWithCallback(channel: string, keyPrefix = 'recfleet'): Promise<void> {
  const c = new RecordingClient({ redisUrl: redis.url, keyPrefix, checkStorageProfiles: false });
  try {
    await c.start({
      appId: 'metrics',
      channel,
      uid: 1,
      sourceUrl: 'rtmp://127.0.0.1:1/metrics/none',
      storage: { profile: 'local' },
      callbackUrl: `${receiver.url}?channel=${channel}`,
    });
  } finally {
    await c.close();
  }
}

function delivered(channel: string): boolean {
  return receiver.requests.some(
    (r) => r.status === 200 && r.body.includes(`"type":"queued"`) && r.url.includes(`channel=${channel}`),
  );
}

describe.skipIf(!hasPromtool)('metrics by Prometheus conventions (promtool check metrics)', () => {
  beforeAll(async () => {
    redis = await startTestRedis();
    dir = await mkdtemp(join(tmpdir(), 'recfleet-metrics-'));
    client = new RecordingClient({ redisUrl: redis.url });
    receiver = await WebhookReceiver.start();
    // Each receiver fails a delivery's first attempt, so that failures and retries are counted too.
    const seen = new Set<string>();
    receiver.respond = (headers) => {
      const id = String(headers['webhook-id']);
      if (seen.has(id)) return 200;
      seen.add(id);
      return 503;
    };
  });
  afterAll(async () => {
    for (const p of running.reverse()) await p.stop();
    await receiver?.close();
    await client?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(PROCESSES.map((p) => [p.name, p] as const))('%s', async (_name, p) => {
    const url = await p.start();
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of p.expected) expect(text, name).toMatch(new RegExp(`^${name}(\\{| )`, 'm'));
    const lint = await promtoolCheck(text);
    expect(lint.output).toBe('');
    expect(lint.code).toBe(0);
    // Nothing a scrape resets: a second scrape has every recfleet sample of the first, each counter
    // (and histogram series) where it was or higher.
    const again = recfleetSamples(await (await fetch(url)).text());
    for (const [name, before] of recfleetSamples(text)) {
      expect(again.get(name), name).toBeDefined();
      if (/_total\b|_(bucket|count|sum)\b/.test(name))
        expect(again.get(name)!, name).toBeGreaterThanOrEqual(before);
    }
  });
});

/** Every `recfleet_*` sample of a scrape, by its name and labels. */
function recfleetSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('recfleet_')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}
