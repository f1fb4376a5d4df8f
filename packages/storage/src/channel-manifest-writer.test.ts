import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelManifestSchema, RecfleetError, type ChannelManifest } from '@recfleet/contract';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelManifestWriter } from './channel-manifest-writer.js';
import { LocalDiskStorage } from './local-disk-storage.js';
import { manifestObjectKey, userTrackObjectKeys } from './object-keys.js';
import type { PutBody, StorageAdapter } from './storage-adapter.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-manifest-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FAST_RETRY = { attempts: 5, baseDelayMs: 5, maxDelayMs: 20 };
const key = manifestObjectKey('rec-1', 'room 1', 'tenant');

/** A manifest of `users` users (uids 1…), the first of whom has left when `ended`. */
function manifest(users: number, ended = false): ChannelManifest {
  const track = (uid: number) => userTrackObjectKeys('rec-1', 'room 1', uid, 'av', 'tenant');
  return {
    version: 1,
    recordingId: 'rec-1',
    appId: 'app1',
    channel: 'room 1',
    mode: 'individual',
    startedAt: '2026-01-02T03:04:05.000Z',
    ...(ended ? { endedAt: '2026-01-02T03:14:05.000Z' } : {}),
    ended,
    users: Array.from({ length: users }, (_, i) => ({
      uid: i + 1,
      intervals: [
        {
          joinedAt: '2026-01-02T03:04:06.000Z',
          ...(ended ? { leftAt: '2026-01-02T03:14:05.000Z', reason: 'recording_ended' as const } : {}),
          audio: true,
          video: true,
        },
      ],
      tracks: [
        {
          type: 'av' as const,
          playlistKey: track(i + 1).playlistKey,
          playlist: track(i + 1)
            .playlistKey.split('/')
            .at(-1)!,
          segments: 3,
          durationSeconds: 6,
          firstProgramDateTime: '2026-01-02T03:04:06.123Z',
        },
      ],
    })),
    notRecorded: [],
  };
}

/** The real store, with every put recorded and, while `hold` is set, each put waiting for it. */
function watched(store: StorageAdapter): {
  store: StorageAdapter;
  puts: PutBody[];
  hold: Promise<void> | undefined;
} {
  const w = {
    store: Object.create(store) as StorageAdapter,
    puts: [] as PutBody[],
    hold: undefined as Promise<void> | undefined,
  };
  w.store.put = async (k: string, body: PutBody) => {
    w.puts.push(body);
    if (w.hold) await w.hold;
    return store.put(k, body);
  };
  return w;
}

async function stored(store: LocalDiskStorage): Promise<ChannelManifest> {
  return ChannelManifestSchema.parse(JSON.parse(await readFile(store.locate(key), 'utf8')));
}

