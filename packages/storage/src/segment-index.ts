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
  /**
   * Where the segment starts and ends on the source's own clock (ms; the engine's sourceStartMs /
   * sourceEndMs): a standby taking over delivers from the segment that starts where the last one ends.
   */
  sourceStartMs?: number;
  sourceEndMs?: number;
  /**
   * Where the segment ends on its recorder's timeline (s; the engine's startPtsSeconds + durationSeconds):
   * a later owner's recorder starts its timeline after it, so time goes on across the discontinuity.
   */
  timelineEndSeconds?: number;
  location: SegmentLocation;
  /** Object key in the store named by `location`. */
  key: string;
  md5?: string;
  /** Owner epoch under which the segment was recorded (fleet indexes only). */
  epoch?: number;
  at: number;
}

/** The whole index at one moment, with its version and whether the recording has ended. */
export interface IndexSnapshot {
  segments: IndexedSegment[];
  /**
   * Whether the recording has ended: its final playlists (with ENDLIST) are written or being written.
   * Every playlist writer renders it, so a late writer (spool recovery, a fenced worker delivering its
   * reserved segments, the drain) never takes the ENDLIST away.
   */
  ended: boolean;
  /** See SegmentIndex.version. */
  version: string;
}

/** What a writer learns from one put, at no extra cost. */
export interface IndexPutReceipt {
  /**
   * false: the writer no longer owns the recording but was let in because it reserved this segment
   * while it did (a fenced predecessor, spool recovery of an earlier epoch). Such a late writer renders
   * playlists from the whole index, never from a view of its own.
   */
  owner: boolean;
  /** The index's version after this put. */
  version: string;
  /**
   * The version before this put was not the one the writer said it knew: someone else wrote since (or
   * a failover lost writes). A writer that keeps a view of the index must take a snapshot again.
   */
  stale: boolean;
}

/**
 * The durable list of a recording's delivered segments, from which its playlists are (re)built. Backed
 * by Redis in the fleet so that a recording resumed on another host continues the same playlists; writes
 * may be fenced (a stale owner's write is refused, see FencedError).
 *
 * Every put and the end change the index's **version**, an opaque token that is cheap to read: a writer
 * that keeps a view of the index (the owner, see RecordingUploader) reads the whole index once and then
 * only compares versions, so its cost per segment does not grow with the recording.
 */
export interface SegmentIndex {
  /**
   * Records a segment. `known` is the version the writer's view was taken at (or its own last put
   * left): the receipt says whether anyone else wrote in between.
   */
  put(segment: IndexedSegment, known?: string): Promise<IndexPutReceipt>;
  /** The whole index (every location), in sequence order. */
  list(): Promise<IndexedSegment[]>;
  /** The whole index with its version and end flag, read at one moment. */
  snapshot(): Promise<IndexSnapshot>;
  /** The current version only (one small read). */
  version(): Promise<string>;
  /**
   * Marks the recording ended, before its final playlists are written. It changes the version like a
   * put, and says likewise whether anyone else wrote since `known`.
   */
  markEnded(known?: string): Promise<Omit<IndexPutReceipt, 'owner'>>;
}

/** A write refused because another worker now owns the recording (its epoch is newer). */
export class FencedError extends RecfleetError {
  declare readonly code: 'FENCED';

  constructor(message: string) {
    super('FENCED', message);
    this.name = 'FencedError';
  }
}

/** An in-process index, for a single-process use of the uploader (and its tests). One writer owns it. */
export class MemorySegmentIndex implements SegmentIndex {
  private readonly segments = new Map<number, IndexedSegment>();
  private hasEnded = false;
  private changes = 0;

  async put(segment: IndexedSegment, known?: string): Promise<IndexPutReceipt> {
    const before = String(this.changes);
    this.segments.set(segment.sequence, segment);
    this.changes += 1;
    return { owner: true, version: String(this.changes), stale: known !== undefined && known !== before };
  }

  async list(): Promise<IndexedSegment[]> {
    return [...this.segments.values()].sort((a, b) => a.sequence - b.sequence);
  }

  async snapshot(): Promise<IndexSnapshot> {
    return { segments: await this.list(), ended: this.hasEnded, version: String(this.changes) };
  }

  async version(): Promise<string> {
    return String(this.changes);
  }

  async markEnded(known?: string): Promise<Omit<IndexPutReceipt, 'owner'>> {
    const before = String(this.changes);
    this.hasEnded = true;
    this.changes += 1;
    return { version: String(this.changes), stale: known !== undefined && known !== before };
  }
}
