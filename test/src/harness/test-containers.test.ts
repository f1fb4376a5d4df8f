import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { containersWanted } from './test-containers.js';
import { startTestRedis } from './test-redis.js';

const engine = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
const engineRuns = engine.status === 0 && engine.stdout.trim() !== '';

describe('testcontainers, opt-in', () => {
  it('is off unless RECFLEET_TEST_CONTAINERS names the kind (or all)', () => {
    expect(containersWanted('redis', {})).toBe(false);
    expect(containersWanted('s3', { RECFLEET_TEST_CONTAINERS: 'redis' })).toBe(false);
    if (engineRuns) {
      expect(containersWanted('redis', { RECFLEET_TEST_CONTAINERS: 'redis' })).toBe(true);
      expect(containersWanted('s3', { RECFLEET_TEST_CONTAINERS: 'all' })).toBe(true);
    } else {
      // Asked for where no engine answers: an error naming what was asked, not a silent fall-back.
      expect(() => containersWanted('redis', { RECFLEET_TEST_CONTAINERS: 'redis' })).toThrow(
        /redis as a container, but no Docker engine/,
      );
      expect(() => containersWanted('s3', { RECFLEET_TEST_CONTAINERS: ' all ' })).toThrow(/s3/);
    }
  });

  it('starts the local redis-server by default, even where an engine runs', async () => {
    const saved = process.env.RECFLEET_TEST_CONTAINERS;
    delete process.env.RECFLEET_TEST_CONTAINERS;
    const redis = await startTestRedis();
    try {
      expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await redis.stop();
      if (saved !== undefined) process.env.RECFLEET_TEST_CONTAINERS = saved;
    }
  });
});
