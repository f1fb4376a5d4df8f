/**
 * Admission control: a worker at its budget leaves new recordings in the queue for other hosts; a
 * worker with room takes them. Its /metrics, /healthz and /readyz tell an operator what it does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetFixture } from '../src/harness/fleet-fixture.js';

let fleet: FleetFixture;
beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'admission' });
});
afterAll(async () => {
  await fleet?.stop();
});

async function stateOf(ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await fleet.client.get(id)).jobState));
}

describe('admission control', () => {
  it('refuses recordings over the host budget and leaves them to another host', async () => {
    // Budget 1 core, cost 0.5 core per recording: room for exactly two.
    const small = await fleet.worker('small', {
      admission: { cpuBudgetCores: 1, cpuCoresPerStream: 0.5, memoryMbPerStream: 1 },
      httpPort: 0,
      httpHost: '127.0.0.1',
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await fleet.start()).recordingId);
    await expect.poll(() => stateOf(ids), { timeout: 15_000 }).toEqual(['active', 'active', 'waiting']);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await stateOf(ids)).toEqual(['active', 'active', 'waiting']);

    const base = `http://127.0.0.1:${small.httpPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, recordings: 2, streams: 2, capacity: 2 });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^recfleet_active_recordings 2$/m);
    expect(metrics).toMatch(/^recfleet_admission_capacity 2$/m);
    expect(metrics).toMatch(/^recfleet_reserved_streams 2$/m);
    expect(metrics).toMatch(/^recfleet_queue_depth 1$/m);
    expect(metrics).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    expect(metrics).toMatch(/^recfleet_upload_latency_seconds_bucket/m);

    // Another host with room takes the third.
    await fleet.worker('big');
    await expect.poll(() => stateOf(ids), { timeout: 15_000 }).toEqual(['active', 'active', 'active']);
    for (const id of ids) await fleet.client.stop(id);
    await expect
      .poll(() => stateOf(ids), { timeout: 20_000 })
      .toEqual(['completed', 'completed', 'completed']);
    const after = await (await fetch(`${base}/metrics`)).text();
    expect(after).toMatch(/^recfleet_segments_uploaded_total [1-9]/m);
  });
});
