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

export interface LivePlaylistOptions {
  /** Adds ENDLIST: the recording has ended, a player following the window stops at its end. */
  ended: boolean;
  /**
   * The window's EXT-X-TARGETDURATION: the recording's, not the window's, so that it never changes
   * while a player follows the window (RFC 8216 §6.2.1); at least the ceiling of every EXTINF listed.
   */
  targetDuration: number;
  /**
   * Discontinuities of the recording before (and at) the window's first segment, whose tags have slid
   * out of the window: EXT-X-DISCONTINUITY-SEQUENCE (RFC 8216 §4.3.3.3).
   */
  discontinuitySequence: number;
}

/** The smallest EXT-X-TARGETDURATION that covers a segment: never less than its EXTINF rounded (§4.3.3.1). */
export function targetDurationOf(durationSeconds: number): number {
  return Math.max(1, Math.ceil(durationSeconds - 1e-9));
}

/**
 * Renders an RFC 8216 media playlist of the whole recording. Segments are listed in sequence order; a
 * gap in sequence numbers (a segment not (yet) in this store) is marked with a discontinuity so players
 * do not assume continuity. `#EXT-X-TARGETDURATION` is the ceiling of the longest segment, so it is
 * never less than any EXTINF rounded to the nearest integer (RFC 8216 §4.3.3.1). A segment with a
 * program date-time gets `#EXT-X-PROGRAM-DATE-TIME` (§4.3.2.6, ISO 8601 with milliseconds, in UTC)
 * before its EXTINF, so that playlists recorded side by side (the users of one channel) can be aligned.
 * Version 3 covers every tag used: decimal EXTINF durations need 3, and EXT-X-PROGRAM-DATE-TIME asks no
 * particular version (§7).
 */
export function renderPlaylist(entries: readonly PlaylistEntry[], options: PlaylistOptions): string {
  const sorted = [...entries].sort((a, b) => a.sequence - b.sequence);
  let target = 1;
  for (const e of sorted) target = Math.max(target, targetDurationOf(e.durationSeconds));
  return render(sorted, ['#EXT-X-PLAYLIST-TYPE:EVENT'], target, options.ended);
}

/**
 * Renders the sliding window of a recording's newest segments that a live player follows: no playlist
 * type (segments leave the window), EXT-X-MEDIA-SEQUENCE at the first segment listed and
 * EXT-X-DISCONTINUITY-SEQUENCE counting the discontinuities before it, and the same tags per segment as
 * the complete playlist. `entries` are in sequence order.
 */
export function renderLivePlaylist(entries: readonly PlaylistEntry[], options: LivePlaylistOptions): string {
  const extra =
    options.discontinuitySequence > 0
      ? [`#EXT-X-DISCONTINUITY-SEQUENCE:${options.discontinuitySequence}`]
      : [];
  let target = options.targetDuration;
  for (const e of entries) target = Math.max(target, targetDurationOf(e.durationSeconds));
  return render(entries, extra, target, options.ended);
}

function render(
  sorted: readonly PlaylistEntry[],
  headerTags: readonly string[],
  target: number,
  ended: boolean,
): string {
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${sorted[0]?.sequence ?? 0}`,
    ...headerTags,
  ];
  let previous: number | undefined;
  for (const e of sorted) {
    if (previous !== undefined && startsDiscontinuity(e, previous)) lines.push('#EXT-X-DISCONTINUITY');
    const date = programDateTime(e.programDateTime);
    if (date) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${date}`);
    lines.push(`#EXTINF:${e.durationSeconds.toFixed(6)},`, e.uri);
    previous = e.sequence;
  }
  if (ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/** Whether a segment listed after the one numbered `previous` gets an EXT-X-DISCONTINUITY before it. */
export function startsDiscontinuity(
  e: Pick<PlaylistEntry, 'sequence' | 'discontinuity'>,
  previous: number,
): boolean {
  return e.discontinuity || e.sequence !== previous + 1;
}

/** Past 9999 toISOString writes a six-digit year, which is not the date-time RFC 8216 asks for. */
const LAST_FOUR_DIGIT_YEAR_MS = Date.UTC(10000, 0, 1);

/** `2026-01-01T10:00:00.123Z`, or undefined for a missing or unrepresentable time (the tag is left out). */
function programDateTime(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms >= LAST_FOUR_DIGIT_YEAR_MS) return undefined;
  return new Date(Math.round(ms)).toISOString();
}
