/** One segment as listed in a playlist. */
export interface PlaylistEntry {
  sequence: number;
  /** URI relative to the playlist. */
  uri: string;
  durationSeconds: number;
  /** Set when the segment does not continue its predecessor (the publisher left and came back, a resume). */
  discontinuity: boolean;
  /** Wall-clock time of its first sample, ms since the Unix epoch: written as EXT-X-PROGRAM-DATE-TIME. */
  programDateTime?: number;
}

export interface PlaylistOptions {
  /** `EVENT` while recording (segments only get appended); the same type stays once ended, plus ENDLIST. */
  ended: boolean;
}

/**
 * Renders an RFC 8216 media playlist. Segments are listed in sequence order; a gap in sequence numbers
 * (a segment not (yet) in this store) is marked with a discontinuity so players do not assume continuity.
 * `#EXT-X-TARGETDURATION` is the ceiling of the longest segment, so it is never less than any EXTINF
 * rounded to the nearest integer (RFC 8216 §4.3.3.1). A segment with a program date-time gets
 * `#EXT-X-PROGRAM-DATE-TIME` (§4.3.2.6, ISO 8601 with milliseconds, in UTC) before its EXTINF, so that
 * playlists recorded side by side (the users of one channel) can be aligned. Version 3 covers every tag
 * used: decimal EXTINF durations need 3, and EXT-X-PROGRAM-DATE-TIME asks no particular version (§7).
 */
export function renderPlaylist(entries: readonly PlaylistEntry[], options: PlaylistOptions): string {
  const sorted = [...entries].sort((a, b) => a.sequence - b.sequence);
  const target = Math.max(1, ...sorted.map((e) => Math.ceil(e.durationSeconds - 1e-9)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${sorted[0]?.sequence ?? 0}`,
    '#EXT-X-PLAYLIST-TYPE:EVENT',
  ];
  let previous: number | undefined;
  for (const e of sorted) {
    const gap = previous !== undefined && e.sequence !== previous + 1;
    if (previous !== undefined && (e.discontinuity || gap)) lines.push('#EXT-X-DISCONTINUITY');
    const date = programDateTime(e.programDateTime);
    if (date) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${date}`);
    lines.push(`#EXTINF:${e.durationSeconds.toFixed(6)},`, e.uri);
    previous = e.sequence;
  }
  if (options.ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/** Past 9999 toISOString writes a six-digit year, which is not the date-time RFC 8216 asks for. */
const LAST_FOUR_DIGIT_YEAR_MS = Date.UTC(10000, 0, 1);

/** `2026-01-01T10:00:00.123Z`, or undefined for a missing or unrepresentable time (the tag is left out). */
function programDateTime(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms >= LAST_FOUR_DIGIT_YEAR_MS) return undefined;
  return new Date(Math.round(ms)).toISOString();
}