describe('channel manifest writer', () => {
  it('puts each manifest as application/json under its key, and the final one last', async () => {
    const disk = new LocalDiskStorage(join(dir, 'store'));
    const w = watched(disk);
    const writer = new ChannelManifestWriter(w.store, key, { retry: FAST_RETRY });
    const written: { ended: boolean }[] = [];
    writer.on('written', (e) => written.push(e));

    writer.update(manifest(1));
    expect(await writer.flush()).toEqual({ key, written: true });
    expect(await stored(disk)).toEqual(manifest(1));
    expect(w.puts.map((p) => p.contentType)).toEqual(['application/json']);
    expect(key).toBe('tenant/rec-1_room~201.json');

    expect(await writer.finish(manifest(2, true))).toEqual({ key, written: true });
    expect(await stored(disk)).toEqual(manifest(2, true));
    expect(written.map((e) => e.ended)).toEqual([false, true]);
    expect(() => writer.update(manifest(3))).toThrow(/already finished/);
  });

  it('refuses a manifest that breaks the schema, naming the fields, and writes nothing', async () => {
    const disk = new LocalDiskStorage(join(dir, 'store'));
    const writer = new ChannelManifestWriter(disk, key);
    const bad = { ...manifest(1), version: 2, users: [{ ...manifest(1).users[0]!, uid: 0 }] };
    let err: unknown;
    try {
      writer.update(bad as unknown as ChannelManifest);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RecfleetError);
    expect((err as RecfleetError).code).toBe('INTERNAL');
    expect((err as Error).message).toMatch(/version/);
    expect((err as Error).message).toMatch(/users\.0\.uid/);
    expect(await writer.flush()).toEqual({ key, written: false });
    expect(await disk.head(key)).toBeUndefined();
  });

  it('coalesces: one put in flight, the newest manifest replaces every waiting one', async () => {
    const disk = new LocalDiskStorage(join(dir, 'store'));
    const w = watched(disk);
    let release!: () => void;
    w.hold = new Promise<void>((resolve) => (release = resolve));
    const writer = new ChannelManifestWriter(w.store, key, { retry: FAST_RETRY });
    for (let users = 1; users <= 10; users++) writer.update(manifest(users));
    const flushed = writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(w.puts).toHaveLength(1);
    release();
    expect(await flushed).toEqual({ key, written: true });
    // The first (held) put, then the newest: the eight between were never written.
    expect(w.puts).toHaveLength(2);
    expect((await stored(disk)).users).toHaveLength(10);
  });

  it("does not retry a store that refuses, and reports the store's code", async () => {
    await writeFile(join(dir, 'refusing'), 'x');
    // A root under a plain file: every put fails with ENOTDIR, which no retry can fix.
    const writer = new ChannelManifestWriter(new LocalDiskStorage(join(dir, 'refusing', 'store')), key, {
      retry: FAST_RETRY,
    });
    const failures: { code: string; attempt: number; willRetry: boolean }[] = [];
    writer.on('manifest_failure', (f) => failures.push(f));
    writer.update(manifest(1));
    const outcome = await writer.flush();
    expect(failures).toEqual([
      expect.objectContaining({ key, code: 'STORAGE_REFUSED', attempt: 1, willRetry: false }),
    ]);
    expect(outcome).toMatchObject({ key, written: false, error: { code: 'STORAGE_REFUSED' } });
  });

  // A real full disk (a 64 KiB tmpfs), which frees up: needs root and CAP_SYS_ADMIN.
  it.skipIf(!canMount())(
    'retries a full disk, reporting STORAGE_WRITE_FAILED, until it has room',
    async () => {
      const mount = join(dir, 'small');
      await mkdir(mount);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]);
      try {
        const filler = join(mount, 'filler');
        await writeFile(filler, Buffer.alloc(64 * 1024)).catch(() => undefined);
        const disk = new LocalDiskStorage(join(mount, 'store'));
        const writer = new ChannelManifestWriter(disk, key, {
          retry: { attempts: 10, baseDelayMs: 20, maxDelayMs: 40 },
        });
        const failures: { code: string; attempt: number; willRetry: boolean }[] = [];
        const written: unknown[] = [];
        writer.on('written', (e) => written.push(e));
        writer.on('manifest_failure', (f) => {
          failures.push(f);
          if (failures.length > 1) return;
          // A user joins while the put is failing, and the operator frees space: the retry puts the newest.
          writer.update(manifest(3));
          void rm(filler, { force: true });
        });
        writer.update(manifest(2));
        expect(await writer.flush()).toEqual({ key, written: true });
        expect(failures[0]).toMatchObject({ code: 'STORAGE_WRITE_FAILED', attempt: 1, willRetry: true });
        expect(await stored(disk)).toEqual(manifest(3));
        expect(written).toHaveLength(1);
      } finally {
        execFileSync('umount', [mount]);
      }
    },
  );
});

/** Mounting needs root and CAP_SYS_ADMIN; try it once rather than guess. */
function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = join(tmpdir(), `recfleet-mount-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    execFileSync('rm', ['-rf', probe]);
  }
}
