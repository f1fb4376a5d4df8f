import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SegmentEvent } from './recorder.js';

/**
 * Writes a VOD playlist next to the segments so the engine's output can be checked with the real tools
 * (ffmpeg, ffprobe) on its own. The fleet's playlists belong to the storage pipeline, not here.
 */
export async function writeLocalPlaylist(
  dir: string,
  name: string,
  segments: readonly SegmentEvent[],
): Promise<string> {
  const sorted = [...segments].sort((a, b) => a.sequence - b.sequence);
  const target = Math.max(1, ...sorted.map((s) => Math.ceil(s.durationSeconds - 1e-9)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${sorted[0]?.sequence ?? 0}`,
  ];
  sorted.forEach((s, i) => {
    if (i > 0 && s.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXTINF:${s.durationSeconds.toFixed(6)},`, basename(s.path));
  });
  lines.push('#EXT-X-ENDLIST');
  const path = join(dir, name);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}
