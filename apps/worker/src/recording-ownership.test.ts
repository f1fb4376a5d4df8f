/**
 * Ownership v2 against a private redis-server: the claim, the heartbeat and the fleet clock's outage
 * grace (claimRecording-2, heartbeat-1, fleetTick-1), the fencing of events and record writes by epoch
 * (appendEvent-2, updateRecord-1), the one terminal event (finishRecording-2, failQueuedRecording-2), and
 * the owner's heartbeat loop, which ends only when Redis says another worker has claimed the recording.
 */
import { fleetClockKey, recordingRedisKeys, runScript } from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import { OUTAGE_GAP_MS } from './fleet-clock.js';
import { RecordingRecord, type ClaimRules } from './recording-record.js';
import { testOwnership, usePrivateRedis } from './test-support.js';

const PREFIX = 'own';
const bed = usePrivateRedis();

const rules = (identity: string, over: Partial<ClaimRules> = {}): ClaimRules => ({
  identity,
  host: identity.split(':')[0]!,
  takeoverAfterMs: 300,
  graceAfterResumeMs: 1000,
  outageGapMs: OUTAGE_GAP_MS,
  ...over,
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const record = (id: string): RecordingRecord => new RecordingRecord(bed.redis, PREFIX, id);
const tick = (): Promise<unknown> =>
  runScript(bed.redis, 'fleetTick', [fleetClockKey(PREFIX)], [OUTAGE_GAP_MS]);

async function eventsOf(id: string): Promise<{ type: string; epoch: string }[]> {
  const entries = await bed.redis.xrange(recordingRedisKeys(PREFIX, id).events, '-', '+');
  return entries.map(([, f]) => ({
    type: f[f.indexOf('type') + 1]!,
    epoch: f[f.indexOf('epoch') + 1] ?? '',
  }));
}

describe('claim and heartbeat', () => {
  it('claims a recording nobody owns, and refuses others while its owner heartbeats', async () => {
    await tick();
    const r = record('rec-alive');
    expect(await r.claim(rules('a:1'))).toEqual({ type: 'claimed', epoch: 1 });
    expect(await r.claim(rules('b:1'))).toEqual({ type: 'owner_alive', owner: 'a:1', ownerHost: 'a' });
    expect(await r.heartbeat(1, 'a:1')).toBe(true);
    // A heartbeat of another identity, or of an older epoch, is not the owner's.
    expect(await r.heartbeat(1, 'b:1')).toBe(false);
    expect(await r.heartbeat(0, 'a:1')).toBe(false);
    await sleep(400);
    await tick();
    // Stale: taken over, and the old owner's next heartbeat learns it for sure.
    expect(await r.claim(rules('b:1'))).toEqual({ type: 'claimed', epoch: 2 });
    expect(await r.heartbeat(1, 'a:1')).toBe(false);
    expect(await r.fields('owner', 'ownerHost', 'epoch')).toEqual({
      owner: 'b:1',
      ownerHost: 'b',
      epoch: '2',
    });
  });

  it('takes one standby, never on the owner host, and makes it the owner when it claims', async () => {
    await tick();
    const r = record('rec-standby');
    expect(await r.takeStandby(rules('b:1'))).toEqual({ type: 'no_owner' });
    await r.claim(rules('a:1'));
    expect(await r.takeStandby(rules('a:2'))).toEqual({ type: 'same_host', ownerHost: 'a' });
    expect(await r.takeStandby(rules('b:1'))).toEqual({ type: 'standby' });
    expect(await r.takeStandby(rules('c:1'))).toEqual({
      type: 'standby_alive',
      standby: 'b:1',
      standbyHost: 'b',
    });
    expect(await r.heartbeat(0, 'b:1', 'standby')).toBe(true);
    expect(await r.heartbeat(0, 'c:1', 'standby')).toBe(false);
    // A standby whose heartbeat went stale is replaced; the old one learns it from its heartbeat.
    await sleep(400);
    expect(await r.takeStandby(rules('c:1'))).toEqual({ type: 'standby' });
    expect(await r.heartbeat(0, 'b:1', 'standby')).toBe(false);
    // The owner dies: the standby claims, and is the standby no longer.
    await sleep(400);
    await tick();
    expect(await r.claim(rules('c:1'))).toEqual({ type: 'claimed', epoch: 2 });
    expect(await r.fields('owner', 'standby')).toEqual({ owner: 'c:1' });
    expect(await r.heartbeat(0, 'c:1', 'standby')).toBe(false);
  });

  it('treats its own identity as a previous incarnation: a worker never claims what it runs', async () => {
    await tick();
    const r = record('rec-self');
    await r.claim(rules('a:1'));
    expect(await r.claim(rules('a:1'))).toEqual({ type: 'claimed', epoch: 2 });
  });

  it('gives an owner that recorded through an outage of Redis the grace to come back', async () => {
    await tick();
    const r = record('rec-grace');
    await r.claim(rules('a:1'));
    // Nobody reaches Redis for longer than the outage gap (its clock stops being ticked)…
    await sleep(OUTAGE_GAP_MS + 200);
    // …then it is back: the owner's heartbeat is stale, but it stopped before the fleet came back.
    expect(await r.claim(rules('b:1'))).toEqual({ type: 'grace', owner: 'a:1', ownerHost: 'a' });
    expect(await r.claim(rules('b:1'))).toEqual({ type: 'grace', owner: 'a:1', ownerHost: 'a' });
    // The owner heartbeats within the grace: it keeps its recording.
    expect(await r.heartbeat(1, 'a:1')).toBe(true);
    await tick();
    expect((await r.claim(rules('b:1'))).type).toBe('owner_alive');
  });

  it('takes over after the grace an owner that did not come back', async () => {
    await tick();
    const r = record('rec-gone');
    await r.claim(rules('a:1'));
    await sleep(OUTAGE_GAP_MS + 200);
    expect((await r.claim(rules('b:1'))).type).toBe('grace');
    for (let i = 0; i < 6; i++) {
      await sleep(200);
      await tick();
    }
    expect(await r.claim(rules('b:1'))).toEqual({ type: 'claimed', epoch: 2 });
  });

  it('heartbeats a standby in its own fields', async () => {
    const r = record('rec-standby');
    await bed.redis.hset(r.keys.record, 'standby', 'c:1');
    expect(await r.heartbeat(0, 'c:1', 'standby')).toBe(true);
    expect(await r.heartbeat(0, 'd:1', 'standby')).toBe(false);
    expect(Number((await r.fields('standbyHeartbeatAt')).standbyHeartbeatAt)).toBeGreaterThan(0);
  });
});

describe('fencing and the one terminal event', () => {
  it('refuses the events and record writes of a stale epoch, and everything of an owner after the end', async () => {
    await tick();
    const r = record('rec-fenced');
    await r.claim(rules('a:1'));
    expect(await r.appendEvent(1, 'joined', {})).toBe('written');
    expect(await r.update(1, { state: 'recording' })).toBe('written');
    await sleep(400);
    await r.claim(rules('b:1'));
    expect(await r.appendEvent(1, 'stopped', { reason: 'cancelled' })).toBe('fenced');
    expect(await r.update(1, { state: 'stopping' })).toBe('fenced');
    const end = {
      state: 'uploaded' as const,
      fields: { segments: 3 },
      event: { type: 'uploaded' as const, data: { segments: 3 }, at: Date.now() },
    };
    expect(await r.finish(1, end)).toBe('fenced');
    expect(await r.appendEvent(2, 'started', {})).toBe('written');
    expect(await r.finish(2, end)).toBe('written');
    // Once: a second end of any kind is refused, and so is any event of its owner after it.
    expect(await r.finish(2, { ...end, state: 'failed', event: { ...end.event, type: 'fatal_error' } })).toBe(
      'after_terminal',
    );
    expect(await r.appendEvent(2, 'progress', {})).toBe('after_terminal');
    expect(await eventsOf('rec-fenced')).toEqual([
      { type: 'joined', epoch: '1' },
      { type: 'started', epoch: '2' },
      { type: 'uploaded', epoch: '2' },
    ]);
    expect(await r.fields('state', 'terminal', 'segments')).toEqual({
      state: 'uploaded',
      terminal: 'uploaded',
      segments: '3',
    });
    // Ended: nobody claims it again.
    expect(await r.claim(rules('c:1'))).toEqual({ type: 'ended', state: 'uploaded' });
  });

  it("lets a job's failure before any claim end a recording only while nobody has claimed it", async () => {
    const r = record('rec-unclaimed');
    const end = {
      state: 'failed' as const,
      fields: { errorCode: 'STORAGE_PROFILE_UNKNOWN' },
      event: { type: 'fatal_error' as const, data: {}, at: Date.now() },
    };
    await tick();
    const claimed = record('rec-claimed');
    await claimed.claim(rules('a:1'));
    expect(await claimed.finish(undefined, end)).toBe('fenced');
    expect(await r.finish(undefined, end)).toBe('written');
  });

  it('counts a cancel while queued (failQueuedRecording-2) as the terminal event', async () => {
    const r = record('rec-cancelled');
    await bed.redis.hset(r.keys.record, 'state', 'queued');
    await runScript(
      bed.redis,
      'failQueuedRecording',
      [r.keys.record, r.keys.events],
      ['CANCELLED', 'cancelled', Date.now(), '{}'],
    );
    expect(await r.fields('terminal')).toEqual({ terminal: 'fatal_error' });
    expect((await r.claim(rules('a:1'))).type).toBe('ended');
  });

  it('hands off with no owner left, so the next worker claims at once', async () => {
    await tick();
    const r = record('rec-handoff');
    await r.claim(rules('a:1'));
    expect(await r.handOff(1, { segments: 2 })).toBe('written');
    expect(await r.fields('state', 'reason', 'owner')).toEqual({
      state: 'queued',
      reason: 'handoff',
      owner: undefined,
    });
    expect(await r.claim(rules('b:1'))).toEqual({ type: 'claimed', epoch: 2 });
  });
});

describe('the owner heartbeat', () => {
  it('keeps the recording while Redis answers, and tells the owner when another worker claimed it', async () => {
    await tick();
    const r = record('rec-loop');
    const ownership = testOwnership(r, 'a:1');
    expect((await ownership.claim()).type).toBe('claimed');
    const lost: string[] = [];
    ownership.keepAlive((reason) => lost.push(reason));
    await sleep(800);
    // Heartbeats every 100 ms keep it fresh well past takeoverAfterMs (500 ms).
    expect((await r.claim(rules('b:1', { takeoverAfterMs: 500 }))).type).toBe('owner_alive');
    await bed.redis.hincrby(r.keys.record, 'epoch', 1);
    await expect.poll(() => lost.length).toBe(1);
    expect(lost[0]).toMatch(/another worker has claimed the recording/);
    await ownership.release();
  });
});
