/**
 * Webhooks from a live recording: every event reaches the callback URL signed as Standard Webhooks
 * (verified by the standardwebhooks library, across a secret rotation), a receiver that fails
 * gets the event again (same id) until it answers, and a dispatcher restarted mid-recording resumes
 * where the last one stopped, losing nothing and repeating at most the event that was in flight.
 */
import { recordingRedisKeys, webhookRecordingsKey } from '@recfleet/contract';
import type { WebhookPayload } from '@recfleet/client';
import { WebhookDispatcher } from '@recfleet/api';
import { Redis } from 'ioredis';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetFixture } from '../src/harness/fleet-fixture.js';
import { WebhookReceiver } from '../src/harness/webhook-receiver.js';

/** The receiver's secret, and the one the fleet rotates to: the dispatcher signs with both. */
const SECRET = `whsec_${Buffer.from('receiver-webhook-key-0123456789ab').toString('base64')}`;
const NEXT_SECRET = `whsec_${Buffer.from('next-webhook-key-0123456789abcdef').toString('base64')}`;
let fleet: FleetFixture;
let receiver: WebhookReceiver;
let redis: Redis;
const dispatchers: WebhookDispatcher[] = [];

beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'hooks' });
  await fleet.worker('a');
  receiver = await WebhookReceiver.start();
  redis = new Redis(fleet.redis.url);
});
afterAll(async () => {
  for (const d of dispatchers) await d.close();
  await receiver?.close();
  redis?.disconnect();
  await fleet?.stop();
});

async function dispatcher(): Promise<WebhookDispatcher> {
  const d = new WebhookDispatcher({
    redisUrl: fleet.redis.url,
    secret: [NEXT_SECRET, SECRET],
    initialRetryDelayMs: 100,
    maxRetryDelayMs: 1000,
    pollIntervalMs: 100,
    leaseMs: 3000,
  });
  dispatchers.push(d);
  await d.start();
  return d;
}

describe('webhooks', () => {
  it('delivers every event signed, retries a failing receiver, and resumes after a dispatcher restart', async () => {
    // The receiver de-duplicates by event id, and fails the `started` event twice with a 500.
    const accepted = new Map<string, number>();
    const attempts = new Map<string, number[]>();
    const receivers = [new Webhook(SECRET), new Webhook(NEXT_SECRET)];
    receiver.respond = (headers, body) => {
      let payload: WebhookPayload | undefined;
      for (const r of receivers) {
        try {
          payload = r.verify(body, headers as Record<string, string>) as WebhookPayload;
        } catch (err) {
          if (!(err instanceof WebhookVerificationError)) throw err;
          return 401;
        }
      }
      if (headers['webhook-id'] !== payload!.id) return 400;
      const { id, type } = payload!;
      const tries = attempts.get(id) ?? [];
      attempts.set(id, tries);
      const status = type === 'started' && tries.length < 2 ? 500 : 200;
      tries.push(status);
      if (status === 200) accepted.set(id, (accepted.get(id) ?? 0) + 1);
      return status;
    };

    const first = await dispatcher();
    await expect.poll(() => first.leader, { timeout: 5000 }).toBe(true);
    const { recordingId } = await fleet.start(undefined, { callbackUrl: receiver.url });
    const types = (): string[] => [...accepted.keys()].map((id) => JSON.parse(findBody(id)).type as string);
    await expect
      .poll(() => types().filter((t) => t === 'segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);

    // Restart: events keep coming while no dispatcher runs; the next one resumes after the last delivered.
    await first.close();
    const deliveredAtClose = await redis.hget(
      recordingRedisKeys('recfleet', recordingId).record,
      'webhookDelivered',
    );
    expect(deliveredAtClose).toMatch(/^\d+-\d+$/);
    await new Promise((r) => setTimeout(r, 1500));
    const second = await dispatcher();
    await expect.poll(() => second.leader, { timeout: 5000 }).toBe(true);
    await expect
      .poll(() => types().filter((t) => t === 'segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(4);
    await fleet.client.stop(recordingId);
    await expect.poll(() => types().includes('uploaded'), { timeout: 20_000 }).toBe(true);

    // Every signature was valid (the receiver answers 401 otherwise).
    expect(receiver.requests.every((r) => r.status !== 401 && r.status !== 400)).toBe(true);
    // Every event of the stream arrived, in order, each under its own id.
    const stream = (await redis.xrange(recordingRedisKeys('recfleet', recordingId).events, '-', '+')).map(
      ([id]) => `${recordingId}:${id}`,
    );
    expect([...accepted.keys()]).toEqual(stream);
    // The failing receiver got `started` three times (500, 500, 200) under one id, and accepted it once.
    const started = [...attempts.entries()].find(([id]) => JSON.parse(findBody(id)).type === 'started')!;
    expect(started[1]).toEqual([500, 500, 200]);
    // At least once, and at most the in-flight event twice (a restart between delivery and its record).
    const repeated = [...accepted.values()].filter((n) => n > 1);
    expect(repeated.length).toBeLessThanOrEqual(1);
    expect(Math.max(...accepted.values())).toBeLessThanOrEqual(2);
    // Done with the recording: off the dispatcher's list, and its position is the last event.
    await expect.poll(() => redis.sismember(webhookRecordingsKey('recfleet'), recordingId)).toBe(0);
    expect(await redis.hget(recordingRedisKeys('recfleet', recordingId).record, 'webhookDelivered')).toBe(
      stream.at(-1)!.split(':')[1],
    );
  });

  it('only one of two dispatchers delivers at a time', async () => {
    for (const d of dispatchers.splice(0)) await d.close();
    const a = await dispatcher();
    const b = await dispatcher();
    await new Promise((r) => setTimeout(r, 500));
    expect([a.leader, b.leader].filter(Boolean).length).toBe(1);
    const before = receiver.requests.length;
    receiver.respond = () => 200;
    const { recordingId } = await fleet.start(undefined, { callbackUrl: receiver.url });
    await expect
      .poll(() => receiver.requests.slice(before).filter((r) => r.body.includes('"type":"segment"')).length, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(2);
    await fleet.client.cancel(recordingId);
    await expect
      .poll(() => receiver.requests.slice(before).some((r) => r.body.includes('"type":"uploaded"')), {
        timeout: 20_000,
      })
      .toBe(true);
    const ids = receiver.requests.slice(before).map((r) => JSON.parse(r.body).id as string);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

function findBody(id: string): string {
  return receiver.requests.find((r) => (JSON.parse(r.body) as WebhookPayload).id === id)!.body;
}
