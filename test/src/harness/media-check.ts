import { spawnSync } from 'node:child_process';

/** What the real tools say about a recording: used by tests to judge output, never our own parser. */
export interface PlaylistCheck {
  /** ffmpeg's stderr at `-v error` while decoding the whole playlist: must be empty for a gapless file. */
  errors: string;
  exitCode: number | null;
}

/** Decodes the whole playlist with `ffmpeg -v error -i <playlist> -f null -`. */
export function decodePlaylist(playlist: string): PlaylistCheck {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', playlist, '-f', 'null', '-'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { errors: r.stderr.trim(), exitCode: r.status };
}

/** Container duration in seconds as ffprobe reports it. */
export function probeDuration(path: string): number {
  const r = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`ffprobe failed on ${path}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

export interface SegmentProbe {
  /** ffprobe exited 0 and printed no error while decoding every frame. */
  decodes: boolean;
  errors: string;
  /** The first video packet is a keyframe and decodes as one (undefined without video). */
  firstVideoFrameIsKey: boolean | undefined;
  streams: string[];
}

/** The earliest and latest packet times (s, pts) of a segment, over every stream. */
export function packetTimes(path: string): { firstSeconds: number; lastSeconds: number } {
  const r = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', path],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ffprobe failed on ${path}: ${r.stderr}`);
  const times = r.stdout
    .split('\n')
    .map((l) => Number.parseFloat(l))
    .filter((t) => Number.isFinite(t));
  if (times.length === 0) throw new Error(`no packet times in ${path}`);
  return { firstSeconds: Math.min(...times), lastSeconds: Math.max(...times) };
}

/** Probes one segment: decodes it entirely and looks at its first video frame. */
export function probeSegment(path: string): SegmentProbe {
  const decode = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', path, '-f', 'null', '-'], {
    encoding: 'utf8',
  });
  const streams = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', path],
    {
      encoding: 'utf8',
    },
  );
  const first = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-read_intervals',
      '%+#1',
      '-show_entries',
      'frame=key_frame',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8' },
  );
  // The decoder skips frames until a keyframe, so a segment cut mid-GOP still shows a key *frame*
  // first: the first *packet* must carry the key flag too.
  const firstPacket = spawnSync(
    'ffprobe',
    [
      ...['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '%+#1'],
      ...['-show_entries', 'packet=flags', '-of', 'csv=p=0', path],
    ],
    { encoding: 'utf8' },
  );
  const kinds = streams.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  const firstLine = first.stdout
    .split('\n')
    .map((s) => s.trim())
    .find(Boolean);
  return {
    decodes: decode.status === 0 && decode.stderr.trim() === '' && streams.status === 0,
    errors: `${decode.stderr}${streams.stderr}`.trim(),
    firstVideoFrameIsKey: kinds.includes('video')
      ? firstLine?.startsWith('1') === true && firstPacket.stdout.trim().startsWith('K')
      : undefined,
    streams: kinds,
  };
}
