import { describe, expect, it } from 'vitest';
import { renderPlaylist } from './playlist.js';

describe('playlist', () => {
  const seg = (sequence: number, durationSeconds: number, discontinuity = false) => ({
    sequence,
    uri: `s_${sequence}.ts`,
    durationSeconds,
    discontinuity,
  });

  it('renders an EVENT playlist whose target duration covers every segment', () => {
    const text = renderPlaylist([seg(0, 2.04), seg(1, 4.5), seg(2, 1)], { ended: false });
    expect(text).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:3',
        '#EXT-X-TARGETDURATION:5',
        '#EXT-X-MEDIA-SEQUENCE:0',
        '#EXT-X-PLAYLIST-TYPE:EVENT',
        '#EXTINF:2.040000,',
        's_0.ts',
        '#EXTINF:4.500000,',
        's_1.ts',
        '#EXTINF:1.000000,',
        's_2.ts',
        '',
      ].join('\n'),
    );
  });

  it('marks discontinuities, gaps in sequence and the end', () => {
    const text = renderPlaylist([seg(3, 2), seg(0, 2), seg(1, 2, true)], { ended: true });
    const lines = text.trim().split('\n');
    expect(lines.slice(5)).toEqual([
      '#EXTINF:2.000000,',
      's_0.ts',
      '#EXT-X-DISCONTINUITY',
      '#EXTINF:2.000000,',
      's_1.ts',
      '#EXT-X-DISCONTINUITY',
      '#EXTINF:2.000000,',
      's_3.ts',
      '#EXT-X-ENDLIST',
    ]);
  });
});
