/**
 * Object key naming. Keys are `<prefix>/<recordingId>_<channel>_<seq>.ts` and
 * `<prefix>/<recordingId>_<channel>.m3u8`.
 *
 * Channel names may contain `/`, `.`, `%`, spaces and (from other front ends) any Unicode, none of which
 * may change the key's directory or produce an invalid or ambiguous key. `encodeChannelForKey` keeps
 * ASCII letters, digits and `-`, and writes every other UTF-8 byte as `~XX` (two upper-case hex digits):
 * the result has no `/`, no `.` (so no `..`), no `%` (so it needs no further escaping inside a playlist
 * URI or a URL), is reversible, and is at most 3× the channel's byte length.
 */
export function encodeChannelForKey(channel: string): string {
  let out = '';
  for (const byte of Buffer.from(channel, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(ch) ? ch : `~${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeChannelFromKey(encoded: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === '~') {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(encoded.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Zero padding keeps keys sorted by sequence in any listing. */
export const SEQUENCE_DIGITS = 6;

export interface RecordingKeys {
  /** Base name shared by the playlist and the segments: `<recordingId>_<encodedChannel>`. */
  baseName: string;
  playlistKey: string;
  /** File name of segment `seq` (what the playlist references, relative to the playlist). */
  segmentName(seq: number): string;
  segmentKey(seq: number): string;
}

export function recordingKeys(recordingId: string, channel: string, prefix?: string): RecordingKeys {
  const baseName = `${recordingId}_${encodeChannelForKey(channel)}`;
  const dir = prefix ? `${prefix.replace(/\/+$/, '')}/` : '';
  const segmentName = (seq: number): string => `${baseName}_${String(seq).padStart(SEQUENCE_DIGITS, '0')}.ts`;
  return {
    baseName,
    playlistKey: `${dir}${baseName}.m3u8`,
    segmentName,
    segmentKey: (seq) => `${dir}${segmentName(seq)}`,
  };
}
