import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  signWebhook,
  verifyWebhookSignature,
  WEBHOOK_HEADERS,
  webhookSecretProblem,
  webhookSigningKey,
} from './standard-webhooks.js';

const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const oldSecret = `whsec_${Buffer.from('fedcba9876543210fedcba9876543210').toString('base64')}`;
const body = '{"id":"rec-1:1-0","recordingId":"rec-1","type":"queued","at":1,"data":{}}';
const id = 'rec-1:1-0';

function headers(signature: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    [WEBHOOK_HEADERS.id]: id,
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.signature]: signature,
  };
}

describe('Standard Webhooks signatures', () => {
  it('a delivery signed here is verified by the standardwebhooks library', () => {
    const ts = Math.floor(Date.now() / 1000);
    const h = headers(signWebhook(secret, id, ts, body), ts);
    expect(new Webhook(secret).verify(body, h)).toEqual(JSON.parse(body));
  });

  it('one signed by the standardwebhooks library is verified here', () => {
    const ts = Math.floor(Date.now() / 1000);
    const signature = new Webhook(secret).sign(id, new Date(ts * 1000), body);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verifyWebhookSignature(secret, headers(signature, ts), body)).toBe(true);
    expect(verifyWebhookSignature(secret, new Headers(headers(signature, ts)), Buffer.from(body))).toBe(true);
  });

  it('during a rotation every secret signs, and a receiver with either verifies', () => {
    const ts = Math.floor(Date.now() / 1000);
    const signature = signWebhook([secret, oldSecret], id, ts, body);
    expect(signature.split(' ')).toHaveLength(2);
    for (const s of [secret, oldSecret]) {
      expect(new Webhook(s).verify(body, headers(signature, ts))).toEqual(JSON.parse(body));
      expect(verifyWebhookSignature(s, headers(signature, ts), body)).toBe(true);
    }
    // A receiver that rotates its own secret accepts either.
    expect(
      verifyWebhookSignature(
        [oldSecret, 'whsec_AAAA'],
        headers(signWebhook(oldSecret, id, ts, body), ts),
        body,
      ),
    ).toBe(true);
  });

  it('a secret without whsec_ (before Standard Webhooks) is its own bytes: its whsec_ form verifies', () => {
    const plain = '3f1c0e9a7b2d4c6e8f0a1b2c3d4e5f60';
    const ts = Math.floor(Date.now() / 1000);
    const signature = signWebhook(plain, id, ts, body);
    const standard = `whsec_${Buffer.from(plain).toString('base64')}`;
    expect(webhookSigningKey(standard)).toEqual(webhookSigningKey(plain));
    expect(new Webhook(standard).verify(body, headers(signature, ts))).toEqual(JSON.parse(body));
    expect(new Webhook(plain, { format: 'raw' }).verify(body, headers(signature, ts))).toEqual(
      JSON.parse(body),
    );
  });

  it.each([
    ['a changed body', (h: Record<string, string>) => h, `${body} `],
    ['another id', (h: Record<string, string>) => ({ ...h, [WEBHOOK_HEADERS.id]: 'rec-1:2-0' }), body],
    [
      'a changed timestamp',
      (h: Record<string, string>) => ({
        ...h,
        [WEBHOOK_HEADERS.timestamp]: String(Number(h['webhook-timestamp']) + 1),
      }),
      body,
    ],
    ['no signature', (h: Record<string, string>) => ({ ...h, [WEBHOOK_HEADERS.signature]: '' }), body],
    [
      'an unknown version',
      (h: Record<string, string>) => ({
        ...h,
        [WEBHOOK_HEADERS.signature]: h['webhook-signature']!.replace('v1,', 'v2,'),
      }),
      body,
    ],
    [
      'a truncated signature',
      (h: Record<string, string>) => ({
        ...h,
        [WEBHOOK_HEADERS.signature]: h['webhook-signature']!.slice(0, -2),
      }),
      body,
    ],
  ])('refuses %s', (_name, change, raw) => {
    const ts = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature(secret, change(headers(signWebhook(secret, id, ts, body), ts)), raw)).toBe(
      false,
    );
  });

  it('refuses another secret, and timestamps more than 5 minutes away', () => {
    const ts = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature(oldSecret, headers(signWebhook(secret, id, ts, body), ts), body)).toBe(
      false,
    );
    for (const at of [ts - 301, ts + 301]) {
      expect(verifyWebhookSignature(secret, headers(signWebhook(secret, id, at, body), at), body)).toBe(
        false,
      );
    }
  });

  it('checks the secret form', () => {
    expect(webhookSecretProblem(secret)).toBeUndefined();
    expect(webhookSecretProblem('a-plain-secret-0123')).toBeUndefined();
    expect(webhookSecretProblem('short')).toMatch(/at least 16 characters/);
    expect(webhookSecretProblem('whsec_not base64!')).toMatch(/base64/);
    expect(webhookSecretProblem(`whsec_${Buffer.alloc(8).toString('base64')}`)).toMatch(
      /24 to 64 bytes.*got 8/,
    );
  });
});
