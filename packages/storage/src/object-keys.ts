import { decodeChannelFromKey, encodeChannelForKey, type TrackType } from '@recfleet/contract';

export { decodeChannelFromKey, encodeChannelForKey };

/**
 * Object key naming. Keys are `<prefix>/<recordingId>_<channel>_<seq>.ts` and
 * `<prefix>/<recordingId>_<channel>.m3u8`, the channel encoded by `encodeChannelForKey` (see the
 * contract package) so that no channel name can leave the prefix or make an invalid key. A channel
 * recording's users have their own playlists, named as the reference service names individual-mode
 * files (`<recordingId>_<channel>__uid_s_<uid>__uid_e_<type>.m3u8`), beside the manifest
 * `<recordingId>_<channel>.json`.
 */
/** Zero padding keeps keys sorted by sequence in any listing. */
export const SEQUENCE_DIGITS = 6;

export interface RecordingObjectKeys {
  /** Base name shared by the playlist and the segments: `<recordingId>_<encodedChannel>`. */
  baseName: string;
  playlistKey: string;
  /** File name of segment `seq` (what the playlist references, relative to the playlist). */
  segmentName(seq: number): string;
  segmentKey(seq: number): string;
}

export function recordingObjectKeys(
  recordingId: string,
  channel: string,
  prefix?: string,
): RecordingObjectKeys {
  return objectKeys(`${recordingId}_${encodeChannelForKey(channel)}`, prefix);
}

/** One user's track of a channel recording: the same shape, so one uploader serves either. */
export function userTrackObjectKeys(
  recordingId: string,
  channel: string,
  uid: number,
  type: TrackType,
  prefix?: string,
): RecordingObjectKeys {
  return objectKeys(`${recordingId}_${encodeChannelForKey(channel)}__uid_s_${uid}__uid_e_${type}`, prefix);
}

/** The channel recording's manifest, `<prefix>/<recordingId>_<channel>.json`. */
export function manifestObjectKey(recordingId: string, channel: string, prefix?: string): string {
  return `${prefixDir(prefix)}${recordingId}_${encodeChannelForKey(channel)}.json`;
}

function prefixDir(prefix: string | undefined): string {
  return prefix ? `${prefix.replace(/\/+$/, '')}/` : '';
}

function objectKeys(baseName: string, prefix: string | undefined): RecordingObjectKeys {
  const dir = prefixDir(prefix);
  const segmentName = (seq: number): string => `${baseName}_${String(seq).padStart(SEQUENCE_DIGITS, '0')}.ts`;
  return {
    baseName,
    playlistKey: `${dir}${baseName}.m3u8`,
    segmentName,
    segmentKey: (seq) => `${dir}${segmentName(seq)}`,
  };
}
