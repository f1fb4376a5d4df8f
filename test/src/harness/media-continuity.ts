import type { IndexedSegment } from '@recfleet/storage';
import type { Playlist } from './channel-media.js';

/** How far a segment's program date-time may be from the end of the one before it (the engine smooths). */
const DATE_SLACK_MS = 500;

/**
 * What a recording's playlist says about media lost, measured as bench:fleet measures it: the playlist is
 * continuous (contiguous sequence numbers, every entry in the primary store, no discontinuity, each
 * segment dated where the one before it ended), and its media time — the sum of its durations — against
 * the publisher's wall time from its first segment's date to when the recording was stopped.
 */
export interface Continuity {
  segments: number;
  mediaSeconds: number;
  wallSeconds: number;
  /** wall − media: > 0 is media lost; within a GOP either way is none. */
  lostSeconds: number;
  problems: string[];
}

export function measureContinuity(
  playlist: Playlist,
  index: IndexedSegment[],
  stoppedAt: number,
): Continuity {
  const problems: string[] = [];
  const sequences = index.map((s) => s.sequence);
  if (sequences.some((s, i) => s !== i))
    problems.push(`sequences not contiguous from 0: ${sequences.join(',')}`);
  for (const s of index) if (s.location !== 'primary') problems.push(`${s.sequence} is in ${s.location}`);
  if (playlist.entries.length !== index.length) {
    problems.push(`the playlist lists ${playlist.entries.length} segments, the index has ${index.length}`);
  }
  if (!playlist.ended) problems.push('no ENDLIST');
  const entries = playlist.entries;
  entries.forEach((e, i) => {
    if (e.discontinuity) problems.push(`discontinuity before ${e.uri}`);
    const prev = entries[i - 1];
    if (!prev) return;
    const expected = prev.programDateTime + prev.extinf * 1000;
    if (Math.abs(e.programDateTime - expected) > DATE_SLACK_MS) {
      problems.push(`${e.uri} dated ${e.programDateTime - expected} ms from the end of the one before`);
    }
  });
  const mediaSeconds = entries.reduce((sum, e) => sum + e.extinf, 0);
  const wallSeconds = entries.length > 0 ? (stoppedAt - entries[0]!.programDateTime) / 1000 : 0;
  return {
    segments: entries.length,
    mediaSeconds: Math.round(mediaSeconds * 1000) / 1000,
    wallSeconds: Math.round(wallSeconds * 1000) / 1000,
    lostSeconds: Math.round((wallSeconds - mediaSeconds) * 1000) / 1000,
    problems,
  };
}
