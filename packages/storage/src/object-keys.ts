import {
  decodeChannelFromKey,
  encodeChannelForKey,
  numberRuleProblem,
  TRACK_TYPES,
  UID_RULE,
  type TrackType,
} from '@recfleet/contract';

export { decodeChannelFromKey, encodeChannelForKey };

/**
 * Object key naming. Keys are `<prefix>/<recordingId>_<channel>_<seq>.ts` and
 * `<prefix>/<recordingId>_<channel>.m3u8` (with its live playlist `<…>.live.m3u8` beside it), the
 * channel encoded by `encodeChannelForKey` (see the contract package) so that no channel name can leave
 * the prefix or make an invalid key. A channel
 * recording names each user's track as the reference service names individual-mode files,
 * `<recordingId>_<channel>__uid_s_<uid>__uid_e_<av|audio|video>` (.m3u8, and `_<seq>.ts` for its
 * segments), and its manifest `<recordingId>_<channel>.json`.
 */
/** Zero padding keeps keys sorted by sequence in any listing. */
export const SEQUENCE_DIGITS = 6;

/**
 * The last sequence number a track's segments may have (999,999): a track that would pass it ends
 * (`max_duration`, see the README's longest recording). The longest recording, 7 days (the contract's
 * MAX_DURATION_SECONDS_RULE.max), needs at most 604,800 of them at the shortest segments (1 s).
 */
export const LAST_SEQUENCE = 10 ** SEQUENCE_DIGITS - 1;

/** How a live playlist's name ends (after the base name its complete playlist ends in `.m3u8`). */
export const LIVE_PLAYLIST_SUFFIX = '.live.m3u8';

export interface RecordingObjectKeys {
  /** Base name shared by the playlist and the segments: `<recordingId>_<encodedChannel>`. */
  baseName: string;
  /** The complete playlist: every segment of the recording (see README, live playlists). */
  playlistKey: string;
  /**
   * The live playlist beside it, `<baseName>.live.m3u8`: a sliding window of the newest segments,
   * rewritten after every one. No base name contains a `.` (recording ids and encoded channels have
   * none), so it can never be another recording's playlist.
   */
  livePlaylistKey: string;
  /** File name of segment `seq` (what the playlist references, relative to the playlist). */
  segmentName(seq: number): string;
  segmentKey(seq: number): string;
}

/** A single stream's playlist and segments. */
export function recordingObjectKeys(
  recordingId: string,
  channel: string,
  prefix?: string,
): RecordingObjectKeys {
  return objectKeys(recordingBaseName(recordingId, channel), prefix);
}

/**
 * The playlist and segments of user `uid`'s track of type `type` in a channel recording, in the same
 * shape as a single stream's, so that one RecordingUploader serves each track unchanged.
 */
export function userTrackObjectKeys(
  recordingId: string,
  channel: string,
  uid: number,
  type: TrackType,
  prefix?: string,
): RecordingObjectKeys {
  // Both go into the key as they are: only a uid the contract allows and a known type may.
  const problem = numberRuleProblem(UID_RULE, uid);
  if (problem) throw new RangeError(`uid ${String(uid)}: expected ${problem}`);
  if (!(TRACK_TYPES as readonly string[]).includes(type)) {
    throw new RangeError(`track type ${String(type)}: expected one of ${TRACK_TYPES.join(', ')}`);
  }
  return objectKeys(`${recordingBaseName(recordingId, channel)}__uid_s_${uid}__uid_e_${type}`, prefix);
}

/** The channel manifest beside a channel recording's playlists. */
export function manifestObjectKey(recordingId: string, channel: string, prefix?: string): string {
  return `${folder(prefix)}${recordingBaseName(recordingId, channel)}.json`;
}

function recordingBaseName(recordingId: string, channel: string): string {
  return `${recordingId}_${encodeChannelForKey(channel)}`;
}

function folder(prefix: string | undefined): string {
  return prefix ? `${prefix.replace(/\/+$/, '')}/` : '';
}

function objectKeys(baseName: string, prefix: string | undefined): RecordingObjectKeys {
  const dir = folder(prefix);
  const segmentName = (seq: number): string => `${baseName}_${String(seq).padStart(SEQUENCE_DIGITS, '0')}.ts`;
  return {
    baseName,
    playlistKey: `${dir}${baseName}.m3u8`,
    livePlaylistKey: `${dir}${baseName}${LIVE_PLAYLIST_SUFFIX}`,
    segmentName,
    segmentKey: (seq) => `${dir}${segmentName(seq)}`,
  };
}
