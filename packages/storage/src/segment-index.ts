import { RecfleetError } from '@recfleet/contract';

/**
 * Where a segment lives: `spool` (finished on a worker, reserved in the index, not yet delivered),
 * `primary` or `backup`. Playlists list `primary` segments only.
 */
export type SegmentLocation = 'spool' | 'primary' | 'backup';

/** One delivered segment as the durable index knows it. */
export interface IndexedSegment {
  sequence: number;
  durationSeconds: number;
  bytes: number;
  discontinuity: boolean;
  /**
   * When the segment's first packet was made on the publisher's wall clock (ms since the Unix epoch,
   * the engine's programDateTimeMs): the playlist's EXT-X-PROGRAM-DATE-TIME for it.
   */
  programDateTime?: number;
  location: SegmentLocation;
  /** Object key in the store named by `location`. */
  key: string;
  md5?: string;
  /** Owner epoch under which the segment was recorded (fleet indexes only). */
  epoch?: number;
  at: number;
}

/**
 * The durable list of a recording's delivered segments, from which its playlist is (re)built. Backed by
 * Redis in the fleet so that a recording resumed on another host continues the same playlist; writes
 * may be fenced (a stale owner's write is refused, see FencedError).
 */
export interface SegmentIndex {
  put(segment: IndexedSegment): Promise<void>;
  list(): Promise<IndexedSegment[]>;
  /**
   * Whether the recording has ended: its final playlist (with ENDLIST) is written or being written.
   * Every playlist writer reads it, so a late writer (spool recovery, a fenced worker delivering its
   * reserved segments, the drain) never takes the ENDLIST away.
   */
  ended?(): Promise<boolean>;
  /** Marks the recording ended, before its final playlist is written. */
  markEnded?(): Promise<void>;
}

/** A write refused because another worker now owns the recording (its epoch is newer). */
export class FencedError extends RecfleetError {
  declare readonly code: 'FENCED';

  constructor(message: string) {
    super('FENCED', message);
    this.name = 'FencedError';
  }
}

/** An in-process index, for a single-process use of the uploader (and its tests). */
export class MemorySegmentIndex implements SegmentIndex {
  private readonly segments = new Map<number, IndexedSegment>();

  async put(segment: IndexedSegment): Promise<void> {
    this.segments.set(segment.sequence, segment);
  }

  async list(): Promise<IndexedSegment[]> {
    return [...this.segments.values()].sort((a, b) => a.sequence - b.sequence);
  }

  private hasEnded = false;

  async ended(): Promise<boolean> {
    return this.hasEnded;
  }

  async markEnded(): Promise<void> {
    this.hasEnded = true;
  }
}
