import { runScript } from '@recfleet/contract';
import { FencedError, type IndexedSegment, type SegmentIndex } from '@recfleet/storage';
import type { Redis } from 'ioredis';

/**
 * How long this writer remembers an index entry it wrote, to put it back if a failover lost it. Sentinel
 * does not promote a replica that has been cut off for longer than about ten times its
 * down-after-milliseconds, so only recent writes can be missing; five minutes is ample and bounds memory.
 */
const REAPPLY_WINDOW_MS = 5 * 60_000;

/**
 * The durable segment index of one recording in Redis, written under the owner's epoch. It outlives the
 * worker: whoever resumes the recording rebuilds the same playlist from it.
 */
export class RedisSegmentIndex implements SegmentIndex {
  /** The entries this instance wrote with `put` in the last REAPPLY_WINDOW_MS, by sequence (see `list`). */
  private readonly written = new Map<number, { entry: IndexedSegment; at: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly recordKey: string,
    private readonly indexKey: string,
    readonly epoch: number,
  ) {}

  /** Reserves a finished, not yet delivered segment's sequence (see reserveSegment-2.lua). */
  async reserve(segment: Omit<IndexedSegment, 'location' | 'key' | 'epoch'>): Promise<void> {
    const entry: IndexedSegment = { ...segment, location: 'spool', key: '', epoch: this.epoch };
    const result = await runScript(
      this.redis,
      'reserveSegment',
      [this.recordKey, this.indexKey],
      [this.epoch, segment.sequence, JSON.stringify(entry)],
    );
    if (Number(result) === -1) {
      throw new FencedError(
        `segment ${segment.sequence} not reserved: epoch ${this.epoch} no longer owns the recording`,
      );
    }
  }

  async put(segment: IndexedSegment): Promise<void> {
    const entry: IndexedSegment = { ...segment, epoch: this.epoch };
    if (!(await this.add(entry))) {
      throw new FencedError(
        `segment ${segment.sequence} refused: epoch ${this.epoch} no longer owns the recording`,
      );
    }
    const now = Date.now();
    this.written.delete(entry.sequence);
    this.written.set(entry.sequence, { entry, at: now });
    // Oldest first (insertion order): forget what no failover can have lost any more.
    for (const [sequence, w] of this.written) {
      if (now - w.at <= REAPPLY_WINDOW_MS) break;
      this.written.delete(sequence);
    }
  }

  private async add(entry: IndexedSegment): Promise<boolean> {
    const written = await runScript(
      this.redis,
      'addSegment',
      [this.recordKey, this.indexKey],
      [this.epoch, entry.sequence, JSON.stringify(entry)],
    );
    return Number(written) === 1;
  }

  /** The record's `ended` flag: set before the final playlist is written (see SegmentIndex.ended). */
  async ended(): Promise<boolean> {
    return (await this.redis.hget(this.recordKey, 'ended')) === '1';
  }

  async markEnded(): Promise<void> {
    await this.redis.hset(this.recordKey, 'ended', '1');
  }

  async get(sequence: number): Promise<IndexedSegment | undefined> {
    const v = await this.redis.hget(this.indexKey, String(sequence));
    return v ? (JSON.parse(v) as IndexedSegment) : undefined;
  }

  /**
   * The index, with this instance's own lost writes put back first. Redis replicates asynchronously:
   * when a primary dies and Sentinel promotes its replica, the last writes the old primary acknowledged
   * may be missing on the new one. A delivered segment whose entry vanished (or still reads as only
   * reserved) would drop out of the playlist although it is in storage, so the writer, which still
   * knows what it wrote, writes it again under the same fencing. An entry someone else has moved on
   * since (the backup drain, a later owner) is left as it is.
   */
  async list(): Promise<IndexedSegment[]> {
    const stored = new Map(
      (await this.redis.hvals(this.indexKey)).map((v) => {
        const s = JSON.parse(v) as IndexedSegment;
        return [s.sequence, s] as const;
      }),
    );
    for (const [sequence, { entry }] of this.written) {
      const current = stored.get(sequence);
      if (current !== undefined && current.location !== 'spool') continue;
      if (await this.add(entry)) stored.set(sequence, entry);
    }
    return [...stored.values()].sort((a, b) => a.sequence - b.sequence);
  }
}
