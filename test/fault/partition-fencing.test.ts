/**
 * Fault: a partition between the worker recording a stream and Redis, while the rest of the fleet still
 * reaches Redis (hosts in network namespaces; the services host holds back every byte between the
 * worker's host and Redis, both ways, closing nothing). The cut-off worker cannot know it is not an
 * outage for everyone, so it records on into its spool; the fleet clock keeps ticking, so another
 * worker takes the job over once its lock lapses and claims the recording (a newer epoch). When the
 * partition heals, the old owner's first answer from Redis (its heartbeat, a reservation) tells it:
 * it stops, its late writes are refused, and what it recorded after the claim is discarded — never
 * listed. One writer per playlist entry, no overlapping media, no event of the old owner after the new
 * one's claim, one terminal event, and a playlist FFmpeg decodes.
 *
 * The partition lasts RECFLEET_PARTITION_SECONDS (default 20; `RECFLEET_PARTITION_SECONDS=60` for the
 * minute). Needs root on Linux (ip netns); skipped with the reason otherwise. Run it alone:
 *   sudo npx vitest run test/fault/partition-fencing.test.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordingRedisKeys, TERMINAL_EVENTS, type RecordingEvent } from '@recfleet/contract';
import { RecordingClient } from '@recfleet/client';
import { recordingObjectKeys, type IndexedSegment, type S3Storage } from '@recfleet/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followRecording } from '../src/harness/fleet-fixture.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { recordFields, segmentIndex } from '../src/harness/recording-state.js';
import { labStore, startLabWorker, type LabWorker } from '../src/harness/netns-fleet.js';
import { NetnsLab, netnsUnavailableReason, type LabServices } from '../src/harness/netns.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const PARTITION_MS = Number(process.env.RECFLEET_PARTITION_SECONDS ?? 20) * 1000;
const APP = 'part';
const CHANNEL = 'fence';
const BUCKET = 'rec';
const note = (line: string): void => void process.stderr.write(`partition-fencing: ${line}\n`);

const unavailable = netnsUnavailableReason();
if (unavailable) {
  note(
    `SKIPPED — ${unavailable}. Run it as root on Linux: sudo npx vitest run test/fault/partition-fencing.test.ts`,
  );
}

type Host = LabWorker;

let lab: NetnsLab;
let services: LabServices;
let client: RecordingClient;
let redis: Redis;
let store: S3Storage;
const hosts: Host[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startHost(name: string): Promise<Host> {
  const h = await startLabWorker(lab, services, name, BUCKET);
  hosts.push(h);
  return h;
}

/** When the host's worker logged a line with `text` for the recording (pino `time`), and the line. */
function logged(
  host: Host,
  recordingId: string,
  text: string,
): { time: number; line: Record<string, unknown> } | undefined {
  for (const l of host.log) {
    if (!l.includes(text) || !l.includes(recordingId)) continue;
    const line = JSON.parse(l) as Record<string, unknown>;
    if (line.recordingId === recordingId) return { time: Number(line.time), line };
  }
  return undefined;
}

const index = (id: string): Promise<IndexedSegment[]> => segmentIndex(redis, id);
const record = (id: string): Promise<Record<string, string>> => recordFields(redis, id);

