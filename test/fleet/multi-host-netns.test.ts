/**
 * Multi-host on one machine: three worker hosts, each in its own network namespace, and a services host
 * (Redis, the channel server with its publishers, s3rver) in another, cabled to one switch.
 *  - 30 recordings spread over the three hosts, none beyond its admission budget;
 *  - the store stops answering one host, then that host's cable is pulled: its recordings resume on
 *    the other two (the cut host cannot tell a partition from an outage of Redis, so it records on
 *    until Redis answers it again), and the segments it had reserved but not delivered still arrive
 *    once the network heals (nothing lost);
 *  - the cable is plugged back in: the cut host learns from Redis that the others own those recordings
 *    now (fencing), writes none of them again, and (the other two being full) takes new ones;
 *  - a fourth host joins a full fleet: it takes the next new recordings.
 * Every recording ends complete in the store: contiguous sequences, one writer per sequence, playlist
 * and objects agreeing, the resumed ones decoding without an error.
 *
 * Needs root on Linux (ip netns); skipped with the reason otherwise. Run it alone:
 *   sudo npx vitest run test/fleet/multi-host-netns.test.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeChannelAsStreamName, recordingRedisKeys } from '@recfleet/contract';
import { RecordingClient } from '@recfleet/client';
import { recordingObjectKeys, type IndexedSegment, type S3Storage } from '@recfleet/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePlaylist } from '../src/harness/media-check.js';
import { segmentIndex } from '../src/harness/recording-state.js';
import { labStore, startLabWorker, type LabWorker } from '../src/harness/netns-fleet.js';
import { NetnsLab, netnsUnavailableReason, type LabServices } from '../src/harness/netns.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const APP = 'netns';
const CHANNELS = ['north', 'south', 'east'];
const BUCKET = 'rec';
/** Admission budget of every host: 1.5 cores at 0.1 core per recording, i.e. 15 recordings. */
const CAPACITY = 15;
const ADMISSION = { cpuBudgetCores: 1.5, cpuCoresPerStream: 0.1, memoryMbPerStream: 1 };
const SEGMENT_SECONDS = 2;

/** Lines worth seeing in the run's output (why it skipped; spread, resume time), on stderr. */
const note = (line: string): void => void process.stderr.write(`multi-host-netns: ${line}\n`);

const unavailable = netnsUnavailableReason();
if (unavailable) {
  note(
    `SKIPPED — ${unavailable}. ` +
      'Run it as root on Linux: sudo npx vitest run test/fleet/multi-host-netns.test.ts',
  );
}

type Host = LabWorker;

interface RecordState {
  state: string;
  owner: string;
  epoch: number;
  ownerSince: number;
}

let lab: NetnsLab;
let services: LabServices;
let client: RecordingClient;
let redis: Redis;
let store: S3Storage;
const hosts: Host[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startHost(name: string): Promise<Host> {
  const h = await startLabWorker(lab, services, name, BUCKET, { admission: ADMISSION });
  hosts.push(h);
  return h;
}

/** The host whose worker is `owner` (`host:pid`, the worker's identity). */
function hostOf(owner: string): Host | undefined {
  const pid = Number(owner.slice(owner.lastIndexOf(':') + 1));
  return hosts.find((h) => h.worker.pid === pid);
}

async function record(id: string): Promise<RecordState> {
  const f = await redis.hgetall(recordingRedisKeys('recfleet', id).record);
  return {
    state: f.state ?? '',
    owner: f.owner ?? '',
    epoch: Number(f.epoch ?? 0),
    ownerSince: Number(f.ownerSince ?? 0),
  };
}

const index = (id: string): Promise<IndexedSegment[]> => segmentIndex(redis, id);

let nextUid = 1;
const channelOf = new Map<string, string>();
async function startRecordings(prefix: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const uid = nextUid++;
    const channel = CHANNELS[uid % CHANNELS.length]!;
    const { recordingId } = await client.start({
      recordingId: `${prefix}-${i}`,
      appId: APP,
      channel,
      uid,
      sourceUrl: `${services.rtmpBaseUrl}/${APP}/${encodeChannelAsStreamName(channel)}`,
      recordingConfig: { segmentSeconds: SEGMENT_SECONDS, maxIdleSeconds: 15 },
      storage: { profile: 's3' },
    });
    channelOf.set(recordingId, channel);
    ids.push(recordingId);
  }
  return ids;
}

