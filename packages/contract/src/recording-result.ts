import type { RecordingOutcome, StopReason } from './vocabulary.js';

/** A completed recording job's return value. */
export interface RecordingResult {
  recordingId: string;
  channel: string;
  outcome: RecordingOutcome;
  stopReason: StopReason;
  /** Storage profile and object key of the playlist, `<prefix>/<recordingId>_<channel>.m3u8`. */
  storageProfile: string;
  playlistKey: string;
  /** Where the playlist can be read: a local path for local profiles, an object URL otherwise. */
  playlistLocation: string;
  segments: number;
  durationSeconds: number;
  bytes: number;
}
