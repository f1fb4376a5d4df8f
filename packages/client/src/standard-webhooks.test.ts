import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature } from './standard-webhooks.js';

const secret = 'whsec-0123456789abcdef';
const body = '{"id":"rec-1:1-0","recordingId":"rec-1","type":"queued","at":1,"data":{}}';
const now = 1_800_000_000_000;
const ts = String(now / 1000);

describe('webhook signatures', () => {
  it('is the hex HMAC-SHA256 of "<timestamp>.<raw body>"', () => {
    const expected = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    expect(signWebhook(secret, ts, body)).toBe(`v1=${expected}`);
  });

  it('accepts a genuine delivery', () => {
    expect(verifyWebhookSignature(secret, ts, signWebhook(secret, ts, body), body, 300, now)).toBe(true);
    expect(
      verifyWebhookSignature(secret, ts, signWebhook(secret, ts, body), Buffer.from(body), 300, now),
    ).toBe(true);
  });

  it('accepts any of several signatures (secret rotation)', () => {
    const header = `${signWebhook('old-secret-000000000', ts, body)}, ${signWebhook(secret, ts, body)}`;
    expect(verifyWebhookSignature(secret, ts, header, body, 300, now)).toBe(true);
  });

  it.each([
    ['a changed body', ts, signWebhook(secret, ts, body), `${body} `],
    ['another secret', ts, signWebhook('another-secret-0000', ts, body), body],
    ['a changed timestamp', String(Number(ts) + 1), signWebhook(secret, ts, body), body],
    ['an old timestamp', String(Number(ts) - 301), signWebhook(secret, String(Number(ts) - 301), body), body],
    [
      'a future timestamp',
      String(Number(ts) + 301),
      signWebhook(secret, String(Number(ts) + 301), body),
      body,
    ],
    ['no signature', ts, undefined, body],
    ['no timestamp', undefined, signWebhook(secret, ts, body), body],
    ['a malformed timestamp', `${ts}.5`, signWebhook(secret, `${ts}.5`, body), body],
    ['an unknown scheme', ts, signWebhook(secret, ts, body).replace('v1=', 'v0='), body],
    ['a truncated signature', ts, signWebhook(secret, ts, body).slice(0, -2), body],
  ])('refuses %s', (_name, timestamp, signature, raw) => {
    expect(verifyWebhookSignature(secret, timestamp, signature, raw, 300, now)).toBe(false);
  });
});
