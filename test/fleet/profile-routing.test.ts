/**
 * A job runs only where it can: two worker processes with different storage profiles (one has `alpha`,
 * the other `beta`) and ten recordings naming one or the other. A host that takes a job whose profile it
 * lacks puts it back for the host that has it, so every recording runs — and is stored — on a host with
 * its profile, and none fails. A raw BullMQ job naming a profile no live host has (the producer refuses
 * one) fails at once with STORAGE_PROFILE_UNKNOWN, on the record and the job.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseFailure, RECORD_JOB_NAME, RECORDINGS_QUEUE, recordingRedisKeys } from '@recfleet/contract';
import type { ManagedProcess } from '@recfleet/embedded';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaled } from '../src/harness/channel-fleet.js';
import { FleetFixture } from '../src/harness/fleet-fixture.js';
import { startWorkerProcess } from '../src/harness/worker-process.js';

const PROFILES = ['alpha', 'beta'] as const;
let fleet: FleetFixture;
let redis: Redis;
const hosts = new Map<string, ManagedProcess & { spoolDir: string }>();

beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'routing' });
  redis = new Redis(fleet.redis.url);
  for (const profile of PROFILES) {
    const w = await startWorkerProcess({
      redisUrl: fleet.redis.url,
      storageProfiles: { [profile]: { type: 'local', root: join(fleet.dir, `store-${profile}`) } },
      spoolDir: join(fleet.dir, `spool-${profile}`),
      extra: { lockSeconds: 4, stalledCheckSeconds: 1, shutdownGraceSeconds: 2 },
    });
    fleet.workers.push(w);
    hosts.set(profile, w);
  }
});
afterAll(async () => {
  redis?.disconnect();
  await fleet?.stop();
});

const recordOf = (id: string): Promise<Record<string, string>> =>
  redis.hgetall(recordingRedisKeys('recfleet', id).record);
const pidOf = (owner: string | undefined): number => Number(owner?.slice(owner.lastIndexOf(':') + 1));

describe('a job runs only on a host with its storage profile', () => {
  it(
    'puts every job on a host that has its profile; none fails',
    async () => {
      const ids: { id: string; profile: (typeof PROFILES)[number] }[] = [];
      for (let i = 0; i < 10; i++) {
        const profile = PROFILES[i % 2]!;
        const { recordingId } = await fleet.client.start({
          recordingId: `routed-${i}`,
          appId: fleet.app,
          channel: fleet.channel,
          uid: 100 + i,
          sourceUrl: fleet.sourceUrl,
          recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
          storage: { profile },
        });
        ids.push({ id: recordingId, profile });
      }
      await expect
        .poll(
          async () => {
            let n = 0;
            for (const { id } of ids) if ((await recordOf(id)).state === 'recording') n++;
            return n;
          },
          { timeout: scaled(45_000), interval: 500 },
        )
        .toBe(ids.length);
      for (const { id, profile } of ids) {
        expect(pidOf((await recordOf(id)).owner), `${id} (${profile})`).toBe(hosts.get(profile)!.pid);
      }
      await new Promise((r) => setTimeout(r, 2000));
      for (const { id } of ids) await fleet.client.stop(id);
      await expect
        .poll(
          async () => {
            const states = await Promise.all(
              ids.map(async ({ id }) => (await fleet.client.get(id)).jobState),
            );
            return states.filter((s) => s === 'completed').length;
          },
          { timeout: scaled(30_000), interval: 500 },
        )
        .toBe(ids.length);
      for (const { id, profile } of ids) {
        const record = await recordOf(id);
        expect(record, id).toMatchObject({ state: 'uploaded', epoch: '1', storageProfile: profile });
        const stored = await readdir(join(fleet.dir, `store-${profile}`));
        expect(
          stored.some((f) => f.startsWith(`${id}_`) && f.endsWith('.m3u8')),
          `${id} in ${profile}`,
        ).toBe(true);
      }
      const putBack = hosts.get('alpha')!.output() + hosts.get('beta')!.output();
      process.stderr.write(
        `profile-routing: ${(putBack.match(/storage profile this host lacks/g) ?? []).length} put-backs in the tails of the logs\n`,
      );
    },
    scaled(120_000),
  );

  it('fails a job whose profile no live host has with STORAGE_PROFILE_UNKNOWN', async () => {
    const queue = new Queue(RECORDINGS_QUEUE, { connection: { url: fleet.redis.url }, prefix: 'recfleet' });
    try {
      const id = 'routed-nowhere';
      await queue.add(
        RECORD_JOB_NAME,
        {
          recordingId: id,
          appId: fleet.app,
          channel: fleet.channel,
          uid: 999,
          sourceUrl: fleet.sourceUrl,
          storage: { profile: 'gamma' },
        },
        { jobId: id },
      );
      await expect
        .poll(async () => (await queue.getJob(id))?.failedReason, { timeout: scaled(15_000) })
        .toBeDefined();
      expect(parseFailure((await queue.getJob(id))!.failedReason).code).toBe('STORAGE_PROFILE_UNKNOWN');
      expect(await recordOf(id)).toMatchObject({
        state: 'failed',
        errorCode: 'STORAGE_PROFILE_UNKNOWN',
        terminal: 'fatal_error',
      });
    } finally {
      await queue.close();
    }
  });
});
