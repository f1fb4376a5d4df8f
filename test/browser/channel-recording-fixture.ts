/**
 * A finished individual-mode channel recording, made the way a worker leaves one: every user's segments
 * and playlist in local storage (real H.264/AAC from FFmpeg: a test pattern with the user's uid and a
 * wall clock burnt in, so a screenshot shows whether the cells agree), the manifest beside them, and in
 * Redis the record, the users hash and the list index.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ChannelManifest,
  ChannelManifestSchema,
  encodeChannelForKey,
  type ManifestUser,
  recordingRedisKeys,
  recordingsIndexKey,
} from '@recfleet/contract';
import type { Redis } from 'ioredis';

export interface FixtureUser {
  uid: number;
  /**
   * The user's stretches in the channel: joined `offsetMs` after the recording's start, for `seconds`.
   * A user who leaves and comes back continues in the same playlist after a discontinuity.
   */
  stretches: { offsetMs: number; seconds: number }[];
  /** The sine tone of the user's audio. */
  toneHz: number;
}

export interface ChannelRecordingFixture {
  recordingId: string;
  channel: string;
  /** The channel's clock: the first user's first segment, ms since epoch. */
  startMs: number;
  /** Each user's first program date-time, ms since epoch. */
  userStart: Map<number, number>;
  /** Where each user's media time is on the channel's clock: [from ms, to ms, media seconds at from]. */
  userStretches: Map<number, [number, number, number][]>;
  /** Each user's playlist file name. */
  playlists: Map<number, string>;
  /** The first segment file of each user. */
  firstSegment: Map<number, string>;
  manifestName: string;
}

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf';
const SEGMENT_SECONDS = 2;

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg ${code}: ${stderr}`))));
  });
}

/** One segment of a playlist FFmpeg wrote: its duration, its date and its file. */
interface PlaylistEntry {
  seconds: number;
  programDateTime: number;
  uri: string;
}

function playlistEntries(playlist: string): PlaylistEntry[] {
  const entries: PlaylistEntry[] = [];
  let seconds = 0;
  let date = Number.NaN;
  for (const line of playlist.split('\n')) {
    if (line.startsWith('#EXTINF:')) seconds = Number(line.slice('#EXTINF:'.length).split(',')[0]);
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      date = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length).replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
    } else if (line !== '' && !line.startsWith('#'))
      entries.push({ seconds, programDateTime: date, uri: line });
  }
  return entries;
}

/**
 * One playlist of a user's stretches, as the worker writes one: a discontinuity where the user came
 * back, and EXT-X-PROGRAM-DATE-TIME on every segment. FFmpeg's hls muxer dates segments by when it
 * ran; each stretch's dates are moved to when the user joined, keeping FFmpeg's spacing between them.
 */
function joinedPlaylist(stretches: { startMs: number; entries: PlaylistEntry[] }[]): string {
  const target = Math.ceil(Math.max(...stretches.flatMap((s) => s.entries.map((e) => e.seconds))));
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${target}`, '#EXT-X-MEDIA-SEQUENCE:0'];
  lines.push('#EXT-X-PLAYLIST-TYPE:VOD');
  stretches.forEach((s, i) => {
    const first = s.entries[0]!.programDateTime;
    if (i > 0) lines.push('#EXT-X-DISCONTINUITY');
    for (const e of s.entries) {
      lines.push(
        `#EXT-X-PROGRAM-DATE-TIME:${new Date(s.startMs + (e.programDateTime - first)).toISOString()}`,
      );
      lines.push(`#EXTINF:${e.seconds.toFixed(6)},`, e.uri);
    }
  });
  lines.push('#EXT-X-ENDLIST', '');
  return lines.join('\n');
}

