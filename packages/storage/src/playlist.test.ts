import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDiskStorage } from './local-disk-storage.js';
import { recordingObjectKeys } from './object-keys.js';
import { renderPlaylist, type PlaylistEntry } from './playlist.js';
import { RecordingUploader } from './recording-uploader.js';

describe('playlist', () => {
  const seg = (sequence: number, durationSeconds: number, discontinuity = false): PlaylistEntry => ({
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

  it('dates every segment that has a program date-time, in UTC with milliseconds, before its EXTINF', () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 67);
    const text = renderPlaylist(
      [
        { ...seg(0, 2), programDateTime: at },
        { ...seg(1, 2), programDateTime: at + 2000.4 },
        seg(2, 2),
        { ...seg(3, 2, true), programDateTime: at + 10_000 },
      ],
      { ended: true },
    );
    const lines = text.trim().split('\n');
    expect(lines[1]).toBe('#EXT-X-VERSION:3');
    expect(lines.slice(5)).toEqual([
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.067Z',
      '#EXTINF:2.000000,',
      's_0.ts',
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:07.067Z',
      '#EXTINF:2.000000,',
      's_1.ts',
      '#EXTINF:2.000000,',
      's_2.ts',
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:15.067Z',
      '#EXTINF:2.000000,',
      's_3.ts',
      '#EXT-X-ENDLIST',
    ]);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, -1, Date.UTC(10000, 0, 1)])(
    'leaves the date out rather than write an invalid one (%s)',
    (programDateTime) => {
      const text = renderPlaylist([{ ...seg(0, 2), programDateTime }], { ended: true });
      expect(text).not.toContain('PROGRAM-DATE-TIME');
    },
  );

  it('writes the dates the uploader is given, and ffmpeg reads the playlist without an error line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'recfleet-pdt-playlist-'));
    try {
      // Three real segments from ffmpeg's own HLS muxer, with their exact durations.
      const made = spawnSync(
        'ffmpeg',
        [
          ...['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=15'],
          ...['-f', 'lavfi', '-i', 'sine', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15'],
          ...['-c:a', 'aac', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0'],
          ...['-hls_segment_filename', join(dir, 'in_%d.ts'), join(dir, 'in.m3u8')],
        ],
        { encoding: 'utf8' },
      );
      expect(made.stderr).toBe('');
      const durations = [
        ...(await readFile(join(dir, 'in.m3u8'), 'utf8')).matchAll(/#EXTINF:([\d.]+),/g),
      ].map((m) => Number(m[1]));
      expect(durations.length).toBeGreaterThanOrEqual(3);

      const store = new LocalDiskStorage(join(dir, 'store'));
      const keys = recordingObjectKeys('rec-pdt', 'lobby');
      const uploader = new RecordingUploader(store, keys);
      const start = Date.UTC(2026, 0, 2, 3, 4, 5, 67);
      let at = start;
      durations.forEach((durationSeconds, sequence) => {
        const filePath = join(dir, `in_${sequence}.ts`);
        uploader.add({
          sequence,
          filePath,
          durationSeconds,
          bytes: statSync(filePath).size,
          discontinuity: false,
          programDateTime: at,
        });
        at += durationSeconds * 1000;
      });
      expect((await uploader.finish()).outcome).toBe('uploaded');

      const playlist = store.locate(keys.playlistKey);
      const text = await readFile(playlist, 'utf8');
      const dates = [...text.matchAll(/#EXT-X-PROGRAM-DATE-TIME:(.+)/g)].map((m) => m[1]);
      expect(dates).toHaveLength(durations.length);
      expect(dates[0]).toBe('2026-01-02T03:04:05.067Z');
      const decoded = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', playlist, '-f', 'null', '-'], {
        encoding: 'utf8',
      });
      expect(decoded.stderr).toBe('');
      expect(decoded.status).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
