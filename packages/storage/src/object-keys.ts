import { decodeChannelFromKey, encodeChannelForKey } from '@recfleet/contract';

export { decodeChannelFromKey, encodeChannelForKey };

/**
 * Object key naming. Keys are `<prefix>/<recordingId>_<channel>_<seq>.ts` and
 * `<prefix>/<recordingId>_<channel>.m3u8`, the channel encoded by `encodeChannelForKey` (see the
 * contract package) so that no channel name can leave the prefix or make an invalid key.
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
  const baseName = `${recordingId}_${encodeChannelForKey(channel)}`;
  const dir = prefix ? `${prefix.replace(/\/+$/, '')}/` : '';
  const segmentName = (seq: number): string => `${baseName}_${String(seq).padStart(SEQUENCE_DIGITS, '0')}.ts`;
  return {
    baseName,
    playlistKey: `${dir}${baseName}.m3u8`,
    segmentName,
    segmentKey: (seq) => `${dir}${segmentName(seq)}`,
  };
}
