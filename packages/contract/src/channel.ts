/**
 * Channel names follow the reference cloud-recording service: at most 64 bytes of ASCII letters, digits,
 * space and the punctuation below. Being all ASCII, bytes and characters are the same count.
 */
export const CHANNEL_ALLOWED_PUNCTUATION = ' !#$%&()+-:;<=.>?@[]^_{}|~,';
export const CHANNEL_MAX_BYTES = 64;

const allowed = new Set(CHANNEL_ALLOWED_PUNCTUATION.split(''));

/** Returns why `name` is not a valid channel name, or undefined when it is. */
export function channelNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > CHANNEL_MAX_BYTES) return `must be at most ${CHANNEL_MAX_BYTES} bytes (got ${bytes})`;
  for (const ch of name) {
    const ok = /^[A-Za-z0-9]$/.test(ch) || allowed.has(ch);
    if (!ok) {
      return `may contain only letters, digits, space and ${CHANNEL_ALLOWED_PUNCTUATION.trim()} (found ${JSON.stringify(ch)})`;
    }
  }
  return undefined;
}

/**
 * Channel names may contain `/`, `.`, `%`, spaces and (from other front ends) any Unicode, none of which
 * may change an object key's directory, produce an invalid key, or confuse a channel server's URL
 * parser. `encodeChannelForKey` keeps ASCII letters, digits and `-`, and writes every other UTF-8 byte
 * as `~XX` (two upper-case hex digits): the result has no `/`, no `.` (so no `..`), no `%` (so it needs
 * no further escaping inside a playlist URI or a URL), is reversible, and is at most 3× the channel's
 * byte length. Object keys and the default channel URL template both use it.
 */
export function encodeChannelForKey(channel: string): string {
  return escapeBytes(channel, '~');
}

export function decodeChannelFromKey(encoded: string): string {
  return unescapeBytes(encoded, '~');
}

/**
 * The channel as a stream name on a channel server. RTMP servers accept only a narrow alphabet in
 * stream names (node-media-server: `[A-Za-z0-9_-]`, and it drops `%`-escapes), so letters, digits and
 * `-` are kept and every other UTF-8 byte becomes `_XX` (upper-case hex). Publishers must use the same
 * name; the worker's default channel URL template uses it as `{channelName}`.
 */
export function encodeChannelAsStreamName(channel: string): string {
  return escapeBytes(channel, '_');
}

/**
 * The stream name under which user `uid` of `channel` publishes on an RTMP channel server:
 * `<channel as a stream name>_u<uid>` (`room 1`, uid 42 → `room_201_u42`). The channel part never
 * contains `_u` (every `_` in it starts an `_XX` hex escape, and `u` is not a hex digit), so the first `_u`
 * separates the two unambiguously; the channel's own stream name (no `_u`) is not a user.
 */
export function userStreamName(channel: string, uid: number): string {
  return `${encodeChannelAsStreamName(channel)}_u${uid}`;
}

const USER_STREAM_NAME = /^((?:[A-Za-z0-9-]|_[0-9A-F]{2})+)_u([1-9][0-9]{0,9})$/;

/** The channel and uid a user stream name stands for, or undefined when it is not one. */
export function parseUserStreamName(name: string): { channel: string; uid: number } | undefined {
  const m = USER_STREAM_NAME.exec(name);
  if (!m) return undefined;
  const uid = Number(m[2]);
  if (uid > 2 ** 32 - 1) return undefined;
  return { channel: decodeChannelFromStreamName(m[1]!), uid };
}

export function decodeChannelFromStreamName(encoded: string): string {
  return unescapeBytes(encoded, '_');
}

/** Keeps ASCII letters, digits and `-`; writes every other UTF-8 byte as `<escape>XX` (upper-case hex). */
function escapeBytes(text: string, escape: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(ch) ? ch : `${escape}${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function unescapeBytes(encoded: string, escape: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === escape) {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(encoded.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
