import { startsDiscontinuity, targetDurationOf, type PlaylistEntry } from './playlist.js';
import type { IndexedSegment } from './segment-index.js';

const INITIAL_CAPACITY = 64;

/**
 * A recording's segments in the primary store, in sequence order, as a playlist writer keeps them in
 * memory: what both playlists are rendered from without reading the index again. Stored by column in
 * typed arrays (about 25 bytes a segment: a day of 2 s segments is about 1 MB) rather than as one
 * object per segment. Appending the next segment costs O(1); a segment that arrives out of order (a
 * late writer's) is inserted in O(n), which is rare.
 */
export class SegmentTimeline {
  private sequences = new Int32Array(INITIAL_CAPACITY);
  private durations = new Float64Array(INITIAL_CAPACITY);
  /** NaN where the segment has no program date-time. */
  private dates = new Float64Array(INITIAL_CAPACITY);
  private flags = new Uint8Array(INITIAL_CAPACITY);
  /**
   * `discontinuities[i]`: how many segments among 1..i start a discontinuity (a flag, or a gap in
   * sequence numbers before them): the EXT-X-DISCONTINUITY-SEQUENCE of a window that starts at i.
   */
  private discontinuities = new Int32Array(INITIAL_CAPACITY);
  length = 0;
  /** Media listed, in seconds. */
  totalSeconds = 0;
  /**
   * The largest target duration any segment has needed. It never decreases, so a live playlist's
   * EXT-X-TARGETDURATION never changes under a player unless a longer segment comes.
   */
  targetDuration = 1;

  /** The `primary` segments of an index read. */
  static of(segments: readonly IndexedSegment[]): SegmentTimeline {
    const t = new SegmentTimeline();
    const primary = segments.filter((s) => s.location === 'primary').sort((a, b) => a.sequence - b.sequence);
    for (const s of primary) t.add(s);
    return t;
  }

  get lastSequence(): number | undefined {
    return this.length > 0 ? this.sequences[this.length - 1] : undefined;
  }

  /**
   * Takes a segment as the index now records it: a `primary` one is listed (appended, inserted or
   * replaced), any other location removes it from the listing.
   */
  add(s: IndexedSegment): void {
    const at = this.find(s.sequence);
    const present = at < this.length && this.sequences[at] === s.sequence;
    if (s.location !== 'primary') {
      if (present) this.removeAt(at);
      return;
    }
    if (present) {
      this.totalSeconds += s.durationSeconds - this.durations[at]!;
    } else {
      this.grow();
      if (at < this.length) {
        // Out of order: shift the later segments up by one.
        for (const column of this.columns()) column.copyWithin(at + 1, at, this.length);
      }
      this.length += 1;
      this.totalSeconds += s.durationSeconds;
    }
    this.sequences[at] = s.sequence;
    this.durations[at] = s.durationSeconds;
    this.dates[at] = s.programDateTime ?? Number.NaN;
    this.flags[at] = s.discontinuity ? 1 : 0;
    this.targetDuration = Math.max(this.targetDuration, targetDurationOf(s.durationSeconds));
    this.countDiscontinuitiesFrom(at);
  }

  /** Every listed segment, for the complete playlist. */
  entries(segmentName: (sequence: number) => string): PlaylistEntry[] {
    return this.slice(0, segmentName);
  }

  /**
   * The newest segments that together last at least `seconds` (all of them when there is less), for
   * the live playlist, and the discontinuities before the first of them.
   */
  window(
    seconds: number,
    segmentName: (sequence: number) => string,
  ): { entries: PlaylistEntry[]; discontinuitySequence: number } {
    let start = this.length;
    let covered = 0;
    while (start > 0 && covered < seconds) {
      start -= 1;
      covered += this.durations[start]!;
    }
    return {
      entries: this.slice(start, segmentName),
      discontinuitySequence: start < this.length ? this.discontinuities[start]! : 0,
    };
  }

  private slice(from: number, segmentName: (sequence: number) => string): PlaylistEntry[] {
    const out: PlaylistEntry[] = [];
    for (let i = from; i < this.length; i++) {
      const sequence = this.sequences[i]!;
      const date = this.dates[i]!;
      out.push({
        sequence,
        uri: segmentName(sequence),
        durationSeconds: this.durations[i]!,
        discontinuity: this.flags[i] === 1,
        ...(Number.isNaN(date) ? {} : { programDateTime: date }),
      });
    }
    return out;
  }

  /** The position of `sequence`, or where it would be inserted. */
  private find(sequence: number): number {
    const last = this.lastSequence;
    if (last === undefined || sequence > last) return this.length;
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sequences[mid]! < sequence) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private removeAt(at: number): void {
    this.totalSeconds -= this.durations[at]!;
    for (const column of this.columns()) column.copyWithin(at, at + 1, this.length);
    this.length -= 1;
    this.countDiscontinuitiesFrom(at);
  }

  /** Recounts from `at` to the end: O(1) for an append, O(n) after an insertion. */
  private countDiscontinuitiesFrom(at: number): void {
    for (let i = Math.max(at, 0); i < this.length; i++) {
      if (i === 0) {
        this.discontinuities[0] = 0;
        continue;
      }
      const starts = startsDiscontinuity(
        { sequence: this.sequences[i]!, discontinuity: this.flags[i] === 1 },
        this.sequences[i - 1]!,
      );
      this.discontinuities[i] = this.discontinuities[i - 1]! + (starts ? 1 : 0);
    }
  }

  private columns(): (Int32Array | Float64Array | Uint8Array)[] {
    return [this.sequences, this.durations, this.dates, this.flags, this.discontinuities];
  }

  private grow(): void {
    if (this.length < this.sequences.length) return;
    const capacity = this.sequences.length * 2;
    const copy = <T extends Int32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity);
      b.set(a);
      return b;
    };
    this.sequences = copy(this.sequences, (n) => new Int32Array(n));
    this.durations = copy(this.durations, (n) => new Float64Array(n));
    this.dates = copy(this.dates, (n) => new Float64Array(n));
    this.flags = copy(this.flags, (n) => new Uint8Array(n));
    this.discontinuities = copy(this.discontinuities, (n) => new Int32Array(n));
  }
}
