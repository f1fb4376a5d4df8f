import { resolve, sep } from 'node:path';
import { encodeChannelForKey, RECORDING_ID_PATTERN } from '@recfleet/contract';
import type { RecordingSummary } from '../recording-client.js';

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

/** A recording whose playlist location is known. */
export interface PlayableRecording extends RecordingSummary {
  storageProfile: string;
  channel: string;
  /** `<prefix>/<recordingId>_<channel>.m3u8` in the profile. */
  playlistKey: string;
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
  if (r.playlistKey) return r.playlistKey;
  if (!r.channel) return undefined;
  const dir = r.storagePrefix ? `${r.storagePrefix.replace(/\/+$/, '')}/` : '';
  return `${dir}${baseNameOf(r.recordingId, r.channel)}.m3u8`;
}

export function asPlayable(
  r: RecordingSummary,
  profiles: Readonly<Record<string, DashboardStorageProfile>>,
): PlayableRecording | undefined {
  const playlistKey = playlistKeyOf(r);
  if (!r.storageProfile || !r.channel || !playlistKey) return undefined;
  const profile = profiles[r.storageProfile];
  return {
    ...r,
    storageProfile: r.storageProfile,
    channel: r.channel,
    playlistKey,
    ...(profile ? { profile } : {}),
  };
}

/** Content type of the only two kinds of object a recording has. */
export function mediaContentType(file: string): string {
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

/**
 * Whether `file` names one of the recording's own objects: its playlist (`<base>.m3u8`) or a segment
 * (`<base>_<seq>.ts`). Names from requests and from stored playlists pass through this before they are
 * turned into paths, keys or signed URLs, so nothing else in a store can be reached.
 */
export function recordingObjectKind(r: PlayableRecording, file: string): 'playlist' | 'segment' | undefined {
  if (!RECORDING_ID_PATTERN.test(r.recordingId)) return undefined;
  const base = baseNameOf(r.recordingId, r.channel);
  if (file === `${base}.m3u8`) return 'playlist';
  if (file.startsWith(`${base}_`) && /^_\d{6,}\.ts$/.test(file.slice(base.length))) return 'segment';
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
