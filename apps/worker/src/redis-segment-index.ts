import { readFileSync } from 'node:fs';
import { FencedError, type IndexedSegment, type SegmentIndex } from '@recfleet/storage';
import type { Redis } from 'ioredis';

const lua = (name: string): string => readFileSync(new URL(`../lua/${name}`, import.meta.url), 'utf8');
const ADD_SEGMENT = lua('addSegment-2.lua');
const RESERVE_SEGMENT = lua('reserveSegment-2.lua');
const CLAIM_RECORDING = lua('claimRecording-1.lua');

/** Takes ownership of a recording; returns the epoch that fences every later write of this owner. */
export async function claimRecording(redis: Redis, recordKey: string, owner: string): Promise<number> {
  const epoch = await redis.eval(CLAIM_RECORDING, 1, recordKey, owner, String(Date.now()));
  return Number(epoch);
}

/**
 * The durable segment index of one recording in Redis, written under the owner's epoch. It outlives the
 * worker: whoever resumes the recording rebuilds the same playlist from it.
 */
export class RedisSegmentIndex implements SegmentIndex {
  constructor(
    private readonly redis: Redis,
    private readonly recordKey: string,
    private readonly indexKey: string,
    readonly epoch: number,
  ) {}

  /** Reserves a finished, not yet delivered segment's sequence (see reserveSegment-2.lua). */
  async reserve(segment: Omit<IndexedSegment, 'location' | 'key' | 'epoch'>): Promise<void> {
    const entry: IndexedSegment = { ...segment, location: 'spool', key: '', epoch: this.epoch };
    const result = await this.redis.eval(
      RESERVE_SEGMENT,
      2,
      this.recordKey,
      this.indexKey,
      String(this.epoch),
      String(segment.sequence),
      JSON.stringify(entry),
    );
    if (Number(result) === -1) {
      throw new FencedError(
        `segment ${segment.sequence} not reserved: epoch ${this.epoch} no longer owns the recording`,
      );
    }
  }

  async put(segment: IndexedSegment): Promise<void> {
    const written = await this.redis.eval(
      ADD_SEGMENT,
      2,
      this.recordKey,
      this.indexKey,
      String(this.epoch),
      String(segment.sequence),
      JSON.stringify({ ...segment, epoch: this.epoch }),
    );
    if (Number(written) !== 1) {
      throw new FencedError(
        `segment ${segment.sequence} refused: epoch ${this.epoch} no longer owns the recording`,
      );
    }
  }

  async get(sequence: number): Promise<IndexedSegment | undefined> {
    const v = await this.redis.hget(this.indexKey, String(sequence));
    return v ? (JSON.parse(v) as IndexedSegment) : undefined;
  }

  async list(): Promise<IndexedSegment[]> {
    const all = await this.redis.hvals(this.indexKey);
    return all.map((v) => JSON.parse(v) as IndexedSegment).sort((a, b) => a.sequence - b.sequence);
  }
}
