/**
 * The worker's one clock for control polls: every recording's read is issued on the same tick, so the
 * auto-pipelining connection sends them together (against a private redis-server), and the clock stops
 * when no recording polls.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlTicks } from './control-ticks.js';
import { usePrivateRedis } from './test-support.js';

const bed = usePrivateRedis();
const opened: Redis[] = [];
afterAll(() => opened.forEach((r) => r.disconnect()));

describe('control ticks', () => {
  it("issues every recording's read on one tick, as one pipeline, and stops when nobody polls", async () => {
    const redis = new Redis({ ...bed.redis.options, enableAutoPipelining: true });
    opened.push(redis);
    await redis.ping();
    for (let i = 0; i < 50; i++) await bed.redis.hset(`rec:${i}`, 'control', i === 7 ? 'stop' : '');
    const ticks = new ControlTicks(20, redis);
    const replies: Promise<string | null>[] = [];
    let queuedAtTick: number[] = [];
    const unsubscribe = Array.from({ length: 50 }, (_, i) =>
      ticks.subscribe(() => {
        replies[i] = redis.hget(`rec:${i}`, 'control');
        if (i === 49) queuedAtTick.push(redis.autoPipelineQueueSize);
      }),
    );
    expect(ticks.size).toBe(50);
    await new Promise((r) => setTimeout(r, 70));
    // All 50 reads were waiting in one pipeline when the last recording polled on each tick.
    expect(queuedAtTick.length).toBeGreaterThanOrEqual(2);
    expect(queuedAtTick.every((n) => n === 50)).toBe(true);
    expect((await Promise.all(replies))[7]).toBe('stop');
    unsubscribe.forEach((u) => u());
    expect(ticks.size).toBe(0);
    queuedAtTick = [];
    await new Promise((r) => setTimeout(r, 60));
    expect(queuedAtTick).toEqual([]);
  });
});
