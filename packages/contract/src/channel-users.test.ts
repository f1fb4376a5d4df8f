import { describe, expect, it } from 'vitest';
import { encodeChannelAsStreamName, parseUserStreamName, userStreamName } from './channel.js';
import { parseTrackId, trackId, trackStreams, trackTypeOf } from './channel-manifest.js';
import { channelToken, channelTokenExpiry, verifyChannelToken } from './channel-token.js';
import { UID_LIST_MAX } from './job-rules.js';
import {
  applySubscriptionUpdate,
  InvalidRecordingJobError,
  isSubscribed,
  maxUsersOf,
  redundancyOf,
  parseRecordingJob,
  parseUpdateRecordingRequest,
  recordingKind,
} from './recording-job.js';

const base = { recordingId: 'r1', appId: 'app', channel: 'room 1', uid: 9, storage: { profile: 'local' } };

function refusedFields(parse: () => unknown): string[] {
  try {
    parse();
  } catch (err) {
    if (err instanceof InvalidRecordingJobError) return err.problems.map((p) => p.field);
    throw err;
  }
  return [];
}

describe('user stream names', () => {
  it('round-trip every channel and uid, and never mistake the channel for a user', () => {
    for (const channel of ['lobby', 'room 1', 'a_u1', '_u42', '频道', '!#$%&()+-:;<=.>?@[]^_{}|~,']) {
      for (const uid of [1, 42, 2 ** 32 - 1]) {
        expect(parseUserStreamName(userStreamName(channel, uid))).toEqual({ channel, uid });
      }
      expect(parseUserStreamName(encodeChannelAsStreamName(channel))).toBeUndefined();
    }
    expect(userStreamName('room 1', 42)).toBe('room_201_u42');
    expect(parseUserStreamName('room_u0')).toBeUndefined();
    expect(parseUserStreamName('room_u4294967296')).toBeUndefined();
  });
});

describe('user tracks', () => {
  it('name a uid and a type, which follows from the streams recorded and back', () => {
    for (const type of ['av', 'audio', 'video'] as const) {
      expect(parseTrackId(trackId(42, type))).toEqual({ uid: 42, type });
      expect(trackTypeOf(trackStreams(type))).toBe(type);
    }
    expect(trackTypeOf({ audio: false, video: false })).toBeUndefined();
    for (const bad of ['42', '0-av', '42-both', `${2 ** 32}-av`, '42-av-x', '-av']) {
      expect(parseTrackId(bad)).toBeUndefined();
    }
  });
});

describe('channel tokens', () => {
  it('admit to their channel until they expire, and to nothing else', () => {
    const later = new Date(Date.now() + 60_000);
    const token = channelToken('app', 'room 1', 's3cret', later);
    expect(channelTokenExpiry(token)?.getTime()).toBe(Math.floor(later.getTime() / 1000) * 1000);
    expect(verifyChannelToken(token, 'app', 'room 1', 's3cret')).toBe(true);
    expect(verifyChannelToken(token, 'app', 'room 2', 's3cret')).toBe(false);
    expect(verifyChannelToken(token, 'app', 'room 1', 'other')).toBe(false);
    expect(verifyChannelToken(token, 'app', 'room 1', 's3cret', new Date(later.getTime() + 2000))).toBe(
      false,
    );
    expect(verifyChannelToken('garbage', 'app', 'room 1', 's3cret')).toBe(false);
  });
});

describe('channel recordings in the job contract', () => {
  it('a job without sourceUrl records the channel; with one, a single stream that takes no subscriptions', () => {
    expect(recordingKind(parseRecordingJob(base))).toBe('channel');
    expect(recordingKind(parseRecordingJob({ ...base, sourceUrl: 'rtmp://h/a/b' }))).toBe('single_stream');
    expect(
      refusedFields(() =>
        parseRecordingJob({
          ...base,
          sourceUrl: 'rtmp://h/a/b',
          recordingConfig: { subscribeAudioUids: [1], maxUsers: 2 },
        }),
      ),
    ).toEqual(['recordingConfig.subscribeAudioUids', 'recordingConfig.maxUsers']);
    expect(maxUsersOf(parseRecordingJob(base).recordingConfig)).toBe(17);
  });

  it('a channel recording takes a standby like a single stream (redundancy 2: every user alike)', () => {
    const job = parseRecordingJob({ ...base, recordingConfig: { redundancy: 2 } });
    expect(redundancyOf(job, 1)).toBe(2);
    expect(redundancyOf(parseRecordingJob(base), 2)).toBe(2);
    expect(refusedFields(() => parseRecordingJob({ ...base, recordingConfig: { redundancy: 3 } }))).toEqual([
      'recordingConfig.redundancy',
    ]);
  });

  it.each([
    ['recordingConfig.subscribeAudioUids.0', { subscribeAudioUids: [1.5] }],
    ['recordingConfig.subscribeVideoUids.0', { subscribeVideoUids: ['7'] }],
    ['recordingConfig.unsubscribeAudioUids.0', { unsubscribeAudioUids: [0] }],
    ['recordingConfig.unsubscribeVideoUids.0', { unsubscribeVideoUids: [2 ** 32] }],
    ['recordingConfig.subscribeAudioUids', { subscribeAudioUids: [1, 1] }],
    [
      'recordingConfig.subscribeVideoUids',
      { subscribeVideoUids: Array.from({ length: UID_LIST_MAX + 1 }, (_, i) => i + 1) },
    ],
    ['recordingConfig.unsubscribeAudioUids', { subscribeAudioUids: [1], unsubscribeAudioUids: [2] }],
    ['recordingConfig.mode', { mode: 'composite' }],
    ['recordingConfig.maxUsers', { maxUsers: 0 }],
    ['recordingConfig.maxUsers', { maxUsers: 65 }],
    ['recordingConfig.subscribeAudioUids', { subscribeAudioUids: 'all' }],
  ])('refuses %s', (field, recordingConfig) => {
    expect(refusedFields(() => parseRecordingJob({ ...base, recordingConfig }))).toEqual([field]);
  });

  it('subscriptions: all by default, only the listed, or all but the listed', () => {
    expect(isSubscribed({}, 5, 'audio')).toBe(true);
    expect(isSubscribed({ subscribeAudioUids: [1] }, 5, 'audio')).toBe(false);
    expect(isSubscribed({ subscribeAudioUids: [1] }, 5, 'video')).toBe(true);
    expect(isSubscribed({ unsubscribeVideoUids: [5] }, 5, 'video')).toBe(false);
    expect(isSubscribed({ unsubscribeVideoUids: [5] }, 6, 'video')).toBe(true);
  });

  it('an update replaces the lists it names, removes those set to null, and must name one', () => {
    const update = parseUpdateRecordingRequest({ subscribeAudioUids: [3], unsubscribeVideoUids: null });
    expect(applySubscriptionUpdate({ unsubscribeVideoUids: [1], subscribeAudioUids: [1] }, update)).toEqual({
      subscribeAudioUids: [3],
    });
    expect(refusedFields(() => parseUpdateRecordingRequest({}))).toEqual(['(job)']);
    expect(refusedFields(() => parseUpdateRecordingRequest({ maxUsers: 3 }))).toEqual(['maxUsers', '(job)']);
    expect(
      refusedFields(() =>
        parseUpdateRecordingRequest({ subscribeVideoUids: [1], unsubscribeVideoUids: [2] }),
      ),
    ).toEqual(['unsubscribeVideoUids']);
  });
});
