/**
 * The producer API as a real process (`recfleet-api`) in front of a real worker process recording a live
 * channel: start, watch (server-sent events), status, list, stop and cancel of the same recordings, and
 * the webhooks its embedded dispatcher sends.
 */
import { existsSync } from 'node:fs';
import type { RecordingEvent } from '@recfleet/contract';
import type { ManagedProcess } from '@recfleet/embedded';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from '../src/harness/api-process.js';
import { FleetFixture } from '../src/harness/fleet-fixture.js';
import { WebhookReceiver } from '../src/harness/webhook-receiver.js';

const KEY = 'fleet-api-key-0123456789';
const SECRET = `whsec_${Buffer.from('fleet-webhook-key-0123456789abcdef').toString('base64')}`;
let fleet: FleetFixture;
let api: ManagedProcess & { baseUrl: string };
let receiver: WebhookReceiver;

beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'api room' });
  await fleet.worker('a');
  receiver = await WebhookReceiver.start();
  api = await startApiProcess({ redisUrl: fleet.redis.url, apiKeys: [KEY], webhookSecret: SECRET });
});
afterAll(async () => {
  await api?.stop('SIGTERM', 5000);
  await receiver?.close();
  await fleet?.stop();
});

// Response bodies are checked field by field below; their shapes are the OpenAPI document's.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

/** Follows /events (SSE) in the background, parsing each message, until the server ends the stream. */
function watch(recordingId: string): { events: RecordingEvent[]; done: Promise<void> } {
  const events: RecordingEvent[] = [];
  const done = (async () => {
    const res = await fetch(`${api.baseUrl}/v1/recordings/${recordingId}/events`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          message
            .split('\n')
            .filter((l) => !l.startsWith(':') && l.includes(': '))
            .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
        );
        if (fields.data === undefined) continue;
        const event = JSON.parse(fields.data) as RecordingEvent;
        expect(fields.id).toBe(event.id);
        expect(fields.event).toBe(event.type);
        events.push(event);
      }
    }
  })();
  return { events, done };
}

/** A start request recording the fixture's channel as a single stream. */
const startRequest = (): Record<string, unknown> => ({
  appId: 'fleet',
  channel: 'api room',
  uid: 7,
  sourceUrl: fleet.sourceUrl,
  recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
  storage: { profile: 'local' },
});

