/**
 * The outcome of a recording's last owner: a segment an earlier owner put in the backup store (before a
 * hand-off, a crash or a partition) is still only there, so the recording is `backed_up` — left to the
 * drain — however well this owner's own uploads went. Its playlist does not list that segment until
 * the drain has moved it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDiskStorage } from './local-disk-storage.js';
import { recordingObjectKeys } from './object-keys.js';
import { RecordingUploader } from './recording-uploader.js';
import { MemorySegmentIndex, type IndexedSegment } from './segment-index.js';

const keys = recordingObjectKeys('rec-resumed', 'lobby');
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-uploader-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What an earlier owner left in the index: segment 0 in the backup store. */
function earlierOwnersBackup(): IndexedSegment {
  return {
    sequence: 0,
    durationSeconds: 2,
    bytes: 9,
    discontinuity: false,
    location: 'backup',
    key: keys.segmentKey(0),
    epoch: 1,
    at: Date.now(),
  };
}

/** This owner's uploader delivers segment 1 to a working primary and finishes. */
async function finishWithOneSegment(index: MemorySegmentIndex): Promise<RecordingUploader> {
  const uploader = new RecordingUploader(new LocalDiskStorage(join(dir, 'store')), keys, { index });
  const filePath = join(dir, 'seg1.ts');
  await writeFile(filePath, 'segment 1');
  uploader.add({ sequence: 1, filePath, durationSeconds: 2, bytes: 9, discontinuity: true });
  return uploader;
}

describe('the last owner of a recording', () => {
  it('ends backed_up when an earlier owner left a segment in the backup store', async () => {
    const index = new MemorySegmentIndex();
    await index.put(earlierOwnersBackup());
    const outcome = await (await finishWithOneSegment(index)).finish();
    expect(outcome.outcome).toBe('backed_up');
    expect(outcome.backedUp).toEqual([0]);
    expect(outcome.playlistWritten).toBe(true);
  });

  it('ends uploaded when every segment of the index is in the primary', async () => {
    const index = new MemorySegmentIndex();
    await index.put({ ...earlierOwnersBackup(), location: 'primary' });
    const outcome = await (await finishWithOneSegment(index)).finish();
    expect(outcome.outcome).toBe('uploaded');
    expect(outcome.backedUp).toEqual([]);
  });
});
