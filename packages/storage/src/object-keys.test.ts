import { describe, expect, it } from 'vitest';
import { decodeChannelFromKey, encodeChannelForKey, recordingObjectKeys } from './object-keys.js';

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
});
