/**
 * The one redactor of recfleet: every URL, job's data or free text that reaches a log, a record, an
 * event, an error message, a page or a webhook goes through these (worker, API, CLI, dashboards,
 * webhooks alike). URLs lose their user-info (`rtsp://user:pass@…`) and their query string and fragment
 * (tokens, signatures, `sentinelPassword=`).
 */

/** What replaces a secret. */
export const REDACTED = '[redacted]';

/** Field names whose values are secrets wherever they appear in job data. */
const SECRET_KEY = /token|secret|password|passwd|signature|credential|api[-_]?key|authorization/i;
/** Fields holding URLs whose query string or user-info may carry a secret (signed webhooks, tokenized RTMP URLs). */
const URL_KEY = /url$|location$/i;

/**
 * Removes the query string, fragment and user-info of a URL: `https://h.example/cb?sig=abc` →
 * `https://h.example/cb?[redacted]`. Non-URLs are returned unchanged.
 */
export function redactUrl(value: string): string {
  // The last `@` before the path ends the user-info: a password may itself contain `@`.
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*@)?([^?#]*)([?#].*)?$/i.exec(value);
  if (!m) return value;
  const [, scheme, userinfo, rest, query] = m;
  return `${scheme}${userinfo ? `${REDACTED}@` : ''}${rest}${query ? `${query[0]}${REDACTED}` : ''}`;
}

/**
 * A copy of job data (or a return value) safe to display: secret-named fields (`token`, …) replaced,
 * URLs (`callbackUrl`, `sourceUrl`, …) without their query string or user-info.
 */
export function redactJobData(value: unknown, depth = 0): unknown {
  if (depth > 20) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactJobData(v, depth + 1));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_KEY.test(key) && v !== undefined && v !== null && v !== '') out[key] = REDACTED;
    else if (typeof v === 'string' && (URL_KEY.test(key) || /^[a-z][a-z0-9+.-]*:\/\//i.test(v))) {
      out[key] = redactUrl(v);
    } else out[key] = redactJobData(v, depth + 1);
  }
  return out;
}

/** For free text (job log lines): `"token":"…"`, `token=…` and URL query strings are hidden. */
export function redactText(text: string): string {
  return text
    .replace(
      /("(?:[^"\\]*(?:token|secret|password|signature)[^"\\]*)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
      `$1"${REDACTED}"`,
    )
    .replace(/\b((?:[a-z_]*token|secret|password|signature|sig)=)[^&\s"']+/gi, `$1${REDACTED}`)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s"'@]*@/gi, `$1${REDACTED}@`);
}