/** How many of `ids` each host is recording now. */
async function spread(ids: string[]): Promise<Map<string, number>> {
  const counts = new Map(hosts.map((h) => [h.name, 0]));
  for (const id of ids) {
    const r = await record(id);
    const h = hostOf(r.owner);
    if (r.state === 'recording' && h) counts.set(h.name, (counts.get(h.name) ?? 0) + 1);
  }
  return counts;
}

async function allRecording(ids: string[]): Promise<number> {
  let n = 0;
  for (const id of ids) if ((await record(id)).state === 'recording') n++;
  return n;
}

/** When the host's worker logged that it stopped writing `recordingId` (pino `time`). */
function fencedAt(host: Host, recordingId: string): number | undefined {
  for (const line of host.log) {
    if (!line.includes('"fenced:') || !line.includes(recordingId)) continue;
    const entry = JSON.parse(line) as { recordingId?: string; time?: number };
    if (entry.recordingId === recordingId) return entry.time;
  }
  return undefined;
}

beforeAll(async () => {
  if (unavailable) return;
  lab = await NetnsLab.create();
  services = await lab.startServices({
    bucket: BUCKET,
    channels: CHANNELS.map((channel) => ({ app: APP, channel })),
    // Small and cheap: three encoders and ~50 pulls must leave the two cores to the fleet.
    publisher: { width: 320, height: 180, frameRate: 15, gop: 15 },
  });
  client = new RecordingClient({ redisUrl: services.local.redisUrl });
  // Errors surface as failed commands; the client's own error events would only repeat them.
  redis = new Redis(services.local.redisUrl).on('error', () => undefined);
  store = labStore(services, BUCKET);
  await Promise.all(['h1', 'h2', 'h3'].map((name) => startHost(name)));
}, 120_000 * scale);

afterAll(async () => {
  if (unavailable) return;
  await client?.close().catch(() => undefined);
  redis?.disconnect();
  await Promise.all(hosts.map((h) => h.worker.stop('SIGTERM', 5000)));
  if (lab) {
    await lab.destroy();
    expect(lab.remaining()).toEqual([]);
  }
}, 60_000 * scale);

