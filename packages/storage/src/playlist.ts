/** One segment as listed in a playlist. */
export interface PlaylistEntry {
  sequence: number;
  /** URI relative to the playlist. */
  uri: string;
  durationSeconds: number;
  /** Set when the segment does not continue its predecessor (the publisher left and came back, a resume). */
  discontinuity: boolean;
}

export interface PlaylistOptions {
  /** `EVENT` while recording (segments only get appended); the same type stays once ended, plus ENDLIST. */
  ended: boolean;
}

/**
 * Renders an RFC 8216 media playlist. Segments are listed in sequence order; a gap in sequence numbers
 * (a segment not (yet) in this store) is marked with a discontinuity so players do not assume continuity.
 * `#EXT-X-TARGETDURATION` is the ceiling of the longest segment, so it is never less than any EXTINF
 * rounded to the nearest integer (RFC 8216 §4.3.3.1).
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
    lines.push(`#EXTINF:${e.durationSeconds.toFixed(6)},`, e.uri);
    previous = e.sequence;
  }
  if (options.ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}
