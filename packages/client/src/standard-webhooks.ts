import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RecordingEvent } from '@recfleet/contract';

/** What a receiver gets as the POST body of a webhook. */
export interface WebhookPayload {
  /** Unique per event (`<recordingId>:<stream id>`): receivers de-duplicate on it. */
  id: string;
  recordingId: string;
  type: RecordingEvent['type'];
  /** When the event happened (ms since epoch). */
  at: number;
  data: Record<string, unknown>;
}

/** Header names of a webhook delivery. */
export const WEBHOOK_HEADERS = {
  eventId: 'x-recfleet-event-id',
  timestamp: 'x-recfleet-timestamp',
  signature: 'x-recfleet-signature',
} as const;

/** `v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`; the timestamp is Unix seconds. */
export function signWebhook(secret: string, timestamp: number | string, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
  return `v1=${mac}`;
}

/**
 * Checks a webhook delivery: the signature header must hold a `v1=` HMAC of `"<timestamp>.<raw body>"`
 * under `secret` (several comma-separated signatures are accepted, for secret rotation), and the
 * timestamp must be within `toleranceSeconds` of now (replay protection). Compares in constant time.
 * Pass the body exactly as received, before any JSON parsing.
 */
export function verifyWebhookSignature(
  secret: string,
  timestampHeader: string | undefined | null,
  signatureHeader: string | undefined | null,
  rawBody: string | Buffer,
  toleranceSeconds = 300,
  now: number = Date.now(),
): boolean {
  if (!secret || !timestampHeader || !signatureHeader) return false;
  if (!/^\d{1,12}$/.test(timestampHeader)) return false;
  if (Math.abs(now / 1000 - Number(timestampHeader)) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, timestampHeader, rawBody).slice(3), 'hex');
  let ok = false;
  for (const part of signatureHeader.split(',')) {
    const m = /^\s*v1=([0-9a-fA-F]{64})\s*$/.exec(part);
    if (m && timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected)) ok = true;
  }
  return ok;
}
