/**
 * Fault: Redis restarts mid-recording (AOF on, so its data comes back). Recording goes on through the
 * outage, events written meanwhile reach Redis once it is back, and the recording completes with every
 * segment listed and playable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetFixture } from '../src/harness/fleet-fixture.js';

let fleet: FleetFixture;
beforeAll(async () => {
  fleet = await FleetFixture.start({ appendOnly: true, channel: 'redis restart' });
});
afterAll(async () => {
  await fleet?.stop();
});

describe('Redis restarted mid-recording', () => {
  it('keeps recording, buffers events and completes with every segment', async () => {
    // A lock long enough to outlast the restart: this is an outage the fleet rides through.
    await fleet.worker('a', { lockSeconds: 10 });
    const { recordingId } = await fleet.start();
    const first = fleet.follow(recordingId);
    await expect
      .poll(() => first.events.filter((e) => e.type === 'uploaded_segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    const downAt = Date.now();
    await fleet.redis.restart(2000);
    const upAt = Date.now();
    // The follower reconnects by itself and goes on reading where it was.
    const again = first;
    await expect
      .poll(() => again.events.filter((e) => e.type === 'segment' && e.at > upAt).length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    // Segments finished while Redis was down were recorded, and their events arrived afterwards.
    expect(again.events.some((e) => e.type === 'segment' && e.at >= downAt && e.at <= upAt)).toBe(true);
    await fleet.client.stop(recordingId);
    await again.done;
    expect(again.events.at(-1)?.type).toBe('uploaded');

    const written = again.events.filter((e) => e.type === 'segment').map((e) => e.data.sequence as number);
    expect(written).toEqual([...written.keys()]);
    const index = await fleet.index(recordingId);
    expect(index.map((s) => s.sequence)).toEqual(written);
    expect(index.every((s) => s.location === 'primary')).toBe(true);
    const out = await fleet.verify(recordingId);
    expect(out.listed).toEqual(out.files);
    expect(out.ended).toBe(true);
    expect(out.errors).toBe('');
  });
});
