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
