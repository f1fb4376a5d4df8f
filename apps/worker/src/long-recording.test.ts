/**
 * Long recordings through the real segment index (a private redis-server) and the real uploader, with
 * thousands of segments in seconds (local disk on tmpfs where there is one): the live playlist follows
 * every segment, the owner's cost in Redis per segment does not grow, the complete playlist is right at
 * the end and after a resume in the middle, a late writer never takes ENDLIST away, and the backup
 * drain and spool recovery still deliver into the same playlists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingRedisKeys } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import {
  drainRecording,
  LocalDiskStorage,
  RecordingUploader,
  recordingObjectKeys,
  StorageError,
  type PutBody,
  type RecordingObjectKeys,
  type StorageAdapter,
} from '@recfleet/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { RedisSegmentIndex } from './redis-segment-index.js';
import { takeOver } from './test-support.js';
import { recoverSpool } from './spool-recovery.js';
import { StorageRegistry } from './storage-registry.js';

const PREFIX = 'long';
let server: RedisServer;
let redis: Redis;
let dir: string;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'recfleet-long-'));
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** One owner of a recording: claims it, then reserves and delivers segments as a RecordingTrack does. */
class Owner {
  readonly index: RedisSegmentIndex;
  readonly uploader: RecordingUploader;
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    readonly recordingId: string,
    readonly epoch: number,
    readonly store: StorageAdapter,
    readonly keys: RecordingObjectKeys,
    options: { backup?: StorageAdapter } = {},
  ) {
    const rk = recordingRedisKeys(PREFIX, recordingId);
    this.index = new RedisSegmentIndex(redis, rk.record, rk.segments, epoch);
    this.uploader = new RecordingUploader(store, keys, {
      index: this.index,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      ...(options.backup ? { backup: { store: options.backup, afterAttempts: 1, afterSeconds: 60 } } : {}),
    });
  }

  /** Claims the recording and reads what earlier owners left, as a session does at resume. */
  static async claim(
    recordingId: string,
    store: StorageAdapter,
    options: { backup?: StorageAdapter } = {},
  ): Promise<{ owner: Owner; next: number }> {
    const epoch = await takeOver(redis, PREFIX, recordingId, 'test:1');
    const owner = new Owner(recordingId, epoch, store, recordingObjectKeys(recordingId, 'room'), options);
    const earlier = await owner.index.list();
    return { owner, next: earlier.length > 0 ? Math.max(...earlier.map((s) => s.sequence)) + 1 : 0 };
  }

  /** Reserves then delivers segment `sequence` (its spool file is written first). */
  async record(
    sequence: number,
    options: { discontinuity?: boolean; deliver?: boolean } = {},
  ): Promise<void> {
    const filePath = join(dir, `${this.recordingId}-${this.epoch}-${sequence}.ts`);
    const body = `segment ${sequence} of ${this.recordingId}`;
    await writeFile(filePath, body);
    const segment = {
      sequence,
      durationSeconds: 2,
      bytes: Buffer.byteLength(body),
      discontinuity: options.discontinuity ?? false,
      programDateTime: Date.UTC(2026, 0, 1) + sequence * 2000,
    };
    await this.index.reserve({ ...segment, at: Date.now() });
    if (options.deliver !== false) this.deliver(sequence, segment.discontinuity);
  }

  /** Delivers a reserved segment (late, when the owner has changed meanwhile). */
  deliver(sequence: number, discontinuity = false): void {
    const body = `segment ${sequence} of ${this.recordingId}`;
    this.uploader.add({
      sequence,
      filePath: join(dir, `${this.recordingId}-${this.epoch}-${sequence}.ts`),
      durationSeconds: 2,
      bytes: Buffer.byteLength(body),
      discontinuity,
      programDateTime: Date.UTC(2026, 0, 1) + sequence * 2000,
    });
  }

  /** Records `count` segments from `from`, in order, waiting for every one (the engine's pace is ours). */
  async recordMany(from: number, count: number, first: { discontinuity?: boolean } = {}): Promise<void> {
    for (let s = from; s < from + count; s++) {
      this.chain = this.chain.then(() => this.record(s, s === from ? first : {}));
    }
    await this.chain;
  }
}

function localStore(name: string): LocalDiskStorage {
  return new LocalDiskStorage(join(dir, name));
}

async function text(store: LocalDiskStorage, key: string): Promise<string> {
  return readFile(join(store.root, key), 'utf8');
}

const listed = (playlist: string): string[] => playlist.split('\n').filter((l) => l.endsWith('.ts'));
const names = (keys: RecordingObjectKeys, from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => keys.segmentName(from + i));

/** Redis's own counters (INFO): commands by name and bytes sent to clients, the test's INFO excluded. */
async function redisCounters(): Promise<{ commands: Map<string, number>; bytesOut: number }> {
  const info = await redis.info('all');
  const commands = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') commands.set(m[1]!, Number(m[2]));
  }
  return { commands, bytesOut: Number(/^total_net_output_bytes:(\d+)/m.exec(info)![1]) };
}