describe.skipIf(unavailable !== undefined)('a fleet of hosts in network namespaces', () => {
  const first: string[] = [];
  let victim: Host;
  let victimIds: string[] = [];
  /** Per recording of the cut host: its epoch there, and the sequences it had reserved by the takeover. */
  const before = new Map<string, { epoch: number; sequences: number[] }>();
  const later: string[] = [];

  it(
    'spreads 30 recordings over three hosts, none beyond its admission budget',
    async () => {
      first.push(...(await startRecordings('first', 30)));
      await expect.poll(() => allRecording(first), { timeout: 60_000 * scale, interval: 500 }).toBe(30);
      const counts = await spread(first);
      note(`spread of 30 recordings: ${JSON.stringify(Object.fromEntries(counts))}`);
      expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(30);
      // No host beyond its budget, so 30 recordings cannot sit on fewer than two of them. How evenly the
      // three share them is the queue's race, not a promise: it is reported, not asserted.
      for (const [name, n] of counts) expect(n, `recordings on ${name}`).toBeLessThanOrEqual(CAPACITY);
      expect([...counts.values()].filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
      // Each has delivered segments before anything goes wrong.
      await expect
        .poll(
          async () => {
            for (const id of first) {
              if ((await index(id)).filter((s) => s.location === 'primary').length < 2) return false;
            }
            return true;
          },
          { timeout: 30_000 * scale, interval: 500 },
        )
        .toBe(true);
    },
    120_000 * scale,
  );

  it(
    "resumes a cut host's recordings on the others while it is cut off",
    async () => {
      // Cut the busiest host: the two others have exactly room for its recordings (2 × 15 = 30).
      const counts = await spread(first);
      victim = hosts.reduce((a, b) => ((counts.get(b.name) ?? 0) > (counts.get(a.name) ?? 0) ? b : a));
      const others = hosts.filter((h) => h !== victim);
      victimIds = [];
      for (const id of first) {
        const r = await record(id);
        if (hostOf(r.owner) === victim) {
          victimIds.push(id);
          before.set(id, { epoch: r.epoch, sequences: [] });
        }
      }
      // First the store stops answering that host, so that every one of its recordings has a finished,
      // reserved segment still to deliver when the cable goes: those must arrive after the heal.
      await services.hold('s3', victim);
      await expect
        .poll(
          async () => {
            let waiting = 0;
            for (const id of victimIds) if ((await index(id)).some((s) => s.location === 'spool')) waiting++;
            return waiting;
          },
          { timeout: 20_000 * scale, interval: 200 },
        )
        .toBe(victimIds.length);
      const cutAt = Date.now();
      lab.cut(victim.name);

      await expect
        .poll(
          async () => {
            let resumed = 0;
            for (const id of victimIds) {
              const r = await record(id);
              const h = hostOf(r.owner);
              const fresh = (await index(id)).filter((s) => s.epoch === r.epoch && s.location === 'primary');
              if (r.epoch > before.get(id)!.epoch && h && others.includes(h) && fresh.length >= 2) resumed++;
            }
            return resumed;
          },
          { timeout: 60_000 * scale, interval: 500 },
        )
        .toBe(victimIds.length);

      let slowest = 0;
      let heldBack = 0;
      for (const id of victimIds) {
        const r = await record(id);
        slowest = Math.max(slowest, r.ownerSince - cutAt);
        // Cut off, it heard nothing yet: it learns of the new owner when the network heals.
        expect(fencedAt(victim, id), `no fence of ${id} while the cut host is cut off`).toBeUndefined();
        const old = (await index(id)).filter((s) => s.epoch === before.get(id)!.epoch);
        expect(old.length, `segments of ${id} from the cut host`).toBeGreaterThanOrEqual(2);
        before.get(id)!.sequences = old.map((s) => s.sequence);
        heldBack += old.filter((s) => s.location !== 'primary').length;
      }
      expect(heldBack).toBeGreaterThanOrEqual(victimIds.length);
      note(
        `${victimIds.length} recordings of ${victim.name} resumed ≤ ${slowest} ms after the cut; ` +
          `${heldBack} segments it had reserved were still undelivered`,
      );
      const after = await spread(first);
      expect(after.get(victim.name)).toBe(0);
      for (const h of others) expect(after.get(h.name)!).toBeLessThanOrEqual(CAPACITY);
      expect(await allRecording(first)).toBe(30);
    },
    120_000 * scale,
  );

  it(
    'restored, the cut host delivers what it had reserved and writes nothing more of them',
    async () => {
      const restoredAt = Date.now();
      lab.restore(victim.name);
      await services.release('s3', victim);
      // Redis's first answers (its heartbeats, its reservations) tell it: it stops writing each of them.
      await expect
        .poll(() => victimIds.every((id) => fencedAt(victim, id) !== undefined), {
          timeout: 30_000 * scale,
          interval: 500,
        })
        .toBe(true);
      for (const id of victimIds) expect(fencedAt(victim, id)!).toBeGreaterThanOrEqual(restoredAt);
      // Its held-back requests reach Redis and the store now: reserved segments arrive (nothing is lost),
      // everything else it recorded was refused by its stale epoch.
      await expect
        .poll(
          async () => {
            for (const id of victimIds) {
              if ((await index(id)).some((s) => s.location !== 'primary')) return false;
            }
            return true;
          },
          { timeout: 30_000 * scale, interval: 500 },
        )
        .toBe(true);
      // Whatever else it still had queued (reservations, segments, playlist writes) lands within moments
      // of the heal; give it that time before judging that it wrote nothing more.
      await sleep(4000);
      for (const id of victimIds) {
        const { epoch, sequences } = before.get(id)!;
        const entries = await index(id);
        expect(
          entries.filter((s) => s.epoch === epoch).map((s) => s.sequence),
          `${id}: the cut host's segments`,
        ).toEqual(sequences);
        const r = await record(id);
        expect(hostOf(r.owner)).not.toBe(victim);
        expect(r.epoch).toBeGreaterThan(epoch);
      }
      expect(victim.worker.running).toBe(true);
      expect((await spread(first)).get(victim.name)).toBe(0);
    },
    90_000 * scale,
  );

  it(
    'new recordings go to the host with room: the restored one, then a fourth host',
    async () => {
      // The two others are full (2 × 15): only the restored host can take these.
      const wave = await startRecordings('restored', CAPACITY);
      later.push(...wave);
      await expect.poll(() => allRecording(wave), { timeout: 60_000 * scale, interval: 500 }).toBe(CAPACITY);
      expect((await spread(wave)).get(victim.name)).toBe(CAPACITY);

      // Every host is full now; a fourth joins the fleet and takes the next ones.
      const fourth = await startHost('h4');
      const next = await startRecordings('fourth', 3);
      later.push(...next);
      await expect.poll(() => allRecording(next), { timeout: 60_000 * scale, interval: 500 }).toBe(3);
      expect((await spread(next)).get(fourth.name)).toBe(3);
      const all = await spread([...first, ...later]);
      note(`spread of all recordings: ${JSON.stringify(Object.fromEntries(all))}`);
      for (const h of hosts) expect(all.get(h.name)!).toBeLessThanOrEqual(CAPACITY);
    },
    150_000 * scale,
  );

  it(
    'ends every recording complete and contiguous in the store, with one writer per segment',
    async () => {
      const ids = [...first, ...later];
      // Let the newest ones cut a few segments before stopping everything.
      await expect
        .poll(
          async () => {
            for (const id of later) {
              if ((await index(id)).filter((s) => s.location === 'primary').length < 2) return false;
            }
            return true;
          },
          { timeout: 30_000 * scale, interval: 500 },
        )
        .toBe(true);
      for (const id of ids) await client.stop(id);
      await expect
        .poll(
          async () => {
            let n = 0;
            for (const id of ids) if ((await record(id)).state === 'uploaded') n++;
            return n;
          },
          { timeout: 90_000 * scale, interval: 1000 },
        )
        .toBe(ids.length);

      let takeovers = 0;
      const download = join(lab.dir, 'download');
      await mkdir(download, { recursive: true });
      for (const id of ids) {
        const keys = recordingObjectKeys(id, channelOf.get(id)!);
        const entries = await index(id);
        const sequences = entries.map((s) => s.sequence);
        expect(sequences, `${id}: contiguous from 0`).toEqual([...sequences.keys()]);
        expect(entries.every((s) => s.location === 'primary')).toBe(true);

        // The store holds exactly the indexed segments, with the indexed bytes: no extra or overwritten
        // object from a writer that had lost the recording.
        const objects = await store.list(`${keys.baseName}_`);
        const segmentObjects = objects.filter((o) => o.key.endsWith('.ts'));
        expect(segmentObjects.map((o) => o.key)).toEqual(entries.map((s) => keys.segmentKey(s.sequence)));
        for (const [i, o] of segmentObjects.entries()) {
          expect(o.bytes).toBe(entries[i]!.bytes);
          expect(o.md5, o.key).toMatch(/^[0-9a-f]{32}$/);
          expect(o.md5).toBe(entries[i]!.md5);
        }
        const playlist = (await store.get(keys.playlistKey))!.toString('utf8');
        expect(playlist.split('\n').filter((l) => l.endsWith('.ts'))).toEqual(
          entries.map((s) => keys.segmentName(s.sequence)),
        );
        expect(playlist.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);

        // One writer at a time: along the sequence the epoch never goes back (no interleaving), and every
        // change of writer is marked as a discontinuity.
        for (let i = 1; i < entries.length; i++) {
          const [prev, cur] = [entries[i - 1]!, entries[i]!];
          expect(cur.epoch!, `${id}: epoch at ${cur.sequence}`).toBeGreaterThanOrEqual(prev.epoch!);
          if (cur.epoch !== prev.epoch)
            expect(cur.discontinuity, `${id}: writer change at ${cur.sequence}`).toBe(true);
        }
        const cut = before.get(id);
        if (!cut) {
          takeovers += new Set(entries.map((s) => s.epoch)).size - 1;
          continue;
        }
        // A resumed recording: exactly what the cut host had reserved comes first, then the new owner's.
        expect(entries.filter((s) => s.epoch === cut.epoch).map((s) => s.sequence)).toEqual(cut.sequences);
        expect(cut.sequences).toEqual([...cut.sequences.keys()]);
        expect(entries.at(-1)!.epoch!).toBeGreaterThan(cut.epoch);
        for (const o of [...segmentObjects, { key: keys.playlistKey }]) {
          await writeFile(join(download, o.key), (await store.get(o.key))!);
        }
        expect(decodePlaylist(join(download, keys.playlistKey)).errors, `${id} decodes`).toBe('');
      }
      // Hosts that were never cut may still hand a recording over (a lock renewal late under load): allowed,
      // fenced the same way, and reported so that a run with many is noticed.
      note(`takeovers besides the cut: ${takeovers}`);
    },
    180_000 * scale,
  );
});
