/**
 * The backup drain's per-recording lock: a pass holds it with its own token and releases only that
 * token (releaseLock-1). A pass slower than the lock's life must not delete the lock the next pass took.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backedUpSetKey, drainLockKey, recordingRedisKeys } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import { LocalDiskStorage, recordingObjectKeys, type PutBody, type StorageAdapter } from '@recfleet/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupDrainWorker } from './backup-drain-worker.js';
import { WorkerConfigSchema } from './config.js';
import { createLogger } from './logger.js';
import { storeWithPut } from './test-support.js';
import { RedisSegmentIndex } from './redis-segment-index.js';
import { takeOver } from './test-support.js';

const PREFIX = 'drain';
let server: RedisServer;
let redis: Redis;
let dir: string;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  dir = await mkdtemp(join(tmpdir(), 'recfleet-drain-'));
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A backed-up recording with one segment in the backup store, as a worker leaves it. */
async function backedUpRecording(recordingId: string, backup: StorageAdapter): Promise<void> {
  const keys = recordingRedisKeys(PREFIX, recordingId);
  const epoch = await takeOver(redis, PREFIX, recordingId, 'host-a:1');
  const objectKeys = recordingObjectKeys(recordingId, 'room');
  const data = Buffer.alloc(500, 7);
  const stored = await backup.put(objectKeys.segmentKey(0), { data, contentType: 'video/mp2t' });
  await new RedisSegmentIndex(redis, keys.record, keys.segments, epoch).put({
    sequence: 0,
    durationSeconds: 1,
    bytes: data.length,
    discontinuity: false,
    location: 'backup',
    key: objectKeys.segmentKey(0),
    ...(stored.md5 ? { md5: stored.md5 } : {}),
    at: Date.now(),
  });
  await redis.hset(keys.record, {
    state: 'backed_up',
    channel: 'room',
    storageProfile: 'primary',
    storagePrefix: '',
    backupProfile: 'backup',
    ended: '1',
  });
  await redis.sadd(backedUpSetKey(PREFIX), recordingId);
}

function drainWorker(primary: StorageAdapter, backup: StorageAdapter, lockMs: number): BackupDrainWorker {
  const config = WorkerConfigSchema.parse({ redisUrl: server.url, keyPrefix: PREFIX });
  const stores: Record<string, StorageAdapter> = { primary, backup };
  return new BackupDrainWorker(config, { get: (name) => stores[name]! }, createLogger('silent'), {
    lockMs,
  });
}

describe('backup drain lock', () => {
  it('frees its own lock after a pass', async () => {
    const backup = new LocalDiskStorage(join(dir, 'backup-1'));
    await backedUpRecording('rec-quick', backup);
    const drain = drainWorker(new LocalDiskStorage(join(dir, 'primary-1')), backup, 60_000);
    try {
      expect(await drain.drainAll()).toBe(1);
      expect(await redis.exists(drainLockKey(PREFIX, 'rec-quick'))).toBe(0);
      expect(await redis.hget(recordingRedisKeys(PREFIX, 'rec-quick').record, 'state')).toBe('uploaded');
    } finally {
      await drain.close();
    }
  });

  it("does not delete the next pass's lock when its own expired during a slow pass", async () => {
    const backup = new LocalDiskStorage(join(dir, 'backup-2'));
    await backedUpRecording('rec-slow', backup);
    const lock = drainLockKey(PREFIX, 'rec-slow');
    const local = new LocalDiskStorage(join(dir, 'primary-2'));
    let overtaken = false;
    // The primary's first answer comes only after this pass's lock has expired and the next pass has
    // taken it.
    const slowPrimary = storeWithPut(local, async (key: string, body: PutBody) => {
      if (!overtaken) {
        while ((await redis.exists(lock)) === 1) await new Promise((r) => setTimeout(r, 20));
        await redis.set(lock, 'the-next-pass', 'PX', 60_000);
        overtaken = true;
      }
      return local.put(key, body);
    });
    const drain = drainWorker(slowPrimary, backup, 200);
    try {
      expect(await drain.drainAll()).toBe(1);
      expect(overtaken).toBe(true);
      expect(await redis.get(lock)).toBe('the-next-pass');
    } finally {
      await drain.close();
    }
  });
});
