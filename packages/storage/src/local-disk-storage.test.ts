import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecfleetError, uploadPercent } from '@recfleet/contract';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDiskStorage } from './local-disk-storage.js';
import { recordingObjectKeys } from './object-keys.js';
import { RecordingUploader } from './recording-uploader.js';
import { StorageError } from './storage-adapter.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-local-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('local disk storage', () => {
  it('puts atomically, verifies, lists by prefix and deletes', async () => {
    const store = new LocalDiskStorage(join(dir, 'root'));
    const stored = await store.put('a/b/c.ts', { data: Buffer.from('hello'), contentType: 'video/mp2t' });
    expect(stored).toEqual({ key: 'a/b/c.ts', bytes: 5, md5: '5d41402abc4b2a76b9719d911017c592' });
    await store.put('a/x.m3u8', {
      data: Buffer.from('#EXTM3U\n'),
      contentType: 'application/vnd.apple.mpegurl',
    });
    expect((await store.list('a/b/')).map((o) => o.key)).toEqual(['a/b/c.ts']);
    expect(await readdir(join(dir, 'root', 'a', 'b'))).toEqual(['c.ts']);
    await store.delete('a/b/c.ts');
    expect(await store.head('a/b/c.ts')).toBeUndefined();
  });

  it('refuses a key that would escape its root', async () => {
    const store = new LocalDiskStorage(join(dir, 'root'));
    const err = await store
      .put('../outside', { data: Buffer.from('x'), contentType: 'text/plain' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('STORAGE_REFUSED');
  });

  it('fails clearly and without retry when the root is not writable', async () => {
    await writeFile(join(dir, 'file'), 'not a directory');
    const store = new LocalDiskStorage(join(dir, 'file', 'root'));
    const err = (await store
      .put('k', { data: Buffer.from('x'), contentType: 'text/plain' })
      .catch((e: unknown) => e)) as StorageError;
    expect(err).toBeInstanceOf(RecfleetError);
    expect(err.code).toBe('STORAGE_REFUSED');
    expect(err.category).toBe('storage');
    expect(err.retryable).toBe(false);
  });
});

describe('recording uploader', () => {
  it('reports 0 % uploaded before any segment exists, then the share of bytes in the store', async () => {
    const store = new LocalDiskStorage(join(dir, 'store'));
    const uploader = new RecordingUploader(store, recordingObjectKeys('rec-pct', 'room'));
    expect(uploader.progress().percent).toBe(0);
    const file = join(dir, 'spool-pct.ts');
    await writeFile(file, Buffer.alloc(300));
    uploader.add({ sequence: 0, filePath: file, durationSeconds: 1, bytes: 300, discontinuity: false });
    expect(uploader.progress()).toMatchObject({ bytesTotal: 300, bytesUploaded: 0, percent: 0 });
    const outcome = await uploader.finish();
    expect(outcome.percent).toBe(100);
    expect(uploader.progress().percent).toBe(uploadPercent(300, 300));
  });

  it('delivers segments in order, keeps the playlist current and deletes spool files only once stored', async () => {
    const store = new LocalDiskStorage(join(dir, 'store'));
    const keys = recordingObjectKeys('rec1', 'room', 'p');
    const uploader = new RecordingUploader(store, keys);
    const playlists: string[] = [];
    uploader.on('uploaded', () => void 0);
    for (const seq of [0, 1, 2]) {
      const file = join(dir, `spool-${seq}.ts`);
      await writeFile(file, Buffer.alloc(100 + seq, seq));
      uploader.add({
        sequence: seq,
        filePath: file,
        durationSeconds: 2,
        bytes: 100 + seq,
        discontinuity: seq === 2,
      });
    }
    uploader.on(
      'uploaded',
      () => void readFile(join(dir, 'store', keys.playlistKey), 'utf8').then((t) => playlists.push(t)),
    );
    const outcome = await uploader.finish();
    expect(outcome.outcome).toBe('uploaded');
    expect(outcome.segmentsUploaded).toBe(3);
    expect(outcome.percent).toBe(100);
    const final = await readFile(join(dir, 'store', keys.playlistKey), 'utf8');
    expect(final).toContain('#EXT-X-DISCONTINUITY\n#EXTINF:2.000000,\nrec1_room_000002.ts');
    expect(final.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    expect((await readdir(dir)).filter((f) => f.startsWith('spool-'))).toEqual([]);
    expect((await readFile(join(dir, 'store', keys.segmentKey(1)))).length).toBe(101);
  });

  it("does not retry a store that refuses, and fails with the store's own code", async () => {
    await writeFile(join(dir, 'refusing'), 'x');
    // A root under a plain file: every put fails with ENOTDIR, which no retry can fix.
    const store = new LocalDiskStorage(join(dir, 'refusing', 'store'));
    const uploader = new RecordingUploader(store, recordingObjectKeys('rec-refused', 'room'), {
      retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const failures: { code: string; attempt: number; willRetry: boolean }[] = [];
    uploader.on('uploader_failure', (f) => failures.push(f));
    const file = join(dir, 'spool-refused.ts');
    await writeFile(file, 'data');
    uploader.add({ sequence: 0, filePath: file, durationSeconds: 1, bytes: 4, discontinuity: false });
    // Without the playlist write, the outcome's error is the segment's own.
    const outcome = await uploader.finish({ writePlaylist: false });
    expect(failures).toEqual([
      expect.objectContaining({ code: 'STORAGE_REFUSED', attempt: 1, willRetry: false }),
    ]);
    expect(outcome.outcome).toBe('failed');
    expect(outcome.error?.code).toBe('STORAGE_REFUSED');
    expect(outcome.error?.message).toMatch(/kept failing: local put/);
  });

  it('keeps the spool file and reports the segment missing when the store keeps failing', async () => {
    await writeFile(join(dir, 'blocker'), 'x');
    const store = new LocalDiskStorage(join(dir, 'blocker', 'store'));
    const uploader = new RecordingUploader(store, recordingObjectKeys('rec1', 'room'), {
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const failures: unknown[] = [];
    uploader.on('uploader_failure', (f) => failures.push(f));
    const file = join(dir, 'spool-0.ts');
    await writeFile(file, 'data');
    uploader.add({ sequence: 0, filePath: file, durationSeconds: 1, bytes: 4, discontinuity: false });
    const outcome = await uploader.finish();
    expect(outcome.outcome).toBe('failed');
    expect(outcome.missing).toEqual([0]);
    expect(failures.length).toBeGreaterThan(0);
    expect(await readFile(file, 'utf8')).toBe('data');
  });
});
