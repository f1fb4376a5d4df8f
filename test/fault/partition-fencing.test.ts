/**
 * Fault: the worker holding a recording is cut off from Redis (a partition, longer than its lock)
 * while it can still reach the channel and the storage. It must stop writing before its lock can
 * expire; another worker resumes the recording; when the partition heals, the old worker's late writes
 * are refused. The playlist never holds two writers' overlapping segments, and plays cleanly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetFixture } from '../src/harness/fleet-fixture.js';
import { TcpProxy } from '../src/harness/tcp-proxy.js';

let fleet: FleetFixture;
let link: TcpProxy;
beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'partition' });
  link = await TcpProxy.start(Number(new URL(fleet.redis.url).port));
});
afterAll(async () => {
  link?.restore();
  await fleet?.stop();
  await link?.close();
});

describe('a worker partitioned from Redis longer than its lock', () => {
  it('is fenced: one writer at a time, and the recording resumes elsewhere', async () => {
    const a = await fleet.worker('a', { lockSeconds: 4 }, `redis://127.0.0.1:${link.port}`);
    const { recordingId } = await fleet.start();
    const { events, done } = fleet.follow(recordingId);
    await expect
      .poll(() => events.filter((e) => e.type === 'uploaded_segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    await fleet.worker('b', { lockSeconds: 4 });

    const cutAt = Date.now();
    link.cut();
    await expect
      .poll(() => events.some((e) => e.type === 'joined' && e.at > cutAt), { timeout: 20_000, interval: 100 })
      .toBe(true);
    const resumedAt = events.find((e) => e.type === 'joined' && e.at > cutAt)!.at;
    await expect
      .poll(() => events.filter((e) => e.type === 'uploaded_segment' && e.at > resumedAt).length, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(2);

    // The partition heals: A's buffered writes arrive late.
    link.restore();
    await new Promise((r) => setTimeout(r, 2000));
    expect(a.running).toBe(true);
    await fleet.client.stop(recordingId);
    await done;
    expect(events.at(-1)?.type).toBe('uploaded');

    const index = await fleet.index(recordingId);
    const epochs = [...new Set(index.map((s) => s.epoch))].sort();
    expect(epochs.length).toBe(2);
    const [oldEpoch, newEpoch] = epochs as [number, number];
    const oldSegs = index.filter((s) => s.epoch === oldEpoch);
    const newSegs = index.filter((s) => s.epoch === newEpoch);
    // One writer at a time: everything of the old owner was finished before the new one joined, and
    // comes before it in the playlist.
    expect(Math.max(...oldSegs.map((s) => s.at))).toBeLessThan(resumedAt);
    expect(Math.max(...oldSegs.map((s) => s.sequence))).toBeLessThan(
      Math.min(...newSegs.map((s) => s.sequence)),
    );
    // The old owner noticed it had lost the lock before the lock could expire.
    const fencedLine = a
      .output()
      .split('\n')
      .find((l) => l.includes('fenced'));
    expect(fencedLine, a.output()).toBeDefined();
    const out = await fleet.verify(recordingId);
    expect(out.listed.length).toBe(index.length);
    expect(out.listed).toEqual(out.files.filter((f) => out.listed.includes(f)));
    expect(out.ended).toBe(true);
    expect(out.errors).toBe('');
  });
});
