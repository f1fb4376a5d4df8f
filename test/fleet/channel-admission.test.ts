/**
 * Admission by streams, with real worker processes and real users: a host whose budget is 5 streams
 * takes channel recordings only while their maxUsers reservations fit (3 + 2), leaves the next one
 * (2 more) in the queue for another host, and users joining its recordings — one more than a
 * recording's maxUsers included — never make it record more streams than it reserved.
 */
import type { RecordingEvent } from '@recfleet/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled } from '../src/harness/channel-fleet.js';
import type { FollowedRecording } from '../src/harness/fleet-fixture.js';

const APP = 'admission';
let fleet: ChannelFleet;
beforeAll(async () => {
  fleet = await ChannelFleet.start();
});
afterAll(async () => {
  await fleet?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function jobStates(ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await fleet.client.get(id)).jobState));
}

/** Users whose track records now, by the recording's events (recorded joins minus leaves). */
function recordingNow(events: RecordingEvent[]): number[] {
  const open = new Set<number>();
  for (const e of events) {
    if (e.type === 'user_joined' && e.data.recorded === true) open.add(e.data.uid as number);
    if (e.type === 'user_left') open.delete(e.data.uid as number);
  }
  return [...open].sort();
}

describe('admission by streams', () => {
  it('takes channel recordings while their maxUsers fit its budget; joining users never exceed it', async () => {
    // 1 core at 0.2 core per stream: a budget of 5 streams.
    const small = await fleet.worker('small', {
      admission: { cpuBudgetCores: 1, cpuCoresPerStream: 0.2, memoryMbPerStream: 1 },
      httpPort: 0,
      httpHost: '127.0.0.1',
    });
    const readyz = async (): Promise<Record<string, unknown>> =>
      (await fetch(`http://127.0.0.1:${small.httpPort}/readyz`)).json() as Promise<Record<string, unknown>>;
    const channels = [
      { channel: 'adm one', maxUsers: 3, users: [11, 12, 13] },
      // One user more than the recording's maxUsers.
      { channel: 'adm two', maxUsers: 2, users: [21, 22, 23] },
      { channel: 'adm three', maxUsers: 2, users: [31] },
    ];
    const ids: string[] = [];
    const follows: FollowedRecording[] = [];
    for (const [i, c] of channels.entries()) {
      const { recordingId } = await fleet.start({
        appId: APP,
        channel: c.channel,
        uid: 1,
        recordingConfig: { maxUsers: c.maxUsers, maxIdleSeconds: 30 },
      });
      ids.push(recordingId);
      follows.push(fleet.follow(recordingId));
      // In order: the first two fill the host, the third finds it full.
      if (i < 2) {
        await expect
          .poll(async () => (await jobStates([recordingId]))[0], { timeout: scaled(10_000) })
          .toBe('active');
      }
    }
    await expect
      .poll(() => jobStates(ids), { timeout: scaled(10_000) })
      .toEqual(['active', 'active', 'waiting']);
    // A job is active from the moment the host takes it; its reservation follows within moments.
    await expect
      .poll(() => readyz(), { timeout: scaled(10_000) })
      .toMatchObject({ capacity: 5, streams: 5, recordings: 2 });

    // Everybody comes, one user more than the second recording may record among them.
    for (const c of channels) for (const uid of c.users) await fleet.publish(APP, c.channel, uid);
    await expect
      .poll(() => follows.slice(0, 2).map((f) => recordingNow(f.events)), {
        timeout: scaled(15_000),
        interval: 200,
      })
      .toEqual([
        [11, 12, 13],
        [21, 22],
      ]);
    await expect
      .poll(
        () =>
          follows[1]!.events
            .filter((e) => e.type === 'user_not_recorded')
            .map((e) => [e.data.uid, e.data.reason]),
        { timeout: scaled(5000) },
      )
      .toEqual([[23, 'max_users']]);
    // A while with everybody there: the host records the 5 streams it reserved, no more, and still
    // leaves the third recording to someone else.
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      const recorded = follows.slice(0, 2).reduce((n, f) => n + recordingNow(f.events).length, 0);
      expect(recorded).toBeLessThanOrEqual(5);
      expect(await readyz()).toMatchObject({ capacity: 5, streams: 5, recordings: 2 });
      expect(await jobStates(ids)).toEqual(['active', 'active', 'waiting']);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${small.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^recfleet_reserved_streams 5$/m);
    expect(metrics).toMatch(/^recfleet_admission_capacity 5$/m);
    expect(metrics).toMatch(/^recfleet_active_recordings 2$/m);

    // A host with room takes the third, whose user is then recorded.
    await fleet.worker('big');
    await expect
      .poll(() => jobStates(ids), { timeout: scaled(15_000) })
      .toEqual(['active', 'active', 'active']);
    await expect.poll(() => recordingNow(follows[2]!.events), { timeout: scaled(15_000) }).toEqual([31]);
    const owners = await Promise.all(ids.map(async (id) => (await fleet.record(id)).owner));
    expect(owners[0]).toBe(owners[1]);
    expect(owners[2]).not.toBe(owners[0]);

    for (const id of ids) await fleet.client.stop(id);
    for (const f of follows) await f.done;
    expect(follows.map((f) => f.events.at(-1)?.type)).toEqual(['uploaded', 'uploaded', 'uploaded']);
    // The streams are free once each job has returned (just after its terminal event).
    await expect.poll(readyz, { timeout: scaled(5000) }).toMatchObject({ streams: 0, recordings: 0 });
  });
});
