/**
 * How a channel recording ends and whom it leaves out, with a real worker process, the embedded channel
 * server and real publishers: nobody comes (idle_timeout maxIdleSeconds after the join), everybody leaves
 * (idle_timeout counted from the last recorded user's leave), the recorder's own uid in use (at the join:
 * UID_CONFLICT; later: reported, not recorded), more users than maxUsers (reported, not recorded), and a
 * wrong or expired channel token (CHANNEL_AUTH_FAILED at once, the token in no message), a token that
 * expires while recording (who joins afterwards is reported failed, not retried). Every recording has
 * exactly one terminal event in its stream.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  channelToken,
  ChannelManifestSchema,
  encodeChannelForKey,
  type RecordingEvent,
} from '@recfleet/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled, type FleetWorker } from '../src/harness/channel-fleet.js';
import { segmentObjects } from '../src/harness/channel-media.js';
import { decodePlaylist } from '../src/harness/media-check.js';

const APP = 'limits';
/** How far from its due time an idle timeout may come: the poll (250 ms) and the directory's (250 ms). */
const IDLE_TOLERANCE_MS = 1000;

let fleet: ChannelFleet;
let worker: FleetWorker;
beforeAll(async () => {
  fleet = await ChannelFleet.start();
  worker = await fleet.worker('w');
});
afterAll(async () => {
  await fleet?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ofType = (events: RecordingEvent[], type: string, uid?: number): RecordingEvent[] =>
  events.filter((e) => e.type === type && (uid === undefined || e.data.uid === uid));

/**
 * The recording's whole stream a moment after its first terminal event (so a second one would be
 * there too), with the terminal events in it.
 */
async function settled(
  recordingId: string,
): Promise<{ events: RecordingEvent[]; terminal: RecordingEvent[] }> {
  await sleep(1000);
  const events = await fleet.allEvents(recordingId);
  const terminal = await fleet.terminalEvents(recordingId);
  process.stdout.write(
    `${recordingId}: terminal events ${JSON.stringify(terminal.map((e) => [e.type, e.data.code ?? e.data.outcome]))}\n`,
  );
  return { events, terminal };
}

describe('idle timeouts', () => {
  it('ends with idle_timeout maxIdleSeconds after the join when nobody comes', async () => {
    const { recordingId } = await fleet.start({
      appId: APP,
      channel: 'empty room',
      uid: 1,
      recordingConfig: { maxIdleSeconds: 5 },
    });
    const { events, done } = fleet.follow(recordingId);
    await done;
    const joined = ofType(events, 'joined')[0]!;
    const stopped = ofType(events, 'stopped')[0]!;
    expect(stopped.data.reason).toBe('idle_timeout');
    expect(Math.abs(stopped.at - joined.at - 5000), 'idle timeout after the join').toBeLessThanOrEqual(
      IDLE_TOLERANCE_MS,
    );
    const { terminal } = await settled(recordingId);
    expect(terminal.map((e) => e.type)).toEqual(['uploaded']);
    expect(terminal[0]!.data).toMatchObject({
      stopReason: 'idle_timeout',
      segments: 0,
      users: 0,
      playlists: [],
    });
    // Nobody was recorded: the manifest says so, and there is no segment.
    const base = `${recordingId}_${encodeChannelForKey('empty room')}`;
    const manifest = ChannelManifestSchema.parse(
      JSON.parse(await readFile(join(fleet.storageRoot, `${base}.json`), 'utf8')),
    );
    expect(manifest).toMatchObject({ ended: true, users: [], notRecorded: [] });
    expect(await segmentObjects(fleet.storageRoot, recordingId)).toEqual([]);
  });

  it('counts from the last recorded user leaving; users over maxUsers and with the recorder’s uid are reported, not recorded', async () => {
    const channel = 'busy room';
    const [X, Z, Y, RECORDER] = [21, 22, 23, 20];
    const x = await fleet.publish(APP, channel, X);
    const z = await fleet.publish(APP, channel, Z);
    const { recordingId } = await fleet.start({
      appId: APP,
      channel,
      uid: RECORDER,
      recordingConfig: { maxIdleSeconds: 5, maxUsers: 2 },
    });
    const { events, done } = fleet.follow(recordingId);
    const recorded = (uid: number): boolean =>
      ofType(events, 'user_joined', uid).some((e) => e.data.recorded === true);
    await expect
      .poll(() => recorded(X) && recorded(Z), { timeout: scaled(20_000), interval: 100 })
      .toBe(true);

    // A third user is one more than maxUsers; a fourth publishes with the recorder's uid.
    const y = await fleet.publish(APP, channel, Y);
    await expect
      .poll(() => ofType(events, 'user_not_recorded', Y).map((e) => e.data.reason), {
        timeout: scaled(5000),
        interval: 100,
      })
      .toEqual(['max_users']);
    const impostor = await fleet.publish(APP, channel, RECORDER);
    await expect
      .poll(() => ofType(events, 'user_not_recorded', RECORDER).map((e) => e.data.reason), {
        timeout: scaled(5000),
        interval: 100,
      })
      .toEqual(['recorder_uid']);
    await sleep(1500);
    // They leave first (a slot freed while Y waits would record Y), then Z, and X 3 s after Z.
    await y.stop();
    await impostor.stop();
    await sleep(500);
    await z.stop();
    await sleep(3000);
    const lastLeft = await x.stop();
    await done;

    const stopped = ofType(events, 'stopped')[0]!;
    expect(stopped.data.reason).toBe('idle_timeout');
    const idleMs = stopped.at - lastLeft;
    process.stdout.write(`idle timeout after the last leave: ${idleMs} ms (maxIdleSeconds 5)\n`);
    expect(Math.abs(idleMs - 5000), 'idle timeout counted from the last leave').toBeLessThanOrEqual(
      IDLE_TOLERANCE_MS,
    );
    const { terminal } = await settled(recordingId);
    expect(terminal.map((e) => e.type)).toEqual(['uploaded']);
    // Only X and Z were recorded: two playlists, two users in the manifest, the others listed as not.
    const result = terminal[0]!.data;
    expect((result.playlists as { uid: number }[]).map((p) => p.uid).sort()).toEqual([X, Z]);
    expect(ofType(events, 'user_joined', Y).map((e) => e.data.recorded)).toEqual([false]);
    expect(ofType(events, 'user_joined', RECORDER).map((e) => e.data.recorded)).toEqual([false]);
    expect(ofType(events, 'segment', Y)).toEqual([]);
    expect(ofType(events, 'segment', RECORDER)).toEqual([]);
    const base = `${recordingId}_${encodeChannelForKey(channel)}`;
    const manifest = ChannelManifestSchema.parse(
      JSON.parse(await readFile(join(fleet.storageRoot, `${base}.json`), 'utf8')),
    );
    expect(manifest.users.map((u) => u.uid).sort()).toEqual([X, Z]);
    expect(manifest.notRecorded.map((n) => [n.uid, n.reason]).sort()).toEqual([
      [RECORDER, 'recorder_uid'],
      [Y, 'max_users'],
    ]);
    const segments = await segmentObjects(fleet.storageRoot, recordingId);
    expect(segments.length).toBeGreaterThan(0);
    expect(segments.every((s) => s.includes(`__uid_s_${X}__`) || s.includes(`__uid_s_${Z}__`))).toBe(true);
  });
});

describe('refused at the join', () => {
  it("fails with UID_CONFLICT when the recorder's uid publishes in the channel", async () => {
    const channel = 'taken';
    await fleet.publish(APP, channel, 30);
    const startedAt = Date.now();
    const { recordingId } = await fleet.start({ appId: APP, channel, uid: 30 });
    const { events, done } = fleet.follow(recordingId);
    await done;
    const failure = events.at(-1)!;
    expect(failure.type).toBe('fatal_error');
    expect(failure.data.code).toBe('UID_CONFLICT');
    expect(failure.at - startedAt).toBeLessThanOrEqual(scaled(5000));
    expect((await fleet.client.get(recordingId)).state).toBe('failed');
    const { terminal } = await settled(recordingId);
    expect(terminal.map((e) => [e.type, e.data.code])).toEqual([['fatal_error', 'UID_CONFLICT']]);
    await expectNoManifest(recordingId, channel);
  });

  it.each([
    ['a wrong token (another secret)', () => channelToken(APP, 'guarded', 'not-the-secret', inAnHour())],
    ["another channel's token", () => fleet.server.channelToken(APP, 'elsewhere')],
    ['an expired token', () => fleet.server.channelToken(APP, 'guarded', -60)],
  ])('fails with CHANNEL_AUTH_FAILED at once on %s, naming no token', async (_what, token) => {
    const channel = 'guarded';
    if (!fleet.server.isPublishing(fleet.server.userStreamPath(APP, channel, 41))) {
      await fleet.publish(APP, channel, 41);
    }
    const t = token();
    const startedAt = Date.now();
    const { recordingId } = await fleet.start({ appId: APP, channel, uid: 40, token: t });
    const { events, done } = fleet.follow(recordingId);
    await done;
    const failure = events.at(-1)!;
    expect(failure.type).toBe('fatal_error');
    expect(failure.data.code).toBe('CHANNEL_AUTH_FAILED');
    expect(failure.at - startedAt, 'refused within 2 s').toBeLessThanOrEqual(scaled(2000));
    const secret = t.slice(t.indexOf('-') + 1);
    expect(String(failure.data.message)).not.toContain(secret);
    const status = await fleet.client.get(recordingId);
    expect(status.state).toBe('failed');
    expect(status.error?.code).toBe('CHANNEL_AUTH_FAILED');
    const { events: all, terminal } = await settled(recordingId);
    expect(terminal.map((e) => [e.type, e.data.code])).toEqual([['fatal_error', 'CHANNEL_AUTH_FAILED']]);
    expect(ofType(all, 'segment')).toEqual([]);
    await expectNoManifest(recordingId, channel);
    expect(await fleet.redisText(recordingId)).not.toContain(secret);
    expect(await fleet.jobText(recordingId)).not.toContain(secret);
    expect(worker.log()).not.toContain(secret);
  });
});

describe('a token that expires during the recording', () => {
  it('keeps recording the users it has; one who joins afterwards is reported failed, with no playlist', async () => {
    const channel = 'short token';
    const [X, Y] = [51, 52];
    await fleet.publish(APP, channel, X);
    const token = fleet.server.channelToken(APP, channel, 4);
    const { recordingId } = await fleet.start({ appId: APP, channel, uid: 50, token });
    const { events, done } = fleet.follow(recordingId);
    await expect
      .poll(() => ofType(events, 'segment', X).length, { timeout: scaled(15_000), interval: 100 })
      .toBeGreaterThanOrEqual(1);
    // node-media-server takes a token through the second it names.
    const expiry = Number(token.slice(0, token.indexOf('-'))) * 1000;
    await sleep(Math.max(0, expiry + 1000 - Date.now()));
    await fleet.publish(APP, channel, Y);
    await expect
      .poll(() => ofType(events, 'user_left', Y).map((e) => [e.data.reason, e.data.code]), {
        timeout: scaled(5000),
        interval: 100,
      })
      .toEqual([['failed', 'CHANNEL_AUTH_FAILED']]);
    const segmentsOfX = ofType(events, 'segment', X).length;
    await expect
      .poll(() => ofType(events, 'segment', X).length, { timeout: scaled(5000), interval: 100 })
      .toBeGreaterThan(segmentsOfX);
    await fleet.client.stop(recordingId);
    await done;
    const { events: all, terminal } = await settled(recordingId);
    expect(terminal.map((e) => e.type)).toEqual(['uploaded']);
    expect((terminal[0]!.data.playlists as { uid: number }[]).map((p) => p.uid)).toEqual([X]);
    expect(ofType(all, 'recorder_failure', Y)).toEqual([]);
    expect(
      (await segmentObjects(fleet.storageRoot, recordingId)).every((f) => f.includes(`__uid_s_${X}__`)),
    ).toBe(true);
    const base = `${recordingId}_${encodeChannelForKey(channel)}`;
    await expect(readFile(join(fleet.storageRoot, `${base}__uid_s_${Y}__uid_e_av.m3u8`))).rejects.toThrow();
    expect(decodePlaylist(join(fleet.storageRoot, `${base}__uid_s_${X}__uid_e_av.m3u8`)).errors).toBe('');
    const secret = token.slice(token.indexOf('-') + 1);
    expect(JSON.stringify(all)).not.toContain(secret);
    expect(worker.log()).not.toContain(secret);
  });
});

/**
 * A recording refused at the join recorded nobody: it has no manifest, and its record names none (the
 * record's manifestKey is the manifest's key once written, which readers fetch).
 */
async function expectNoManifest(recordingId: string, channel: string): Promise<void> {
  const record = await fleet.record(recordingId);
  expect(record.manifestKey).toBeUndefined();
  expect((await fleet.client.get(recordingId)).manifestKey).toBeUndefined();
  const name = `${recordingId}_${encodeChannelForKey(channel)}.json`;
  await expect(readFile(join(fleet.storageRoot, name))).rejects.toThrow();
}

function inAnHour(): Date {
  return new Date(Date.now() + 3_600_000);
}
