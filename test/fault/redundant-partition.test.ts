/**
 * Fault: the owner of a recording with `redundancy: 2` is partitioned from Redis (hosts in network
 * namespaces; the services host holds back every byte between the owner's host and Redis), while its
 * standby on another host still reaches Redis. The standby claims the recording once the owner's
 * heartbeat is stale and continues it from the first segment the owner had not reserved; when the
 * partition heals, the old owner is fenced by its first answer from Redis and discards what it recorded
 * after the claim. The playlist: one writer per entry, the segments chained on the source's clock (no
 * gap, no overlap), one discontinuity (the takeover), media time = the publisher's wall time within a
 * GOP, one terminal event, and FFmpeg decodes it.
 *
 * Needs root on Linux (ip netns); skipped with the reason otherwise. Run it alone:
 *   sudo npx vitest run test/fault/redundant-partition.test.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isTerminalEvent } from '@recfleet/contract';
import { RecordingClient } from '@recfleet/client';
import { recordingObjectKeys, type IndexedSegment, type S3Storage } from '@recfleet/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPlaylist } from '../src/harness/channel-media.js';
import { followRecording } from '../src/harness/fleet-fixture.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { recordFields, segmentIndex } from '../src/harness/recording-state.js';
import { measureContinuity } from '../src/harness/media-continuity.js';
import { labStore, startLabWorker, type LabWorker } from '../src/harness/netns-fleet.js';
import { NetnsLab, netnsUnavailableReason, type LabServices } from '../src/harness/netns.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const PARTITION_MS = 12_000;
const APP = 'part2';
const CHANNEL = 'standby';
const BUCKET = 'rec';
const MEDIA = { width: 320, height: 180, frameRate: 15, gop: 15 };
const GOP_SECONDS = MEDIA.gop / MEDIA.frameRate;
const OWNERSHIP = { heartbeatSeconds: 0.5, takeoverAfterSeconds: 2 };
const note = (line: string): void => void process.stderr.write(`redundant-partition: ${line}\n`);

const unavailable = netnsUnavailableReason();
if (unavailable) note(`SKIPPED — ${unavailable}`);

let lab: NetnsLab;
let services: LabServices;
let client: RecordingClient;
let redis: Redis;
let store: S3Storage;
const hosts = new Map<string, LabWorker>();

const index = (id: string): Promise<IndexedSegment[]> => segmentIndex(redis, id);
const record = (id: string): Promise<Record<string, string>> => recordFields(redis, id);

beforeAll(async () => {
  if (unavailable) return;
  lab = await NetnsLab.create();
  services = await lab.startServices({
    bucket: BUCKET,
    channels: [{ app: APP, channel: CHANNEL }],
    publisher: MEDIA,
  });
  client = new RecordingClient({ redisUrl: services.local.redisUrl });
  redis = new Redis(services.local.redisUrl).on('error', () => undefined);
  store = labStore(services, BUCKET);
  for (const name of ['a', 'b'])
    hosts.set(name, await startLabWorker(lab, services, name, BUCKET, OWNERSHIP));
}, 120_000 * scale);

afterAll(async () => {
  if (unavailable) return;
  await client?.close().catch(() => undefined);
  redis?.disconnect();
  await Promise.all([...hosts.values()].map((h) => h.worker.stop('SIGTERM', 5000)));
  if (lab) {
    await lab.destroy();
    expect(lab.remaining()).toEqual([]);
  }
}, 60_000 * scale);

describe.skipIf(unavailable !== undefined)(
  'the owner of a recording with redundancy 2 partitioned from Redis',
  () => {
    it(
      'is taken over by its standby with no gap, and none of its segments after the claim is listed',
      async () => {
        const { recordingId } = await client.start({
          appId: APP,
          channel: CHANNEL,
          uid: 1,
          sourceUrl: `${services.rtmpBaseUrl}/${APP}/${CHANNEL}`,
          recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 30, redundancy: 2 },
          storage: { profile: 's3' },
        });
        const { events, done } = followRecording(client, recordingId);
        await expect
          .poll(
            async () => {
              const r = await record(recordingId);
              const delivered = (await index(recordingId)).filter((s) => s.location === 'primary').length;
              return Boolean(r.standby && r.standbyHost !== r.ownerHost) && delivered >= 2;
            },
            { timeout: 40_000 * scale, interval: 200 },
          )
          .toBe(true);
        const before = await record(recordingId);
        const owner = hosts.get(before.ownerHost!)!;

        const cutAt = Date.now();
        await services.hold('redis', owner);
        await expect
          .poll(() => events.some((e) => e.type === 'takeover'), { timeout: 20_000 * scale, interval: 100 })
          .toBe(true);
        const takeover = events.find((e) => e.type === 'takeover')!;
        expect((await record(recordingId)).ownerHost).toBe(before.standbyHost);
        note(`taken over ${takeover.at - cutAt} ms after the partition: ${JSON.stringify(takeover.data)}`);
        await new Promise((r) => setTimeout(r, Math.max(0, cutAt + PARTITION_MS - Date.now())));
        await services.release('redis', owner);
        const fenced = (): boolean =>
          owner.log.some((l) => l.includes('were discarded') && l.includes(recordingId));
        await expect.poll(fenced, { timeout: 20_000 * scale, interval: 200 }).toBe(true);

        await new Promise((r) => setTimeout(r, 3000));
        await client.stop(recordingId);
        const stoppedAt = Date.now();
        await done;

        const entries = await index(recordingId);
        expect(entries.every((s) => s.location === 'primary')).toBe(true);
        for (let i = 1; i < entries.length; i++) {
          const [x, y] = [entries[i - 1]!, entries[i]!];
          expect(y.sourceStartMs, `segment ${y.sequence} starts where ${x.sequence} ends`).toBe(
            x.sourceEndMs,
          );
        }
        expect(new Set(entries.map((s) => s.epoch))).toEqual(new Set([1, 2]));
        const keys = recordingObjectKeys(recordingId, CHANNEL);
        const download = join(lab.dir, 'download');
        await mkdir(download, { recursive: true });
        const objects = (await store.list(`${keys.baseName}_`)).filter((o) => o.key.endsWith('.ts'));
        expect(objects.map((o) => o.key)).toEqual(entries.map((s) => keys.segmentKey(s.sequence)));
        for (const o of [...objects, { key: keys.playlistKey }]) {
          await writeFile(join(download, o.key), (await store.get(o.key))!);
        }
        const path = join(download, keys.playlistKey);
        const c = measureContinuity(await readPlaylist(path), entries, stoppedAt);
        note(JSON.stringify({ ...c, problems: undefined }));
        const seams = c.problems.filter((p) => p.startsWith('discontinuity before'));
        expect(seams).toHaveLength(1);
        expect(c.problems.filter((p) => !seams.includes(p))).toEqual([]);
        expect(c.lostSeconds, 'media lost').toBeLessThanOrEqual(GOP_SECONDS);
        expect(c.lostSeconds, 'media beyond the wall time').toBeGreaterThanOrEqual(-GOP_SECONDS);
        expect(decodePlaylist(path).errors).toBe('');
        expect(events.filter((e) => isTerminalEvent(e.type)).map((e) => e.type)).toEqual(['uploaded']);
      },
      (120_000 + PARTITION_MS) * scale,
    );
  },
);