function delta(
  a: Awaited<ReturnType<typeof redisCounters>>,
  b: Awaited<ReturnType<typeof redisCounters>>,
): { calls: number; byCommand: Record<string, number>; bytesOut: number } {
  const byCommand: Record<string, number> = {};
  let calls = 0;
  for (const [name, n] of b.commands) {
    const d = n - (a.commands.get(name) ?? 0);
    // A script goes by EVALSHA, and by EVAL the first time on a connection (NOSCRIPT): one request.
    const as = name === 'eval' ? 'evalsha' : name;
    if (d > 0) byCommand[as] = (byCommand[as] ?? 0) + d;
    calls += d;
  }
  return { calls, byCommand, bytesOut: b.bytesOut - a.bytesOut };
}

/** A store whose playlist puts wait while `holding` is set: a writer's requests stuck in flight. */
function holdingPlaylists(store: StorageAdapter): { store: StorageAdapter; hold(): void; release(): void } {
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  const wrapped: StorageAdapter = Object.create(store) as StorageAdapter;
  wrapped.put = async (key: string, body: PutBody) => {
    if (gate && key.endsWith('.m3u8')) await gate;
    return store.put(key, body);
  };
  return {
    store: wrapped,
    hold: () => {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => {
      gate = undefined;
      open();
    },
  };
}

describe('a long recording through the real segment index', () => {
  it('lists every new segment in the live playlist at once, at a cost per segment that does not grow', async () => {
    const store = localStore('constant');
    const { owner } = await Owner.claim('rec-constant', store);
    const { keys } = owner;
    const total = 3000;
    let liveBehind = 0;
    owner.uploader.on('uploaded', ({ sequence }) => {
      // Read at once: the uploader writes nothing more until this handler returns.
      const live = readFileSync(join(store.root, keys.livePlaylistKey), 'utf8');
      if (listed(live).at(-1) !== keys.segmentName(sequence)) liveBehind += 1;
    });
    const windows: ReturnType<typeof delta>[] = [];
    const per = 500;
    for (let from = 0; from < total; from += per) {
      const before = await redisCounters();
      await owner.recordMany(from, per);
      // Every segment of the window is delivered (and its playlists written) before the counters.
      while (owner.uploader.progress().segmentsUploaded < from + per)
        await new Promise((r) => setTimeout(r, 2));
      windows.push(delta(before, await redisCounters()));
    }
    const outcome = await owner.uploader.finish();
    expect(outcome.outcome).toBe('uploaded');
    expect(liveBehind).toBe(0);

    const first = windows[0]!;
    const last = windows.at(-1)!;
    // The same Redis commands per segment at 2,500 segments as at the start (the first window also
    // holds the uploader's check of the resume read), and no whole-index read.
    const shown = JSON.stringify(windows.map((w) => w.byCommand));
    expect(Object.keys(last.byCommand).sort(), shown).toEqual(Object.keys(first.byCommand).sort());
    for (const [command, calls] of Object.entries(first.byCommand)) {
      expect(Math.abs((last.byCommand[command] ?? 0) - calls), shown).toBeLessThanOrEqual(2);
    }
    // Requests per segment: reserve and add (scripts; the add reads the version inside), and one GET
    // of the version after the playlists.
    expect(last.byCommand.evalsha).toBe(2 * per);
    expect(last.byCommand.get).toBe(2 * per);
    for (const w of windows.slice(1)) expect(w.byCommand.hvals ?? 0).toBe(0);
    expect(last.bytesOut).toBeLessThanOrEqual(first.bytesOut * 1.2);

    const complete = await text(store, keys.playlistKey);
    expect(listed(complete)).toEqual(names(keys, 0, total));
    expect(complete.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    const live = await text(store, keys.livePlaylistKey);
    expect(listed(live).at(-1)).toBe(keys.segmentName(total - 1));
    expect(live.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });

  it('continues the same playlists after a resume in the middle, reading the index once', async () => {
    const store = localStore('resume');
    const a = await Owner.claim('rec-resume', store);
    await a.owner.recordMany(0, 1500);
    const handedOff = await a.owner.uploader.finish({ endList: false });
    expect(handedOff.outcome).toBe('uploaded');
    const keys = a.owner.keys;
    const atHandOff = await text(store, keys.playlistKey);
    expect(listed(atHandOff)).toEqual(names(keys, 0, 1500));
    expect(atHandOff).not.toContain('#EXT-X-ENDLIST');

    const before = await redisCounters();
    const b = await Owner.claim('rec-resume', store);
    expect(b.next).toBe(1500);
    await b.owner.recordMany(1500, 1500, { discontinuity: true });
    expect((await b.owner.uploader.finish()).outcome).toBe('uploaded');
    // The resume read (the track's list) is the only read of the whole index: the uploader reuses it.
    expect(delta(before, await redisCounters()).byCommand.hvals).toBe(1);

    const complete = await text(store, keys.playlistKey);
    expect(listed(complete)).toEqual(names(keys, 0, 3000));
    expect(complete.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(1);
    expect(complete).toContain(`#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME`);
    expect(
      complete
        .split('#EXT-X-DISCONTINUITY\n')[1]!
        .split('\n')
        .find((l) => l.endsWith('.ts')),
    ).toBe(keys.segmentName(1500));
    expect(complete.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });

  it('never loses ENDLIST to a fenced predecessor delivering its reserved segments late', async () => {
    const disk = localStore('late');
    const held = holdingPlaylists(disk);
    const a = await Owner.claim('rec-late', held.store);
    // A finishes 0–9 and delivers 0–7; 8 and 9 stay reserved in its spool (its store is slow).
    await a.owner.recordMany(0, 8);
    await a.owner.record(8, { deliver: false });
    await a.owner.record(9, { deliver: false });
    const keys = a.owner.keys;

    // B takes over (A's lock was lost) and records on after A's reservations.
    const b = await Owner.claim('rec-late', disk);
    expect(b.next).toBe(10);
    await b.owner.recordMany(10, 1000, { discontinuity: true });

    // A delivers 8; its playlist puts are stuck in flight while B ends the recording.
    held.hold();
    a.owner.deliver(8);
    await expect.poll(async () => (await b.owner.index.get(8))?.location, { interval: 5 }).toBe('primary');
    // A reads the index and sends its puts, which the store holds.
    await new Promise((r) => setTimeout(r, 100));
    expect((await b.owner.uploader.finish()).outcome).toBe('uploaded');
    const ended = await text(disk, keys.playlistKey);
    expect(ended.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    held.release();
    // …and A's older puts land after B's final ones: A sees the index moved and writes again.
    a.owner.deliver(9);
    const late = await a.owner.uploader.finish({ writePlaylist: false });
    expect(late.segmentsUploaded).toBe(10);

    for (const key of [keys.playlistKey, keys.livePlaylistKey]) {
      expect((await text(disk, key)).trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    }
    expect(listed(await text(disk, keys.playlistKey))).toEqual(names(keys, 0, 1010));
  });

  it('delivers into the same playlists through the backup drain and spool recovery', async () => {
    const primary = localStore('drain-primary');
    const backup = localStore('drain-backup');
    const recordingId = 'rec-drain';
    // The primary refuses segments 300–304: they go to the backup store.
    const refusing: StorageAdapter = Object.create(primary) as StorageAdapter;
    refusing.put = async (key: string, body: PutBody) => {
      const sequence = Number(/_(\d{6})\.ts$/.exec(key)?.[1] ?? -1);
      if (sequence >= 300 && sequence < 305)
        throw new StorageError('STORAGE_WRITE_FAILED', `${key}: HTTP 503`);
      return primary.put(key, body);
    };
    const a = await Owner.claim(recordingId, refusing, { backup });
    const keys = a.owner.keys;
    await a.owner.recordMany(0, 1000);
    // 1000–1002 are finished but not delivered when A's host crashes: they stay in its spool.
    const spool = join(dir, 'spool', recordingId);
    await mkdir(spool, { recursive: true });
    for (const s of [1000, 1001, 1002]) {
      await a.owner.record(s, { deliver: false });
      await writeFile(join(spool, keys.segmentName(s)), `segment ${s} of ${recordingId}`);
    }
    const outcome = await a.owner.uploader.finish({ writePlaylist: false });
    expect(outcome.backedUp).toEqual([300, 301, 302, 303, 304]);

    // B resumes, records on, ends; the recording is `backed_up`, its playlists have the gaps.
    const b = await Owner.claim(recordingId, primary);
    expect(b.next).toBe(1003);
    await b.owner.recordMany(1003, 500, { discontinuity: true });
    // A's segments in the backup are B's recording's too: it ends `backed_up`, for the drain.
    expect(await b.owner.uploader.finish()).toMatchObject({
      outcome: 'backed_up',
      backedUp: [300, 301, 302, 303, 304],
    });
    expect(listed(await text(primary, keys.playlistKey))).toHaveLength(1503 - 5 - 3);

    // A's host comes back: spool recovery delivers 1000–1002 under A's epoch.
    const rk = recordingRedisKeys(PREFIX, recordingId);
    await redis.hset(rk.record, { channel: 'room', storageProfile: 'local', storagePrefix: '' });
    const recovered = await recoverSpool({
      spoolDir: join(dir, 'spool'),
      keyPrefix: PREFIX,
      redis,
      storage: new StorageRegistry({ local: { type: 'local', root: primary.root } }),
      backup: undefined,
      log: createLogger('silent'),
    });
    expect(recovered).toEqual({ delivered: 3, discarded: 0, kept: 0 });
    // The drain moves 300–304 to the primary and rewrites both playlists.
    const drained = await drainRecording({
      primary,
      backup,
      keys,
      index: new RedisSegmentIndex(redis, rk.record, rk.segments, b.owner.epoch),
      ended: true,
    });
    expect(drained).toMatchObject({ moved: [300, 301, 302, 303, 304], remaining: [], playlistWritten: true });

    const complete = await text(primary, keys.playlistKey);
    expect(listed(complete)).toEqual(names(keys, 0, 1503));
    expect(complete.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    const live = await text(primary, keys.livePlaylistKey);
    expect(listed(live).at(-1)).toBe(keys.segmentName(1502));
    expect(live.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });
});
