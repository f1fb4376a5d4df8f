import { randomUUID } from 'node:crypto';
import { runScript, segmentIndexVersionKey } from '@recfleet/contract';
import {
  FencedError,
  type IndexedSegment,
  type IndexPutReceipt,
  type IndexSnapshot,
  type SegmentIndex,
} from '@recfleet/storage';
import type { Redis } from 'ioredis';

/**
 * How long this writer remembers an index entry it wrote, to put it back if a failover lost it. Sentinel
 * does not promote a replica that has been cut off for longer than about ten times its
 * down-after-milliseconds, so only recent writes can be missing; five minutes is ample and bounds memory.
 */
const REAPPLY_WINDOW_MS = 5 * 60_000;

/**
 * The durable segment index of one recording in Redis, written under the owner's epoch. It outlives the
 * worker: whoever resumes the recording rebuilds the same playlists from it.
 *
 * Beside the hash of entries it keeps a version (segmentIndexVersionKey) that every write replaces with
 * a token of its own, so that the owner reads the whole hash once and afterwards, per segment, only
 * learns from its own writes (addSegment-3's `stale`) and one GET whether anyone else wrote.
 */
export class RedisSegmentIndex implements SegmentIndex {
  /** The entries this instance wrote with `put` in the last REAPPLY_WINDOW_MS, by sequence (see `snapshot`). */
  private readonly written = new Map<number, { entry: IndexedSegment; at: number }>();
  private readonly versionKey: string;
  /** Makes this instance's version tokens unique across writers. */
  private readonly writer = randomUUID();
  private writes = 0;
  /** The last whole read, kept for the next `snapshot()` while the version says it is still current. */
  private lastRead: IndexSnapshot | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly recordKey: string,
    private readonly indexKey: string,
    readonly epoch: number,
  ) {
    this.versionKey = segmentIndexVersionKey(indexKey);
  }

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

  /**
   * Records a delivered segment under this index's epoch (the fencing credential). A segment that
   * already names the epoch that recorded it keeps it: the drain moving an earlier owner's segment from
   * the backup to the primary must not make it look recorded by the last owner.
   */
  async put(segment: IndexedSegment, known?: string): Promise<IndexPutReceipt> {
    const entry: IndexedSegment = { ...segment, epoch: segment.epoch ?? this.epoch };
    const receipt = await this.add(entry, known);
    if (!receipt) {
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
    return receipt;
  }

  private async add(entry: IndexedSegment, known?: string): Promise<IndexPutReceipt | undefined> {
    const version = this.nextVersion();
    const [status, stale] = (await runScript(
      this.redis,
      'addSegment',
      [this.recordKey, this.indexKey, this.versionKey],
      [this.epoch, entry.sequence, JSON.stringify(entry), version, known ?? ''],
    )) as [number, number];
    if (status === -1) return undefined;
    return { owner: status === 1, version, stale: stale === 1 };
  }

  private nextVersion(): string {
    this.writes += 1;
    return `${this.writer}.${this.writes}`;
  }

  /** The record's `ended` flag: set before the final playlists are written (see IndexSnapshot.ended). */
  async ended(): Promise<boolean> {
    return (await this.redis.hget(this.recordKey, 'ended')) === '1';
  }

  async markEnded(known?: string): Promise<Omit<IndexPutReceipt, 'owner'>> {
    const version = this.nextVersion();
    // One transaction: the version read is the one this write replaces.
    const replies = await this.redis
      .multi()
      .get(this.versionKey)
      .hset(this.recordKey, 'ended', '1')
      .set(this.versionKey, version)
      .exec();
    const before = (replies?.[0]?.[1] as string | null) ?? '0';
    return { version, stale: known !== undefined && before !== known };
  }

  async version(): Promise<string> {
    return (await this.redis.get(this.versionKey)) ?? '0';
  }

  async get(sequence: number): Promise<IndexedSegment | undefined> {
    const v = await this.redis.hget(this.indexKey, String(sequence));
    return v ? (JSON.parse(v) as IndexedSegment) : undefined;
  }

  async list(): Promise<IndexedSegment[]> {
    const snapshot = await this.read();
    this.lastRead = snapshot;
    return snapshot.segments;
  }

  /**
   * The whole index, with this instance's own lost writes put back first (see `read`). A read made by
   * `list()` just before (a track opened on resume) is taken again when the version shows that nothing
   * was written since, so a resume reads the index once.
   */
  async snapshot(): Promise<IndexSnapshot> {
    const last = this.lastRead;
    this.lastRead = undefined;
    if (last && (await this.version()) === last.version) return last;
    return this.read();
  }

  /**
   * The index read at one moment, with this instance's own lost writes put back first. Redis replicates
   * asynchronously: when a primary dies and Sentinel promotes its replica, the last writes the old
   * primary acknowledged may be missing on the new one. A delivered segment whose entry vanished (or
   * still reads as only reserved) would drop out of the playlists although it is in storage, so the
   * writer, which still knows what it wrote, writes it again under the same fencing. An entry someone
   * else has moved on since (the backup drain, a later owner) is left as it is.
   */
  private async read(): Promise<IndexSnapshot> {
    let snapshot = await this.readOnce();
    let reapplied = false;
    const stored = new Map(snapshot.segments.map((s) => [s.sequence, s] as const));
    for (const [sequence, { entry }] of this.written) {
      const current = stored.get(sequence);
      if (current !== undefined && current.location !== 'spool') continue;
      if (await this.add(entry)) reapplied = true;
    }
    // What was put back changed the version: read again, once, for a snapshot whose version is current.
    if (reapplied) snapshot = await this.readOnce();
    return snapshot;
  }

  private async readOnce(): Promise<IndexSnapshot> {
    const replies = await this.redis
      .multi()
      .get(this.versionKey)
      .hvals(this.indexKey)
      .hget(this.recordKey, 'ended')
      .exec();
    const failed = replies?.find(([err]) => err)?.[0];
    if (!replies || failed)
      throw failed ?? new Error(`reading ${this.indexKey}: the transaction was aborted`);
    const values = replies[1]![1] as string[];
    return {
      version: (replies[0]![1] as string | null) ?? '0',
      segments: values.map((v) => JSON.parse(v) as IndexedSegment).sort((a, b) => a.sequence - b.sequence),
      ended: replies[2]![1] === '1',
    };
  }
}
