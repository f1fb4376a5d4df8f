import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingRedisKeys } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import { FencedError, LocalDiskStorage, RecordingUploader, recordingObjectKeys } from '@recfleet/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSegmentIndex } from './redis-segment-index.js';
import { takeOver } from './test-support.js';

let server: RedisServer;
let redis: Redis;
let dir: string;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  dir = await mkdtemp(join(tmpdir(), 'recfleet-index-'));
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function segment(name: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `content of ${name}`);
  return path;
}

describe('durable segment index', () => {
  it('lets a recording resumed by a new owner continue the same playlist, and fences the old owner', async () => {
    const keys = recordingRedisKeys('t1', 'rec-resume');
    const store = new LocalDiskStorage(join(dir, 'store'));
    const objectKeys = recordingObjectKeys('rec-resume', 'room');

    const epoch1 = await takeOver(redis, 't1', 'rec-resume', 'host-a:1');
    const first = new RecordingUploader(store, objectKeys, {
      index: new RedisSegmentIndex(redis, keys.record, keys.segments, epoch1),
    });
    for (const seq of [0, 1]) {
      const path = await segment(`a${seq}.ts`);
      first.add({
        sequence: seq,
        filePath: path,
        durationSeconds: 2,
        bytes: (await readFile(path)).length,
        discontinuity: false,
      });
    }
    await first.finish();

    // Host B takes over: a new epoch; the index tells it where to continue.
    const epoch2 = await takeOver(redis, 't1', 'rec-resume', 'host-b:1');
    expect(epoch2).toBe(epoch1 + 1);
    const resumedIndex = new RedisSegmentIndex(redis, keys.record, keys.segments, epoch2);
    expect((await resumedIndex.list()).map((s) => s.sequence)).toEqual([0, 1]);
    const second = new RecordingUploader(store, objectKeys, { index: resumedIndex });
    const b2 = await segment('b2.ts');
    second.add({
      sequence: 2,
      filePath: b2,
      durationSeconds: 2,
      bytes: (await readFile(b2)).length,
      discontinuity: true,
    });

    // Host A, partitioned and unaware, still tries to deliver a segment: refused, never listed.
    const stale = new RedisSegmentIndex(redis, keys.record, keys.segments, epoch1);
    await expect(
      stale.put({
        sequence: 2,
        durationSeconds: 2,
        bytes: 1,
        discontinuity: false,
        location: 'primary',
        key: 'x',
        at: 0,
      }),
    ).rejects.toBeInstanceOf(FencedError);

    const outcome = await second.finish();
    expect(outcome.outcome).toBe('uploaded');
    const playlist = await readFile(join(dir, 'store', objectKeys.playlistKey), 'utf8');
    expect(playlist).toContain(
      [
        'rec-resume_room_000001.ts',
        '#EXT-X-DISCONTINUITY',
        '#EXTINF:2.000000,',
        'rec-resume_room_000002.ts',
      ].join('\n'),
    );
    expect(playlist).toContain('rec-resume_room_000000.ts');
    expect(playlist.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    expect((await resumedIndex.list()).find((s) => s.sequence === 2)?.key).toBe(objectKeys.segmentKey(2));
  });

  it('reports a fenced uploader as failed instead of writing the playlist', async () => {
    const keys = recordingRedisKeys('t1', 'rec-fenced');
    const epoch = await takeOver(redis, 't1', 'rec-fenced', 'host-a:1');
    await takeOver(redis, 't1', 'rec-fenced', 'host-b:1');
    const store = new LocalDiskStorage(join(dir, 'store2'));
    const uploader = new RecordingUploader(store, recordingObjectKeys('rec-fenced', 'room'), {
      index: new RedisSegmentIndex(redis, keys.record, keys.segments, epoch),
    });
    const path = await segment('f0.ts');
    uploader.add({
      sequence: 0,
      filePath: path,
      durationSeconds: 1,
      bytes: (await readFile(path)).length,
      discontinuity: false,
    });
    const outcome = await uploader.finish();
    expect(outcome.outcome).toBe('failed');
    expect(outcome.error?.code).toBe('FENCED');
    expect(await store.head(recordingObjectKeys('rec-fenced', 'room').playlistKey)).toBeUndefined();
  });

  it("keeps an earlier owner's epoch on a segment another writer moves (the drain's move to the primary)", async () => {
    const keys = recordingRedisKeys('t1', 'rec-drained');
    const epoch1 = await takeOver(redis, 't1', 'rec-drained', 'host-a:1');
    const first = new RedisSegmentIndex(redis, keys.record, keys.segments, epoch1);
    const backedUp = {
      sequence: 0,
      durationSeconds: 2,
      bytes: 10,
      discontinuity: false,
      location: 'backup' as const,
      key: 'rec-drained_room_000000.ts',
      at: Date.now(),
    };
    await first.put(backedUp);
    const epoch2 = await takeOver(redis, 't1', 'rec-drained', 'host-b:1');
    const last = new RedisSegmentIndex(redis, keys.record, keys.segments, epoch2);
    await last.put({ ...backedUp, sequence: 1, key: 'rec-drained_room_000001.ts', location: 'primary' });
    // The drain holds the last epoch's credential and moves segment 0 as the index lists it.
    const [moved] = await last.list();
    await last.put({ ...moved!, location: 'primary' });
    expect((await last.list()).map((s) => [s.sequence, s.location, s.epoch])).toEqual([
      [0, 'primary', epoch1],
      [1, 'primary', epoch2],
    ]);
  });
});
