/**
 * Fault: SIGTERM of the worker holding a recording (a rolling restart). With another worker present,
 * the recording is handed over at a segment boundary and resumed there, losing no finished segment;
 * with none, the worker keeps recording for its grace time and then finalizes. Never a job stuck active.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetFixture } from '../src/harness/fleet-fixture.js';

let fleet: FleetFixture;
beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'handoff' });
});
afterAll(async () => {
  await fleet?.stop();
});

describe('SIGTERM', () => {
  it('hands a running recording to another worker at a segment boundary', async () => {
    const a = await fleet.worker('a');
    const { recordingId } = await fleet.start();
    const { events, done } = fleet.follow(recordingId);
    await expect
      .poll(() => events.filter((e) => e.type === 'uploaded_segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    await fleet.worker('b');
    const terminatedAt = Date.now();
    await a.stop('SIGTERM', 15_000);
    expect(a.running).toBe(false);
    await expect
      .poll(() => events.some((e) => e.type === 'joined' && e.at > terminatedAt), { timeout: 15_000 })
      .toBe(true);
    expect(events.some((e) => e.type === 'handoff')).toBe(true);
    await expect
      .poll(() => events.filter((e) => e.type === 'uploaded_segment' && e.at > terminatedAt).length, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(2);
    await fleet.client.stop(recordingId);
    await done;
    expect(events.at(-1)?.type).toBe('uploaded');
    await expect
      .poll(async () => (await fleet.client.get(recordingId)).jobState, { timeout: 10_000 })
      .toBe('completed');

    const index = await fleet.index(recordingId);
    expect(index.every((s) => s.location === 'primary')).toBe(true);
    expect(new Set(index.map((s) => s.epoch)).size).toBe(2);
    const written = events.filter((e) => e.type === 'segment').map((e) => e.data.sequence);
    expect(index.map((s) => s.sequence)).toEqual(written);
    const out = await fleet.verify(recordingId);
    expect(out.listed).toEqual(out.files);
    expect(out.listed.length).toBe(index.length);
    expect(out.ended).toBe(true);
    expect(out.errors).toBe('');
  });

  it('finalizes after its grace time when no other worker can take over', async () => {
    for (const w of fleet.workers) await w.stop('SIGTERM', 15_000);
    const solo = await fleet.worker('solo', { shutdownGraceSeconds: 2 });
    const { recordingId } = await fleet.start();
    const { events, done } = fleet.follow(recordingId);
    await expect
      .poll(() => events.filter((e) => e.type === 'uploaded_segment').length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(1);
    const terminatedAt = Date.now();
    await solo.stop('SIGTERM', 20_000);
    await done;
    const stopped = events.find((e) => e.type === 'stopped');
    expect(stopped?.data.reason).toBe('requested');
    // It kept recording through the grace time before finalizing.
    expect(stopped!.at - terminatedAt).toBeGreaterThanOrEqual(1500);
    expect(events.at(-1)?.type).toBe('uploaded');
    await expect
      .poll(async () => (await fleet.client.get(recordingId)).jobState, { timeout: 10_000 })
      .toBe('completed');
    const out = await fleet.verify(recordingId);
    expect(out.ended).toBe(true);
    expect(out.errors).toBe('');
  });
});
