/**
 * Faults: Redis restarted (killed, AOF back on the same port) and Redis hung (SIGSTOP, then SIGCONT),
 * each for 6 s in the middle of a recording, under every follower at once: `RecordingClient.follow()`,
 * two server-sent event streams of the API process (one rides through, one is dropped and reconnects
 * itself with Last-Event-ID) and the webhook dispatcher running in that process. Each gets every event of
 * the recording's stream, in order, none skipped — follow and SSE none twice either, webhooks at least
 * once (receivers de-duplicate by id). The events are written here as a worker writes them.
 */
import { recordingRedisKeys } from '@recfleet/contract';
import { type FollowOutage, RecordingClient, type WebhookPayload } from '@recfleet/client';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from '../src/harness/api-process.js';
import { WebhookReceiver } from '../src/harness/webhook-receiver.js';
import { FaultRedis, type WorkerEvents } from './fault-redis.js';

const KEY = 'followers-key-0123456789';
const SECRET = 'whsec-followers-0123456789';
const OUTAGE_MS = 6000;

let fault: FaultRedis;
let redis: Redis;
let client: RecordingClient;
let receiver: WebhookReceiver;
let worker: WorkerEvents;
let api: Awaited<ReturnType<typeof startApiProcess>>;

beforeAll(async () => {
  fault = await FaultRedis.start();
  ({ redis, worker } = fault);
  client = new RecordingClient({ redisUrl: fault.url });
  receiver = await WebhookReceiver.start();
  api = await startApiProcess({ redisUrl: fault.url, apiKeys: [KEY], webhookSecret: SECRET });
});

afterAll(async () => {
  await api?.stop();
  await receiver?.close();
  await client?.close();
  await fault?.stop();
});

interface SseEvent {
  id: string;
  type: string;
}

/** A server-sent events client: the events (id, type) and comment lines it read, until the stream ends. */
class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly done: Promise<void>;
  private readonly abort = new AbortController();

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.read(url, headers);
    this.done.catch(() => undefined);
  }

  private async read(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${KEY}`, accept: 'text/event-stream', ...headers },
      signal: this.abort.signal,
    });
    if (res.status !== 200) throw new Error(`SSE answered ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
          const m = /^(id|event): (.*)$/.exec(line);
          if (m) fields[m[1]!] = m[2]!;
        }
        if (fields.id && fields.event) this.events.push({ id: fields.id, type: fields.event });
      }
    }
  }

  close(): void {
    this.abort.abort();
  }
}

/** The webhook event ids the receiver accepted for a recording, in arrival order. */
function delivered(recordingId: string): string[] {
  return receiver.requests
    .map((r) => JSON.parse(r.body) as WebhookPayload)
    .filter((p) => p.recordingId === recordingId)
    .map((p) => p.id);
}

let uid = 1;

async function followThrough(fault: () => Promise<void>): Promise<void> {
  const { recordingId: id } = await client.start({
    appId: 'followers',
    channel: 'faults',
    uid: uid++,
    sourceUrl: 'rtmp://127.0.0.1:1/followers/faults',
    storage: { profile: 'local' },
    callbackUrl: receiver.url,
  });
  const eventsUrl = `${api.baseUrl}/v1/recordings/${id}/events`;
  const outages: FollowOutage['state'][] = [];
  const followed: string[] = [];
  const following = (async () => {
    for await (const e of client.follow(id, { onOutage: (o) => outages.push(o.state) })) followed.push(e.id);
  })();
  const sse = new SseClient(eventsUrl);
  const dropped = new SseClient(eventsUrl);

  await worker.append(id, 'started');
  await worker.segments(id, 0, 2);
  await expect.poll(() => sse.events.length, { timeout: 10_000 }).toBe(6);
  await expect.poll(() => dropped.events.length, { timeout: 10_000 }).toBe(6);
  dropped.close();
  const lastSeen = dropped.events.at(-1)!.id;
  await expect.poll(() => delivered(id).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(6);

  await fault();

  await worker.segments(id, 2, 2);
  await redis.hset(recordingRedisKeys('recfleet', id).record, { state: 'uploaded', updatedAt: Date.now() });
  await worker.append(id, 'uploaded', { segments: 4, durationSeconds: 4, bytes: 4000 });
  await following;
  await sse.done;
  // Reconnecting by itself, as a browser does: only what it has not had.
  const resumed = new SseClient(eventsUrl, { 'last-event-id': lastSeen });
  await resumed.done;
  await expect.poll(() => delivered(id).at(-1), { timeout: 30_000 }).toBe(`${id}:${followed.at(-1)}`);

  const stream = await worker.ids(id);
  expect(stream).toHaveLength(11);
  expect(followed).toEqual(stream);
  expect(outages).toEqual(['lost', 'restored']);
  expect(sse.events.map((e) => e.id)).toEqual(stream);
  expect(sse.events.at(-1)!.type).toBe('uploaded');
  expect(sse.comments.some((c) => c.startsWith('redis unavailable since'))).toBe(true);
  expect(sse.comments.some((c) => c.startsWith('redis back after'))).toBe(true);
  expect([...dropped.events, ...resumed.events].map((e) => e.id)).toEqual(stream);
  // At least once, in order: the first delivery of each event comes after the one before.
  expect([...new Set(delivered(id))]).toEqual(stream.map((s) => `${id}:${s}`));
}

describe('followers through Redis faults', () => {
  it('Redis killed and restarted (AOF) after 6 s: follow, SSE and webhooks continue from their last event', async () => {
    await followThrough(async () => {
      await fault.server.kill();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await fault.server.restart();
    });
  });

  it('Redis hung (SIGSTOP) for 6 s: follow, SSE and webhooks continue from their last event', async () => {
    await followThrough(async () => {
      fault.hang();
      try {
        await new Promise((r) => setTimeout(r, OUTAGE_MS));
      } finally {
        fault.resume();
      }
    });
  });
});
