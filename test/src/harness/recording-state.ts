import { recordingRedisKeys } from '@recfleet/contract';
import type { IndexedSegment } from '@recfleet/storage';
import type { Redis } from 'ioredis';

/** A single stream's segment index as Redis holds it, by sequence. */
export async function segmentIndex(redis: Redis, recordingId: string): Promise<IndexedSegment[]> {
  return (await redis.hvals(recordingRedisKeys('recfleet', recordingId).segments))
    .map((v) => JSON.parse(v) as IndexedSegment)
    .sort((a, b) => a.sequence - b.sequence);
}

/** The recording's record hash. */
export function recordFields(redis: Redis, recordingId: string): Promise<Record<string, string>> {
  return redis.hgetall(recordingRedisKeys('recfleet', recordingId).record);
}
