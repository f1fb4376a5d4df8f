import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDiskStorage } from './local-disk-storage.js';
import { recordingObjectKeys } from './object-keys.js';
import { rebuildPlaylists } from './recording-playlists.js';
import { MemorySegmentIndex, type IndexedSegment } from './segment-index.js';
import type { PutBody, StorageAdapter } from './storage-adapter.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-writers-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const keys = recordingObjectKeys('rec-1', 'lobby');
const segment = (sequence: number): IndexedSegment => ({
  sequence,
  durationSeconds: 2,
  bytes: 1000,
  discontinuity: false,
  location: 'primary',
  key: keys.segmentKey(sequence),
  at: Date.now(),
});

/** A store whose next playlist put is held until `release()`: a slow writer's request in flight. */
function holdingNextPlaylistPut(store: StorageAdapter): { store: StorageAdapter; release(): void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let holding = true;
  const wrapped: StorageAdapter = Object.create(store) as StorageAdapter;
  wrapped.put = async (key: string, body: PutBody) => {
    if (holding && key.endsWith('.m3u8')) {
      holding = false;
      await held;
    }
    return store.put(key, body);
  };
  return { store: wrapped, release };
}

describe('several writers of one playlist', () => {
  it('a late writer that rendered an older index never takes the ENDLIST or a segment away', async () => {
    const disk = new LocalDiskStorage(dir);
    const index = new MemorySegmentIndex();
    await index.put(segment(0));
    await index.put(segment(1));
    // A fenced predecessor delivering a reserved segment late: it renders segments 0-1 and its put
    // stays in flight while the owner adds segment 2 and writes the final playlist.
    const late = holdingNextPlaylistPut(disk);
    const lateWrite = rebuildPlaylists(late.store, keys, index, false);
    await new Promise((r) => setTimeout(r, 20));
    await index.put(segment(2));
    await index.markEnded();
    await rebuildPlaylists(disk, keys, index, true);
    late.release();
    await lateWrite;

    const text = await readFile(join(dir, keys.playlistKey), 'utf8');
    expect(text).toContain('#EXT-X-ENDLIST');
    expect(text.match(/\.ts$/gm)).toHaveLength(3);
  });

  it('a writer that is not finishing still writes ENDLIST once the recording has ended', async () => {
    const disk = new LocalDiskStorage(dir);
    const index = new MemorySegmentIndex();
    await index.put(segment(0));
    await index.markEnded();
    await rebuildPlaylists(disk, keys, index, false);
    expect(await readFile(join(dir, keys.playlistKey), 'utf8')).toContain('#EXT-X-ENDLIST');
  });
});
