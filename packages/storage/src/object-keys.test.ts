import { describe, expect, it } from 'vitest';
import {
  decodeChannelFromKey,
  encodeChannelForKey,
  manifestObjectKey,
  recordingObjectKeys,
  userTrackObjectKeys,
} from './object-keys.js';

describe('object keys', () => {
  it.each([
    '../../etc/passwd',
    'a/b',
    'with space',
    'ünïcødé 频道',
    '%2F..%2F',
    '.',
    '~tilde~',
    'UPPER-lower-09',
  ])('encodes %j so it cannot leave the prefix, and decodes back', (channel) => {
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

  it("names a channel user's playlist and segments as the reference service does, beside the manifest", () => {
    const keys = userTrackObjectKeys('rec1', 'room 1', 42, 'av', 'tenant/a/');
    expect(keys.playlistKey).toBe('tenant/a/rec1_room~201__uid_s_42__uid_e_av.m3u8');
    expect(keys.segmentKey(3)).toBe('tenant/a/rec1_room~201__uid_s_42__uid_e_av_000003.ts');
    expect(keys.segmentName(3)).toBe('rec1_room~201__uid_s_42__uid_e_av_000003.ts');
    expect(manifestObjectKey('rec1', 'room 1', 'tenant/a')).toBe('tenant/a/rec1_room~201.json');
    expect(manifestObjectKey('rec1', 'x')).toBe('rec1_x.json');
  });
});
