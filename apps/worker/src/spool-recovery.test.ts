/**
 * Spool recovery after a crash: a single stream's leftovers in `<spool>/<recordingId>/`, a channel
 * recording's in one folder per user track, `<spool>/<recordingId>/<trackId>/`. Reserved segments are
 * delivered into their own track's playlist, unreserved ones discarded, partial files removed.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordingRedisKeys, trackSegmentsKey } from '@recfleet/contract';
import { recordingObjectKeys, userTrackObjectKeys } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { RedisSegmentIndex } from './redis-segment-index.js';
import { recoverSpool } from './spool-recovery.js';
import { StorageRegistry } from './storage-registry.js';
import { SessionTestbed, takeOver } from './test-support.js';

const PREFIX = 'spool';
let bed: SessionTestbed;
beforeAll(async () => {
  bed = await SessionTestbed.start(PREFIX);
});
afterAll(async () => {
  await bed?.stop();
});

/** Leaves what a crashed worker leaves: reserved segment files (and some that are not) in `dir`. */
async function leftovers(
  recordingId: string,
  dir: string,
  indexKey: string,
  epoch: number,
  files: { sequence: number; reserved: boolean }[],
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const index = new RedisSegmentIndex(
    bed.redis,
    recordingRedisKeys(PREFIX, recordingId).record,
    indexKey,
    epoch,
  );
  for (const { sequence, reserved } of files) {
    await writeFile(
      join(dir, `${recordingId}_${String(sequence).padStart(6, '0')}.ts`),
      Buffer.alloc(100, sequence),
    );
    if (reserved) {
      await index.reserve({ sequence, durationSeconds: 1, bytes: 100, discontinuity: false, at: Date.now() });
    }
  }
  await writeFile(join(dir, `${recordingId}_${String(files.length).padStart(6, '0')}.ts.part`), 'partial');
}

describe('spool recovery', () => {
  it("delivers a single stream's and each user track's reserved segments into their own playlists", async () => {
    const registry = new StorageRegistry({ local: { type: 'local', root: bed.storeRoot } });
    const single = 'rec-single';
    const channel = 'rec-channel';
    for (const id of [single, channel]) {
      const record = recordingRedisKeys(PREFIX, id).record;
      await takeOver(bed.redis, PREFIX, id, 'crashed:1');
      await bed.redis.hset(record, {
        channel: 'room',
        storageProfile: 'local',
        storagePrefix: '',
        ended: '1',
      });
    }
    await bed.redis.hset(recordingRedisKeys(PREFIX, channel).record, 'kind', 'channel');
    const segments = recordingRedisKeys(PREFIX, single).segments;
    await leftovers(single, join(bed.spoolDir, single), segments, 1, [
      { sequence: 0, reserved: true },
      { sequence: 1, reserved: false },
    ]);
    for (const track of ['10-av', '20-audio']) {
      await leftovers(
        channel,
        join(bed.spoolDir, channel, track),
        trackSegmentsKey(PREFIX, channel, track),
        1,
        [
          { sequence: 0, reserved: true },
          { sequence: 1, reserved: true },
          { sequence: 2, reserved: false },
        ],
      );
    }

    const result = await recoverSpool({
      spoolDir: bed.spoolDir,
      keyPrefix: PREFIX,
      redis: bed.redis,
      storage: registry,
      backup: undefined,
      log: createLogger('silent'),
    });
    expect(result).toEqual({ delivered: 5, discarded: 3, kept: 0 });
    expect(await readdir(bed.spoolDir)).toEqual([]);
    const playlist = (key: string): Promise<string> => readFile(join(bed.storeRoot, key), 'utf8');
    const listed = (text: string): string[] => text.split('\n').filter((l) => l.endsWith('.ts'));
    expect(listed(await playlist(recordingObjectKeys(single, 'room').playlistKey))).toEqual([
      recordingObjectKeys(single, 'room').segmentName(0),
    ]);
    for (const [uid, type] of [
      [10, 'av'],
      [20, 'audio'],
    ] as const) {
      const keys = userTrackObjectKeys(channel, 'room', uid, type);
      const text = await playlist(keys.playlistKey);
      expect(listed(text)).toEqual([keys.segmentName(0), keys.segmentName(1)]);
      expect(text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    }
    const events = await bed.events(channel);
    expect(events.filter((e) => e.type === 'uploaded_segment').map((e) => e.data.track)).toEqual(
      expect.arrayContaining(['10-av', '20-audio']),
    );
  });
});