beforeAll(async () => {
  if (unavailable) return;
  lab = await NetnsLab.create();
  services = await lab.startServices({
    bucket: BUCKET,
    channels: [{ app: APP, channel: CHANNEL }],
    publisher: { width: 320, height: 180, frameRate: 15, gop: 15 },
  });
  client = new RecordingClient({ redisUrl: services.local.redisUrl });
  redis = new Redis(services.local.redisUrl).on('error', () => undefined);
  store = labStore(services, BUCKET);
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

describe.skipIf(unavailable !== undefined)('a worker partitioned from Redis while another takes over', () => {
  it(
    'records on, is fenced by the first answer after the heal, and none of its overlapping segments is listed',
    async () => {
      const a = await startHost('a');
      const { recordingId } = await client.start({
        appId: APP,
        channel: CHANNEL,
        uid: 1,
        sourceUrl: `${services.rtmpBaseUrl}/${APP}/${CHANNEL}`,
        recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 30 },
        storage: { profile: 's3' },
      });
      const { events, done } = followRecording(client, recordingId);
      await expect
        .poll(async () => (await index(recordingId)).filter((s) => s.location === 'primary').length, {
          timeout: 30_000 * scale,
          interval: 200,
        })
        .toBeGreaterThanOrEqual(2);
      const b = await startHost('b');

      const cutAt = Date.now();
      await services.hold('redis', a);
      // The fleet clock goes on (b ticks it): a's heartbeat goes stale, its lock lapses, b claims.
      await expect
        .poll(async () => (await record(recordingId)).epoch, { timeout: 30_000 * scale, interval: 200 })
        .toBe('2');
      const claimed = await record(recordingId);
      expect(Number(claimed.owner!.slice(claimed.owner!.lastIndexOf(':') + 1))).toBe(b.worker.pid);
      const claimedAt = Number(claimed.ownerSince);
      // What the old owner had reserved when it lost the recording: all it may ever list.
      const reserved = (await index(recordingId)).filter((s) => s.epoch === 1).map((s) => s.sequence);
      note(
        `b claimed ${claimedAt - cutAt} ms after the partition; a had reserved ${reserved.length} segments`,
      );

      await sleep(Math.max(0, cutAt + PARTITION_MS - Date.now()));
      expect(logged(a, recordingId, 'fenced'), 'a learns nothing while cut off').toBeUndefined();
      const healedAt = Date.now();
      await services.release('redis', a);
      await expect
        .poll(() => logged(a, recordingId, 'fenced:') !== undefined, {
          timeout: 20_000 * scale,
          interval: 200,
        })
        .toBe(true);
      const fence = logged(a, recordingId, 'fenced:')!;
      expect(fence.time).toBeGreaterThanOrEqual(healedAt);
      // It recorded through the partition; all of that after the claim is discarded, never listed.
      await expect
        .poll(() => logged(a, recordingId, 'were discarded') !== undefined, { timeout: 20_000 * scale })
        .toBe(true);
      const discarded = logged(a, recordingId, 'were discarded')!.line;
      note(
        `a fenced ${fence.time - healedAt} ms after the heal; discarded ${JSON.stringify(discarded.segments)} segments (${JSON.stringify(discarded.seconds)} s)`,
      );
      expect(Number(discarded.segments)).toBeGreaterThanOrEqual((PARTITION_MS - (claimedAt - cutAt)) / 2000);

      // Whatever a still had queued lands within moments of the heal; then the recording is stopped.
      await sleep(4000);
      await client.stop(recordingId);
      await done;
      expect(a.worker.running).toBe(true);

      const entries = await index(recordingId);
      expect(entries.filter((s) => s.epoch === 1).map((s) => s.sequence)).toEqual(reserved);
      expect(entries.map((s) => s.sequence)).toEqual([...entries.keys()]);
      expect(entries.every((s) => s.location === 'primary')).toBe(true);
      const old = entries.filter((s) => s.epoch === 1);
      const next = entries.filter((s) => s.epoch === 2);
      expect(next.length).toBeGreaterThan(2);
      expect(Math.max(...old.map((s) => s.sequence))).toBeLessThan(Math.min(...next.map((s) => s.sequence)));
      // No overlapping media: the old owner's last listed segment ends before the new owner's first begins.
      const lastOld = old.at(-1)!;
      expect(lastOld.programDateTime! + lastOld.durationSeconds * 1000).toBeLessThanOrEqual(
        next[0]!.programDateTime! + 500,
      );
      expect(next[0]!.discontinuity).toBe(true);

      // Events: nothing of epoch 1 after the first of epoch 2; one terminal event.
      const raw = await redis.xrange(recordingRedisKeys('recfleet', recordingId).events, '-', '+');
      const epochs = raw.map(([, f]) => f[f.indexOf('epoch') + 1] ?? '');
      const firstNew = epochs.indexOf('2');
      expect(firstNew).toBeGreaterThan(0);
      expect(epochs.slice(firstNew).filter((e) => e === '1')).toEqual([]);
      expect(
        events.filter((e: RecordingEvent) => TERMINAL_EVENTS.includes(e.type)).map((e) => e.type),
      ).toEqual(['uploaded']);
      expect(await record(recordingId)).toMatchObject({
        state: 'uploaded',
        epoch: '2',
        terminal: 'uploaded',
      });

      // The store holds exactly the listed segments; the playlist decodes.
      const keys = recordingObjectKeys(recordingId, CHANNEL);
      const objects = (await store.list(`${keys.baseName}_`)).filter((o) => o.key.endsWith('.ts'));
      expect(objects.map((o) => o.key)).toEqual(entries.map((s) => keys.segmentKey(s.sequence)));
      const playlist = (await store.get(keys.playlistKey))!.toString('utf8');
      expect(playlist.split('\n').filter((l) => l.endsWith('.ts'))).toEqual(
        entries.map((s) => keys.segmentName(s.sequence)),
      );
      const download = join(lab.dir, 'download');
      await mkdir(download, { recursive: true });
      for (const o of [...objects, { key: keys.playlistKey }]) {
        await writeFile(join(download, o.key), (await store.get(o.key))!);
      }
      expect(decodePlaylist(join(download, keys.playlistKey)).errors).toBe('');
    },
    (120_000 + PARTITION_MS) * scale,
  );
});