describe('the producer API in front of a worker', () => {
  it('starts, watches, stops and reports a recording; webhooks reach the callback URL signed', async () => {
    const health = await fetch(`${api.baseUrl}/healthz`);
    expect(health.status).toBe(200);

    const started = await call('POST', '/v1/recordings', { ...startRequest(), callbackUrl: receiver.url });
    expect(started.status).toBe(201);
    const { recordingId } = started.json as { recordingId: string };
    const { events, done } = watch(recordingId);
    await expect
      .poll(() => events.filter((e) => e.type === 'segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);

    // While it records: the same id, or the same app/channel/uid, is the same recording.
    expect(await call('POST', '/v1/recordings', { ...startRequest(), recordingId })).toEqual({
      status: 200,
      json: { recordingId, created: false, state: 'recording' },
    });
    const sameIdentity = await call('POST', '/v1/recordings', { ...startRequest(), recordingId: 'other-id' });
    expect(sameIdentity.status).toBe(200);
    expect(sameIdentity.json.recordingId).toBe(recordingId);
    const live = await call('GET', `/v1/recordings/${recordingId}`);
    expect(live.json).toMatchObject({ state: 'recording', jobState: 'active', uid: 7 });
    expect(live.json.progress).toMatchObject({ segments: expect.any(Number) });
    const listed = await call('GET', '/v1/recordings?state=recording&channel=api%20room');
    expect(listed.json.recordings.map((r: { recordingId: string }) => r.recordingId)).toEqual([recordingId]);

    const stop = await call('POST', `/v1/recordings/${recordingId}/stop`);
    expect(stop.status).toBe(202);
    expect(stop.json).toMatchObject({ recordingId, requested: 'stop' });
    await done;
    expect(events[0]?.type).toBe('queued');
    expect(events.at(-1)?.type).toBe('uploaded');
    expect(events.find((e) => e.type === 'stopped')?.data.reason).toBe('requested');

    const status = await call('GET', `/v1/recordings/${recordingId}`);
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ state: 'uploaded', result: { stopReason: 'requested' } });
    expect(status.json.playlist.key).toMatch(new RegExp(`^${recordingId}_api~20room\\.m3u8$`));
    expect(existsSync(status.json.playlist.location)).toBe(true);
    expect(status.json.events.map((e: RecordingEvent) => e.id)).toEqual(events.map((e) => e.id));
    const out = await fleet.verify(recordingId);
    expect(out.ended).toBe(true);
    expect(out.errors).toBe('');
    expect((await call('POST', `/v1/recordings/${recordingId}/stop`)).status).toBe(409);

    // The API process's dispatcher delivered every event, signed as Standard Webhooks: a receiver using
    // that project's library verifies each.
    await expect
      .poll(() => receiver.requests.some((r) => r.body.includes('"type":"uploaded"')), { timeout: 15_000 })
      .toBe(true);
    const ids = new Set<string>();
    const standard = new Webhook(SECRET);
    for (const r of receiver.requests) {
      const payload = standard.verify(r.body, r.headers as Record<string, string>) as { id: string };
      expect(r.headers['webhook-id']).toBe(payload.id);
      ids.add(payload.id);
    }
    expect([...ids]).toEqual(events.map((e) => `${recordingId}:${e.id}`));
  });

  it('cancels a recording that is running, keeping the finished segments', async () => {
    // The earlier recording of this app/channel/uid is over: the identity records again.
    const started = await call('POST', '/v1/recordings', startRequest());
    expect(started.status).toBe(201);
    const { recordingId } = started.json as { recordingId: string };
    await expect
      .poll(
        async () =>
          (await call('GET', `/v1/recordings/${recordingId}`)).json.events.filter(
            (e: RecordingEvent) => e.type === 'uploaded_segment',
          ).length,
        { timeout: 20_000, interval: 250 },
      )
      .toBeGreaterThanOrEqual(2);
    const cancel = await call('DELETE', `/v1/recordings/${recordingId}`);
    expect(cancel.status).toBe(202);
    expect(cancel.json).toMatchObject({ recordingId, requested: 'cancel' });
    await expect
      .poll(async () => (await call('GET', `/v1/recordings/${recordingId}`)).json.state, { timeout: 15_000 })
      .toBe('uploaded');
    const status = await call('GET', `/v1/recordings/${recordingId}`);
    expect(status.json.result.stopReason).toBe('cancelled');
    expect(status.json.events.find((e: RecordingEvent) => e.type === 'stopped').data.reason).toBe(
      'cancelled',
    );
    const out = await fleet.verify(recordingId);
    expect(out.errors).toBe('');
    expect(out.listed.length).toBe(status.json.result.segments);
    expect((await call('DELETE', `/v1/recordings/${recordingId}`)).status).toBe(409);

    const uploaded = await call('GET', '/v1/recordings?state=uploaded&appId=fleet');
    expect(uploaded.json.recordings.length).toBe(2);
    expect(uploaded.json.recordings[0].recordingId).toBe(recordingId);
  });
});

describe('the dashboards in the API process', () => {
  it('serves Bull Board and the recordings page behind the same API keys', async () => {
    for (const path of ['/admin/queues', '/recordings']) {
      const anonymous = await fetch(`${api.baseUrl}${path}`);
      expect(anonymous.status, path).toBe(401);
      expect(anonymous.headers.get('www-authenticate'), path).toMatch(/^Basic /);
      const basic = Buffer.from(`operator:${KEY}`).toString('base64');
      const page = await fetch(`${api.baseUrl}${path}`, { headers: { authorization: `Basic ${basic}` } });
      expect(page.status, path).toBe(200);
      expect(page.headers.get('content-type'), path).toMatch(/text\/html/);
    }
  });
});
