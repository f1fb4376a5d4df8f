import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RecordingEvent } from '@recfleet/contract';

/**
 * Webhooks as the Standard Webhooks specification (standardwebhooks.com) has them, so that a receiver
 * verifies recfleet's deliveries with that project's libraries (any language) or with
 * `verifyWebhookSignature` here: the headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
 * `webhook-signature` (`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`, several
 * space-separated during a secret rotation), under a secret written `whsec_<base64 key>`.
 */

/** What a receiver gets as the POST body of a webhook. */
export interface WebhookPayload {
  /** Unique per event (`<recordingId>:<stream id>`), the `webhook-id` header too: receivers de-duplicate on it. */
  id: string;
  recordingId: string;
  type: RecordingEvent['type'];
  /** When the event happened (ms since epoch). */
  at: number;
  data: Record<string, unknown>;
}

/** Header names of a webhook delivery (Standard Webhooks). */
export const WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

/** The prefix of a Standard Webhooks secret: `whsec_` and the base64 of the key. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** How far a delivery's timestamp may be from the receiver's clock (replay protection), seconds. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** Key lengths of a `whsec_` secret, bytes (the specification's 24 to 64). */
const KEY_BYTES = { min: 24, max: 64 } as const;
/** The shortest secret without the prefix, characters (what recfleet required before it signed as Standard Webhooks). */
const PLAIN_SECRET_MIN = 16;

/**
 * What is wrong with a webhook secret, or undefined. `whsec_<base64>` must decode to a 24–64 byte key;
 * a secret without the prefix (recfleet's secrets from before Standard Webhooks, hex or any text) must
 * have at least 16 characters and is used as it is (see webhookSigningKey).
 */
export function webhookSecretProblem(secret: string): string | undefined {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
    return secret.length >= PLAIN_SECRET_MIN
      ? undefined
      : `must be ${WEBHOOK_SECRET_PREFIX}<base64 key> or at least ${PLAIN_SECRET_MIN} characters`;
  }
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    return `must be ${WEBHOOK_SECRET_PREFIX} followed by base64 (e.g. ${WEBHOOK_SECRET_PREFIX}$(openssl rand -base64 32))`;
  }
  const bytes = Buffer.from(encoded, 'base64').length;
  return bytes >= KEY_BYTES.min && bytes <= KEY_BYTES.max
    ? undefined
    : `must hold a key of ${KEY_BYTES.min} to ${KEY_BYTES.max} bytes after ${WEBHOOK_SECRET_PREFIX} (got ${bytes})`;
}

/**
 * The HMAC key of a secret: the base64-decoded key of `whsec_<base64>`, or the UTF-8 bytes of a secret
 * without the prefix — the key whose Standard Webhooks form is `whsec_` + the base64 of the secret
 * (`printf %s "$SECRET" | base64`), which is what a receiver using a Standard Webhooks library passes.
 */
export function webhookSigningKey(secret: string): Buffer {
  return secret.startsWith(WEBHOOK_SECRET_PREFIX)
    ? Buffer.from(secret.slice(WEBHOOK_SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

function mac(secret: string, id: string, timestamp: number | string, rawBody: string | Uint8Array): Buffer {
  return createHmac('sha256', webhookSigningKey(secret))
    .update(`${id}.${timestamp}.`)
    .update(rawBody)
    .digest();
}

/**
 * The `webhook-signature` header of a delivery: one `v1,<base64>` per secret, space-separated (during a
 * rotation the dispatcher signs with the new secret and the old ones, and each receiver checks its own).
 */
export function signWebhook(
  secrets: string | readonly string[],
  id: string,
  timestamp: number | string,
  rawBody: string | Uint8Array,
): string {
  return ([] as string[])
    .concat(secrets)
    .map((s) => `v1,${mac(s, id, timestamp, rawBody).toString('base64')}`)
    .join(' ');
}

/** A delivery's headers: Node's `req.headers`, a fetch `Headers`, or any record of them. */
export type WebhookHeaderSource = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

function header(headers: WebhookHeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const key = name in record ? name : Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' ? value : undefined;
}

export interface VerifyWebhookOptions {
  /** Largest distance of the timestamp from now, seconds (default 300). */
  toleranceSeconds?: number;
  /** Now, ms since epoch (default Date.now()). */
  now?: number;
}

/**
 * Checks a webhook delivery as Standard Webhooks receivers do: one of the `v1` signatures of
 * `webhook-signature` must be the HMAC of `"<webhook-id>.<webhook-timestamp>.<raw body>"` under
 * `secret` (or one of several, while the receiver rotates its own), and the timestamp must be within
 * `toleranceSeconds` of now. Compares in constant time. Pass the body exactly as received, before any
 * JSON parsing.
 */
export function verifyWebhookSignature(
  secret: string | readonly string[],
  headers: WebhookHeaderSource,
  rawBody: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): boolean {
  const id = header(headers, WEBHOOK_HEADERS.id);
  const timestamp = header(headers, WEBHOOK_HEADERS.timestamp);
  const signatures = header(headers, WEBHOOK_HEADERS.signature);
  if (!id || !timestamp || !signatures || !/^\d{1,12}$/.test(timestamp)) return false;
  const now = options.now ?? Date.now();
  if (Math.abs(now / 1000 - Number(timestamp)) > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) {
    return false;
  }
  const expected = ([] as string[]).concat(secret).map((s) => mac(s, id, timestamp, rawBody));
  let ok = false;
  for (const part of signatures.split(' ')) {
    const m = /^v1,([A-Za-z0-9+/]{43}=)$/.exec(part);
    if (!m) continue;
    const given = Buffer.from(m[1]!, 'base64');
    // Every comparison is made, whatever matched before: the time taken says nothing.
    for (const e of expected) ok = timingSafeEqual(given, e) || ok;
  }
  return ok;
}
