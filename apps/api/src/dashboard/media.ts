import { resolve, sep } from 'node:path';
import { encodeChannelForKey, RECORDING_ID_PATTERN, type TrackType } from '@recfleet/contract';
import type { RecordingSummary, RecordingUser } from '@recfleet/client';

/**
 * A storage profile as the dashboards need it: the same shape as in the worker's config
 * (`storageProfiles`). `local` profiles are read from `root`; cloud profiles (s3, oss, qiniu) are
 * opened with their credentials to read playlists and sign segment URLs, unless `mediaUrlFor` supplies
 * a URL first.
 */
export interface DashboardStorageProfile {
  type: string;
  /** For `local` profiles: the directory the workers write to (shared or mounted on this host). */
  root?: string;
  [key: string]: unknown;
}

/** One user track of a channel recording, as the dashboards serve it: its playlist by name. */
export interface UserTrackMedia {
  uid: number;
  type: TrackType;
  /** `<recordingId>_<channel>__uid_s_<uid>__uid_e_<type>.m3u8`, beside the manifest. */
  playlist: string;
}

/** A recording whose playlist location is known. */
export interface PlayableRecording extends RecordingSummary {
  storageProfile: string;
  channel: string;
  /**
   * The recording's entry point in the profile: `<prefix>/<recordingId>_<channel>.m3u8` for a single
   * stream, the manifest `<prefix>/<recordingId>_<channel>.json` for a channel recording.
   */
  playlistKey: string;
  /** Channel recordings: the users' tracks (from the record's users hash), whose playlists it serves. */
  tracks?: UserTrackMedia[];
  /** The profile's configuration on this host, if the dashboards were given it. */
  profile?: DashboardStorageProfile;
}

/**
 * Extension point: the URL the browser's player loads a recording's playlist from. Called for every
 * recording before the built-in rules (local profiles are served by the plugin; cloud profiles get a
 * playlist whose segments are signed URLs); return undefined to fall through. Use it for a CDN or a
 * public base URL; the URL must be one whose segment URIs also resolve — a presigned playlist URL alone
 * is not enough, as the playlist lists segments by relative name.
 */
export type MediaUrlFor = (recording: PlayableRecording) => string | undefined | Promise<string | undefined>;

export function baseNameOf(recordingId: string, channel: string): string {
  return `${recordingId}_${encodeChannelForKey(channel)}`;
}

export function playlistKeyOf(r: RecordingSummary): string | undefined {
  if (r.kind === 'channel' && r.manifestKey) return r.manifestKey;
  if (r.kind !== 'channel' && r.playlistKey) return r.playlistKey;
  if (!r.channel) return undefined;
  const dir = r.storagePrefix ? `${r.storagePrefix.replace(/\/+$/, '')}/` : '';
  return `${dir}${baseNameOf(r.recordingId, r.channel)}.${r.kind === 'channel' ? 'json' : 'm3u8'}`;
}

/** The playlist name of a user's track, as the worker names it (the reference service's names). */
export function userPlaylistName(recordingId: string, channel: string, uid: number, type: TrackType): string {
  return `${baseNameOf(recordingId, channel)}__uid_s_${uid}__uid_e_${type}.m3u8`;
}

export function asPlayable(
  r: RecordingSummary & { users?: readonly RecordingUser[] },
  profiles: Readonly<Record<string, DashboardStorageProfile>>,
): PlayableRecording | undefined {
  const playlistKey = playlistKeyOf(r);
  if (!r.storageProfile || !r.channel || !playlistKey) return undefined;
  const profile = profiles[r.storageProfile];
  const channel = r.channel;
  // Names are rebuilt from the recording's own id and channel and each track's uid and type: the users
  // hash never supplies a path or a name that is served.
  const tracks = r.users?.flatMap((u) =>
    u.tracks.map((t) => ({
      uid: u.uid,
      type: t.type,
      playlist: userPlaylistName(r.recordingId, channel, u.uid, t.type),
    })),
  );
  return {
    ...r,
    storageProfile: r.storageProfile,
    channel,
    playlistKey,
    ...(r.kind === 'channel' ? { tracks: tracks ?? [] } : {}),
    ...(profile ? { profile } : {}),
  };
}

/** Content type of each kind of object a recording has. */
export function mediaContentType(file: string): string {
  if (file.endsWith('.json')) return 'application/json; charset=utf-8';
  return file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t';
}

/**
 * The file on disk for `/media/:id/:file` of a recording in a local profile, or undefined when the name
 * is not one of that recording's objects (its playlist or `<base>_<seq>.ts` segments) or would leave
 * the profile's root. Names are checked against the recording's own base name, never used as paths.
 */
export function localMediaPath(r: PlayableRecording, file: string): string | undefined {
  if (r.profile?.type !== 'local' || typeof r.profile.root !== 'string') return undefined;
  if (!recordingObjectKind(r, file)) return undefined;
  const root = resolve(r.profile.root);
  const path = resolve(root, dirOf(r.playlistKey), file);
  if (!path.startsWith(root + sep)) return undefined;
  return path;
}

export type RecordingObjectKind = 'playlist' | 'segment' | 'manifest';

/**
 * Whether `file` names one of the recording's own objects: for a single stream its playlist
 * (`<base>.m3u8`) or a segment (`<base>_<seq>.ts`); for a channel recording its manifest
 * (`<base>.json`), its users' playlists and their segments (`<playlist base>_<seq>.ts`). Names from
 * requests and from stored playlists pass through this before they are turned into paths, keys or
 * signed URLs, so nothing else in a store can be reached.
 */
export function recordingObjectKind(r: PlayableRecording, file: string): RecordingObjectKind | undefined {
  if (!RECORDING_ID_PATTERN.test(r.recordingId)) return undefined;
  const isSegmentOf = (base: string): boolean =>
    file.startsWith(`${base}_`) && /^_\d{6,}\.ts$/.test(file.slice(base.length));
  if (r.kind === 'channel') {
    if (file === `${baseNameOf(r.recordingId, r.channel)}.json`) return 'manifest';
    for (const t of r.tracks ?? []) {
      if (file === t.playlist) return 'playlist';
      if (isSegmentOf(t.playlist.slice(0, -'.m3u8'.length))) return 'segment';
    }
    return undefined;
  }
  const base = baseNameOf(r.recordingId, r.channel);
  if (file === `${base}.m3u8`) return 'playlist';
  if (isSegmentOf(base)) return 'segment';
  return undefined;
}

/** The recording's object key for one of its files: beside the playlist, as the worker stores them. */
export function recordingObjectKey(r: PlayableRecording, file: string): string {
  const dir = dirOf(r.playlistKey);
  return dir ? `${dir}/${file}` : file;
}

function dirOf(key: string): string {
  return key.includes('/') ? key.slice(0, key.lastIndexOf('/')) : '';
}