export async function writeChannelRecording(o: {
  redis: Redis;
  storageRoot: string;
  prefix: string;
  recordingId: string;
  appId: string;
  channel: string;
  recorderUid: number;
  users: FixtureUser[];
  /** The channel's start, ms since epoch (ms precision, as the dates are written). */
  startMs: number;
}): Promise<ChannelRecordingFixture> {
  const base = `${o.recordingId}_${encodeChannelForKey(o.channel)}`;
  const dir = join(o.storageRoot, o.prefix);
  await mkdir(dir, { recursive: true });
  const userStart = new Map<number, number>();
  const userStretches = new Map<number, [number, number, number][]>();
  const playlists = new Map<number, string>();
  const firstSegment = new Map<number, string>();
  const manifestUsers: ManifestUser[] = [];
  let bytes = 0;
  const work = await mkdtemp(join(tmpdir(), 'recfleet-grid-ffmpeg-'));
  try {
    for (const u of o.users) {
      const name = `${base}__uid_s_${u.uid}__uid_e_av`;
      const stretches: { startMs: number; entries: PlaylistEntry[] }[] = [];
      let next = 0;
      for (const [i, stretch] of u.stretches.entries()) {
        const start = o.startMs + stretch.offsetMs;
        // The burnt-in clock is each frame's wall clock: the stretch's start plus its media time.
        const secondsOfDay = (start % 86_400_000) / 1000;
        const label = existsSync(FONT)
          ? [
              '-vf',
              `drawtext=fontfile=${FONT}:fontsize=18:fontcolor=white:box=1:boxcolor=black@0.6:x=6:y=6:text='uid ${u.uid}  %{pts\\:hms\\:${secondsOfDay}}'`,
            ]
          : [];
        const part = join(work, `${u.uid}-${i}.m3u8`);
        await ffmpeg([
          ...['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25'],
          ...['-f', 'lavfi', '-i', `sine=frequency=${u.toneHz}:sample_rate=44100`],
          ...['-t', String(stretch.seconds), ...label],
          ...['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p'],
          ...['-g', String(25 * SEGMENT_SECONDS), '-keyint_min', String(25 * SEGMENT_SECONDS)],
          ...['-sc_threshold', '0', '-c:a', 'aac', '-b:a', '64k'],
          ...['-f', 'hls', '-hls_time', String(SEGMENT_SECONDS), '-hls_list_size', '0'],
          ...['-hls_playlist_type', 'vod', '-hls_flags', 'program_date_time', '-start_number', String(next)],
          ...['-hls_segment_filename', join(dir, `${name}_%06d.ts`), part],
        ]);
        const entries = playlistEntries(await readFile(part, 'utf8')).map((e) => ({
          ...e,
          uri: e.uri.slice(e.uri.lastIndexOf('/') + 1),
        }));
        next += entries.length;
        stretches.push({ startMs: start, entries });
      }
      await writeFile(join(dir, `${name}.m3u8`), joinedPlaylist(stretches));
      const entries = stretches.flatMap((s) => s.entries);
      for (const e of entries) bytes += (await stat(join(dir, e.uri))).size;
      let media = 0;
      const intervals: ManifestUser['intervals'] = [];
      const mapped: [number, number, number][] = [];
      for (const s of stretches) {
        const seconds = s.entries.reduce((n, e) => n + e.seconds, 0);
        mapped.push([s.startMs, s.startMs + seconds * 1000, media]);
        intervals.push({
          joinedAt: new Date(s.startMs).toISOString(),
          leftAt: new Date(s.startMs + seconds * 1000).toISOString(),
          reason: 'left',
          audio: true,
          video: true,
        });
        media += seconds;
      }
      userStart.set(u.uid, stretches[0]!.startMs);
      userStretches.set(u.uid, mapped);
      playlists.set(u.uid, `${name}.m3u8`);
      firstSegment.set(u.uid, entries[0]!.uri);
      manifestUsers.push({
        uid: u.uid,
        intervals,
        tracks: [
          {
            type: 'av',
            playlistKey: `${o.prefix}/${name}.m3u8`,
            playlist: `${name}.m3u8`,
            segments: entries.length,
            durationSeconds: media,
            firstProgramDateTime: new Date(stretches[0]!.startMs).toISOString(),
          },
        ],
      });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const endMs = Math.max(...manifestUsers.map((u) => Date.parse(u.intervals.at(-1)!.leftAt!)));
  const manifestName = `${base}.json`;
  const manifest: ChannelManifest = ChannelManifestSchema.parse({
    version: 1,
    recordingId: o.recordingId,
    appId: o.appId,
    channel: o.channel,
    mode: 'individual',
    startedAt: new Date(o.startMs).toISOString(),
    endedAt: new Date(endMs).toISOString(),
    ended: true,
    users: manifestUsers,
    notRecorded: [],
  });
  await writeFile(join(dir, manifestName), `${JSON.stringify(manifest, null, 2)}\n`);

  const keys = recordingRedisKeys('recfleet', o.recordingId);
  const manifestKey = `${o.prefix}/${manifestName}`;
  const segments = manifestUsers.reduce((n, u) => n + u.tracks[0]!.segments, 0);
  const durationSeconds = (endMs - o.startMs) / 1000;
  await o.redis.hset(keys.record, {
    recordingId: o.recordingId,
    state: 'uploaded',
    kind: 'channel',
    appId: o.appId,
    channel: o.channel,
    uid: o.recorderUid,
    createdAt: o.startMs - 2000,
    startedAt: o.startMs,
    updatedAt: endMs + 2000,
    storageProfile: 'local',
    storagePrefix: o.prefix,
    subscriptions: '{}',
    subscriptionsVersion: 0,
    manifestKey,
    manifestLocation: join(dir, manifestName),
    playlistKey: manifestKey,
    playlistLocation: join(dir, manifestName),
    reason: 'idle_timeout',
    result: JSON.stringify({
      recordingId: o.recordingId,
      channel: o.channel,
      outcome: 'uploaded',
      stopReason: 'idle_timeout',
      storageProfile: 'local',
      playlistKey: manifestKey,
      playlistLocation: join(dir, manifestName),
      segments,
      durationSeconds,
      bytes,
      manifestKey,
      manifestLocation: join(dir, manifestName),
      users: manifestUsers.length,
      playlists: manifestUsers.map((u) => ({
        uid: u.uid,
        type: 'av',
        key: u.tracks[0]!.playlistKey,
        location: join(o.storageRoot, u.tracks[0]!.playlistKey),
      })),
    }),
  });
  await o.redis.hset(
    keys.users,
    Object.fromEntries(manifestUsers.map((u) => [String(u.uid), JSON.stringify(u)])),
  );
  await o.redis.zadd(recordingsIndexKey('recfleet'), o.startMs - 2000, o.recordingId);
  return {
    recordingId: o.recordingId,
    channel: o.channel,
    startMs: o.startMs,
    userStart,
    userStretches,
    playlists,
    firstSegment,
    manifestName,
  };
}
