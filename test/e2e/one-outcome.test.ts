/**
 * One outcome per recording, whatever ends it, with a real worker process, the embedded channel server
 * and real publishers: an empty channel (idle, and stopped), a publisher that leaves (idle), a source
 * that is never reached, max duration and cancel — for single streams and, where it applies, channel
 * recordings. The events of each are the README's lifecycle, with exactly one terminal event in the
 * stream, the record's final state and the job's state agreeing. A recording with no media is
 * `uploaded` with 0 segments and an empty final playlist; a source never reached is `fatal_error`
 * SOURCE_UNREACHABLE alone, with no `stopped` before it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TERMINAL_EVENTS, type RecordingEvent, type RecordingJobInput } from '@recfleet/contract';
import { freePort } from '@recfleet/embedded';
import { recordingObjectKeys } from '@recfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelFleet, scaled } from '../src/harness/channel-fleet.js';

const APP = 'outcome';
let fleet: ChannelFleet;
beforeAll(async () => {
  fleet = await ChannelFleet.start();
  await fleet.worker('w');
});
afterAll(async () => {
  await fleet?.stop();
});

/** The lifecycle's events, without the ones that repeat (progress, segments, users, failures worked around). */
const LIFECYCLE = new Set(['queued', 'joined', 'started', 'stopped', 'handoff', ...TERMINAL_EVENTS]);
const lifecycle = (events: RecordingEvent[]): string[] =>
  events
    .filter((e) => LIFECYCLE.has(e.type))
    .map((e) =>
      e.type === 'stopped'
        ? `stopped:${String(e.data.reason)}`
        : e.type === 'fatal_error'
          ? `fatal_error:${String(e.data.code)}`
          : e.type,
    );
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the recording has finished two segments. */
async function twoSegments(recordingId: string): Promise<void> {
  await expect
    .poll(async () => (await fleet.allEvents(recordingId)).filter((e) => e.type === 'segment').length, {
      timeout: scaled(20_000),
    })
    .toBeGreaterThanOrEqual(2);
}

let nextUid = 100;
function single(channel: string, sourceUrl: string, rc: RecordingJobInput['recordingConfig'] = {}) {
  return fleet.client.start({
    appId: APP,
    channel,
    uid: nextUid++,
    sourceUrl,
    recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 5, ...rc },
    storage: { profile: 'local' },
  });
}
const userUrl = (channel: string, uid: number): string =>
  `${fleet.server.rtmpBaseUrl}${fleet.server.userStreamPath(APP, channel, uid)}?sign=${fleet.server.channelToken(APP, channel)}`;

/** Follows a recording to its end; its lifecycle, the record's state and the job's state. */
async function outcome(
  recordingId: string,
): Promise<{ events: RecordingEvent[]; state: string; job: string }> {
  const followed = fleet.follow(recordingId);
  await followed.done;
  // The whole stream, terminal event and anything after it included.
  const events = await fleet.allEvents(recordingId);
  const status = await fleet.client.get(recordingId);
  let job = status.jobState;
  for (let i = 0; i < 50 && job !== 'completed' && job !== 'failed'; i++) {
    await sleep(200);
    job = (await fleet.client.get(recordingId)).jobState;
  }
  return { events, state: status.state, job };
}

async function playlistOf(recordingId: string, channel: string): Promise<string | undefined> {
  return readFile(
    join(fleet.storageRoot, recordingObjectKeys(recordingId, channel).playlistKey),
    'utf8',
  ).catch(() => undefined);
}

