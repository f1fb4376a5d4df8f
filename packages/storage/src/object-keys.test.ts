import { TRACK_TYPES, type TrackType } from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import {
  decodeChannelFromKey,
  encodeChannelForKey,
  manifestObjectKey,
  recordingObjectKeys,
  userTrackObjectKeys,
} from './object-keys.js';

const HOSTILE_CHANNELS = [
  '../../etc/passwd',
  'a/b',
  'with space',
  'ünïcødé 频道',
  '%2F..%2F',
  '.',
  '~tilde~',
  'UPPER-lower-09',
];

describe('object keys', () => {
  it.each(HOSTILE_CHANNELS)('encodes %j so it cannot leave the prefix, and decodes back', (channel) => {
    const encoded = encodeChannelForKey(channel);
    expect(encoded).toMatch(/^[A-Za-z0-9~-]+$/);
    expect(encoded).not.toContain('..');
    expect(decodeChannelFromKey(encoded)).toBe(channel);
  });

  it('names the playlist and segments as documented', () => {
    const keys = recordingObjectKeys('rec1', 'room 1', 'tenant/a');
    expect(keys.playlistKey).toBe('tenant/a/rec1_room~201.m3u8');
    expect(keys.segmentKey(7)).toBe('tenant/a/rec1_room~201_000007.ts');
    expect(recordingObjectKeys('rec1', 'x').playlistKey).toBe('rec1_x.m3u8');
  });

  it("names a user's track as the reference service names individual-mode files", () => {
    const keys = userTrackObjectKeys('rec1', 'room 1', 42, 'av', 'tenant/a/');
    expect(keys.baseName).toBe('rec1_room~201__uid_s_42__uid_e_av');
    expect(keys.playlistKey).toBe('tenant/a/rec1_room~201__uid_s_42__uid_e_av.m3u8');
    expect(keys.segmentName(7)).toBe('rec1_room~201__uid_s_42__uid_e_av_000007.ts');
    expect(keys.segmentKey(7)).toBe('tenant/a/rec1_room~201__uid_s_42__uid_e_av_000007.ts');
    expect(userTrackObjectKeys('rec1', 'x', 4294967295, 'audio').playlistKey).toBe(
      'rec1_x__uid_s_4294967295__uid_e_audio.m3u8',
    );
    expect(userTrackObjectKeys('rec1', 'x', 1, 'video').segmentKey(123456)).toBe(
      'rec1_x__uid_s_1__uid_e_video_123456.ts',
    );
  });

  it('names the channel manifest beside the playlists', () => {
    expect(manifestObjectKey('rec1', 'room 1', 'tenant/a')).toBe('tenant/a/rec1_room~201.json');
    expect(manifestObjectKey('rec1', 'room 1')).toBe('rec1_room~201.json');
  });

  it.each(HOSTILE_CHANNELS)('keeps every key of channel %j inside the prefix', (channel) => {
    const keys = [
      manifestObjectKey('rec1', channel, 'tenant/a'),
      ...TRACK_TYPES.flatMap((type) => {
        const track = userTrackObjectKeys('rec1', channel, 42, type, 'tenant/a');
        return [track.playlistKey, track.segmentKey(0)];
      }),
    ];
    for (const key of keys) {
      expect(key.startsWith('tenant/a/'), key).toBe(true);
      expect(key.slice('tenant/a/'.length), key).not.toMatch(/\/|\.\.|%/);
    }
  });

  it.each([0, -1, 1.5, 2 ** 32, Number.NaN])('refuses uid %s, which no user has', (uid) => {
    expect(() => userTrackObjectKeys('rec1', 'x', uid, 'av')).toThrow(RangeError);
  });

  it('refuses a track type the contract does not know', () => {
    expect(() => userTrackObjectKeys('rec1', 'x', 1, '../av' as TrackType)).toThrow(/track type/);
  });
});
