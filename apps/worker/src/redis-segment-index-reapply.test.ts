/**
 * The writer puts back index entries a Redis failover lost. Here the loss is made by deleting or
 * rolling back entries directly (what a promoted replica that missed the last writes looks like); the
 * real failover is test/fault/redis-sentinel-failover.test.ts.
 */
import { recordingRedisKeys } from '@recfleet/contract';
import type { IndexedSegment } from '@recfleet/storage';
import { describe, expect, it } from 'vitest';
import { RedisSegmentIndex } from './redis-segment-index.js';
import { takeOver, usePrivateRedis } from './test-support.js';

const bed = usePrivateRedis();

const entry = (sequence: number, location: IndexedSegment['location'] = 'primary'): IndexedSegment => ({
  sequence,
  durationSeconds: 1,
  bytes: 100 + sequence,
  discontinuity: false,
  location,
  key: location === 'spool' ? '' : `rec/${sequence}.ts`,
  at: 1,
});

describe('segment index after a failover lost writes', () => {
  it('puts back the delivered entries it wrote, and only those', async () => {
    const keys = recordingRedisKeys('reapply', 'rec-1');
    const epoch = await takeOver(bed.redis, 'reapply', 'rec-1', 'host-a:1');
    const index = new RedisSegmentIndex(bed.redis, keys.record, keys.segments, epoch);
    for (const s of [0, 1, 2, 3]) {
      await index.reserve(entry(s, 'spool'));
      await index.put(entry(s));
    }
    // The promoted replica missed: the put of 2 (the reservation is there), and 3 entirely.
    await bed.redis.hset(keys.segments, '2', JSON.stringify({ ...entry(2, 'spool'), epoch }));
    await bed.redis.hdel(keys.segments, '3');
    // Someone else's entry, never written by this instance, is not invented either.
    await bed.redis.hset(keys.segments, '9', JSON.stringify({ ...entry(9, 'spool'), epoch }));

    const listed = await index.list();
    expect(listed.map((s) => [s.sequence, s.location])).toEqual([
      [0, 'primary'],
      [1, 'primary'],
      [2, 'primary'],
      [3, 'primary'],
      [9, 'spool'],
    ]);
    // Written back to Redis, not just returned.
    expect(JSON.parse((await bed.redis.hget(keys.segments, '3'))!)).toMatchObject({
      location: 'primary',
      epoch,
    });
  });

  it('leaves an entry another writer moved on, and writes nothing once fenced', async () => {
    const keys = recordingRedisKeys('reapply', 'rec-2');
    const epoch1 = await takeOver(bed.redis, 'reapply', 'rec-2', 'host-a:1');
    const old = new RedisSegmentIndex(bed.redis, keys.record, keys.segments, epoch1);
    await old.reserve(entry(0, 'spool'));
    await old.put(entry(0, 'backup'));
    await old.reserve(entry(1, 'spool'));
    await old.put(entry(1));
    // The drain delivered 0 to the primary store since; a new owner took the recording.
    await bed.redis.hset(keys.segments, '0', JSON.stringify({ ...entry(0), epoch: epoch1 }));
    await takeOver(bed.redis, 'reapply', 'rec-2', 'host-b:1');
    await bed.redis.hdel(keys.segments, '1');

    const listed = await old.list();
    expect(listed.map((s) => [s.sequence, s.location])).toEqual([[0, 'primary']]);
    expect(await bed.redis.hexists(keys.segments, '1')).toBe(0);
  });
});
