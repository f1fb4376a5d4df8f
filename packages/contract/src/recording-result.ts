import type { RecordingOutcome, StopReason, TrackType } from './vocabulary.js';

/** One user's playlist in a channel recording's result. */
export interface ResultPlaylist {
  uid: number;
  type: TrackType;
  /** Object key, `<prefix>/<recordingId>_<channel>__uid_s_<uid>__uid_e_<type>.m3u8`. */
  key: string;
  location: string;
}

/** A completed recording job's return value. */
export interface RecordingResult {
  recordingId: string;
  channel: string;
  outcome: RecordingOutcome;
  stopReason: StopReason;
  /**
   * Storage profile and object key of the recording's one entry point: the playlist
   * `<prefix>/<recordingId>_<channel>.m3u8` of a single stream, the manifest
   * `<prefix>/<recordingId>_<channel>.json` of a channel recording.
   */
  storageProfile: string;
  playlistKey: string;
  /** Where the playlist (or manifest) can be read: a local path for local profiles, an object URL otherwise. */
  playlistLocation: string;
  /** Totals; a channel recording's are summed over every user's tracks. */
  segments: number;
  durationSeconds: number;
  bytes: number;
  /** Channel recordings: every user's playlist. */
  playlists?: ResultPlaylist[];
  /** Channel recordings: the manifest (the same as playlistKey/playlistLocation). */
  manifestKey?: string;
  manifestLocation?: string;
  /** Channel recordings: how many users were recorded. */
  users?: number;
}