describe('one outcome per recording', () => {
  it(
    'single streams: empty (idle and stopped), never reached, publisher gone, max duration, cancel',
    async () => {
      const gone = await fleet.publish(APP, 'gone', 1);
      await fleet.publish(APP, 'live', 1);
      const closed = await freePort();
      const empty = await single('empty', userUrl('empty', 9));
      const stopped = await single('stopped', userUrl('stopped', 9));
      const unreachable = await single('unreachable', `rtmp://127.0.0.1:${closed}/app/nobody`);
      const left = await single('gone', userUrl('gone', 1));
      const limited = await single('live', userUrl('live', 1), { maxDurationSeconds: 4 });
      const cancelled = await single('live', userUrl('live', 1));
      const ended = {
        empty: outcome(empty.recordingId),
        stopped: outcome(stopped.recordingId),
        unreachable: outcome(unreachable.recordingId),
        left: outcome(left.recordingId),
        limited: outcome(limited.recordingId),
        cancelled: outcome(cancelled.recordingId),
      };
      await sleep(2000);
      await fleet.client.stop(stopped.recordingId);
      await twoSegments(left.recordingId);
      await gone.stop();
      await twoSegments(cancelled.recordingId);
      await fleet.client.cancel(cancelled.recordingId);

      const r = {
        empty: await ended.empty,
        stopped: await ended.stopped,
        unreachable: await ended.unreachable,
        left: await ended.left,
        limited: await ended.limited,
        cancelled: await ended.cancelled,
      };
      // No media: uploaded, 0 segments, an empty final playlist.
      expect(lifecycle(r.empty.events)).toEqual(['queued', 'stopped:idle_timeout', 'uploaded']);
      expect(lifecycle(r.stopped.events)).toEqual(['queued', 'stopped:requested', 'uploaded']);
      for (const [id, channel, o] of [
        [empty.recordingId, 'empty', r.empty],
        [stopped.recordingId, 'stopped', r.stopped],
      ] as const) {
        expect(o.events.at(-1)!.data).toMatchObject({ outcome: 'uploaded', segments: 0 });
        expect([o.state, o.job]).toEqual(['uploaded', 'completed']);
        const text = await playlistOf(id, channel);
        expect(text?.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
        expect(text?.split('\n').filter((l) => l.endsWith('.ts'))).toEqual([]);
      }
      // Never reached: fatal_error alone, nothing written.
      expect(lifecycle(r.unreachable.events)).toEqual(['queued', 'fatal_error:SOURCE_UNREACHABLE']);
      expect([r.unreachable.state, r.unreachable.job]).toEqual(['failed', 'failed']);
      expect(await playlistOf(unreachable.recordingId, 'unreachable')).toBeUndefined();
      // The publisher left: idle, everything recorded kept.
      expect(lifecycle(r.left.events)).toEqual([
        'queued',
        'joined',
        'started',
        'stopped:idle_timeout',
        'uploaded',
      ]);
      expect(lifecycle(r.limited.events)).toEqual([
        'queued',
        'joined',
        'started',
        'stopped:max_duration',
        'uploaded',
      ]);
      expect(lifecycle(r.cancelled.events)).toEqual([
        'queued',
        'joined',
        'started',
        'stopped:cancelled',
        'uploaded',
      ]);
      for (const o of [r.left, r.limited, r.cancelled]) {
        expect([o.state, o.job]).toEqual(['uploaded', 'completed']);
        expect(Number(o.events.at(-1)!.data.segments)).toBeGreaterThan(0);
      }
      const durationOf = (o: typeof r.limited): number => Number(o.events.at(-1)!.data.durationSeconds);
      expect(Math.abs(durationOf(r.limited) - 4)).toBeLessThanOrEqual(1);
    },
    scaled(90_000),
  );

  it(
    'channel recordings: empty (idle and stopped), max duration, cancel',
    async () => {
      await fleet.publish(APP, 'users', 1);
      const idle = await fleet.start({
        appId: APP,
        channel: 'nobody',
        uid: 50,
        recordingConfig: { maxIdleSeconds: 5 },
      });
      const stopped = await fleet.start({ appId: APP, channel: 'nobody', uid: 51 });
      const limited = await fleet.start({
        appId: APP,
        channel: 'users',
        uid: 52,
        recordingConfig: { maxDurationSeconds: 5 },
      });
      const cancelled = await fleet.start({ appId: APP, channel: 'users', uid: 53 });
      const ended = [idle, stopped, limited, cancelled].map((x) => outcome(x.recordingId));
      await sleep(2000);
      await fleet.client.stop(stopped.recordingId);
      await twoSegments(cancelled.recordingId);
      await fleet.client.cancel(cancelled.recordingId);
      const [rIdle, rStopped, rLimited, rCancelled] = await Promise.all(ended);
      expect(lifecycle(rIdle!.events)).toEqual(['queued', 'joined', 'stopped:idle_timeout', 'uploaded']);
      expect(lifecycle(rStopped!.events)).toEqual(['queued', 'joined', 'stopped:requested', 'uploaded']);
      expect(lifecycle(rLimited!.events)).toEqual([
        'queued',
        'joined',
        'started',
        'stopped:max_duration',
        'uploaded',
      ]);
      expect(lifecycle(rCancelled!.events)).toEqual([
        'queued',
        'joined',
        'started',
        'stopped:cancelled',
        'uploaded',
      ]);
      for (const o of [rIdle!, rStopped!]) {
        expect(o.events.at(-1)!.data).toMatchObject({ outcome: 'uploaded', segments: 0, users: 0 });
      }
      for (const o of [rIdle!, rStopped!, rLimited!, rCancelled!])
        expect([o.state, o.job]).toEqual(['uploaded', 'completed']);
    },
    scaled(60_000),
  );
});
