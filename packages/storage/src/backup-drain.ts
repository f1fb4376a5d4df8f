import type { RecordingObjectKeys } from './object-keys.js';
import { rebuildPlaylists } from './recording-playlists.js';
import { describeStorageFailure, type StorageFailure } from './recording-uploader.js';
import type { SegmentIndex } from './segment-index.js';
import { StorageError, type StorageAdapter } from './storage-adapter.js';

export interface DrainResult {
  /** Sequences moved from the backup to the primary store by this pass. */
  moved: number[];
  /** Sequences still only in the backup (the primary is still failing). */
  remaining: number[];
  /** Both playlists in the primary now list every segment (and ENDLIST when the recording ended). */
  playlistWritten: boolean;
  error?: StorageFailure;
}

/**
 * Moves one recording's backed-up segments to its primary store, then rewrites its playlists there from
 * the whole index (rebuildPlaylists).
 * Each segment is copied, verified in the primary (size and MD5), re-indexed as primary, and only then
 * deleted from the backup: a drain interrupted at any point loses nothing and can simply run again.
 */
export async function drainRecording(args: {
  primary: StorageAdapter;
  backup: StorageAdapter;
  keys: RecordingObjectKeys;
  index: SegmentIndex;
  ended: boolean;
}): Promise<DrainResult> {
  const { primary, backup, keys, index, ended } = args;
  if (!backup.get)
    throw new StorageError(
      'STORAGE_CONFIG_INVALID',
      `a ${backup.kind} store cannot serve as a backup (no get)`,
    );
  const moved: number[] = [];
  const remaining: number[] = [];
  let error: DrainResult['error'];
  for (const seg of await index.list()) {
    if (seg.location !== 'backup') continue;
    if (error) {
      remaining.push(seg.sequence);
      continue;
    }
    try {
      const data = await backup.get(seg.key);
      if (!data) throw new StorageError('STORAGE_INTEGRITY', `backup lost ${seg.key}`);
      const key = keys.segmentKey(seg.sequence);
      const stored = await primary.put(key, { data, contentType: 'video/mp2t' });
      if (stored.bytes !== seg.bytes)
        throw new StorageError(
          'STORAGE_INTEGRITY',
          `${key}: primary holds ${stored.bytes} of ${seg.bytes} bytes`,
        );
      await index.put({
        ...seg,
        location: 'primary',
        key,
        ...(stored.md5 ? { md5: stored.md5 } : {}),
        at: Date.now(),
      });
      await backup.delete(seg.key);
      moved.push(seg.sequence);
    } catch (err) {
      // The primary is still failing: stop this pass, the next one picks up from here.
      error = describeStorageFailure(err);
      remaining.push(seg.sequence);
    }
  }
  let playlistWritten = false;
  if (!error) {
    try {
      await rebuildPlaylists(primary, keys, index, ended);
      playlistWritten = true;
    } catch (err) {
      error = describeStorageFailure(err);
    }
  }
  return { moved, remaining, playlistWritten, ...(error ? { error } : {}) };
}
