import { resolve, sep } from 'node:path';
import { encodeChannelForKey, RECORDING_ID_PATTERN } from '@recfleet/contract';
import type { RecordingSummary } from './recording-records.js';

/**
 * A storage profile as the dashboards need it: the same shape as in the worker's config
 * (`storageProfiles`), of which only `type` and, for `local`, `root` are used here. Cloud profiles
 * need `mediaUrlFor` to be playable.
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
 * recording before the built-in rule (local profiles are served by the plugin itself); return
 * undefined to fall through. For cloud profiles return a URL whose segment URIs also resolve (a CDN or
 * public base URL, or a proxy that signs each object) — a presigned playlist URL alone is not enough,
 * as the playlist lists segments by relative name.
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
  if (!RECORDING_ID_PATTERN.test(r.recordingId)) return undefined;
  if (r.profile?.type !== 'local' || typeof r.profile.root !== 'string') return undefined;
  const base = baseNameOf(r.recordingId, r.channel);
  const isPlaylist = file === `${base}.m3u8`;
  const isSegment = file.startsWith(`${base}_`) && /^_\d{6,}\.ts$/.test(file.slice(base.length));
  if (!isPlaylist && !isSegment) return undefined;
  const root = resolve(r.profile.root);
  const dir = r.playlistKey.includes('/') ? r.playlistKey.slice(0, r.playlistKey.lastIndexOf('/')) : '';
  const path = resolve(root, dir, file);
  if (!path.startsWith(root + sep)) return undefined;
  return path;
}
