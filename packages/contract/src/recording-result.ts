/** Why a recording ended (the reference SDK's stop reasons). */
export type StopReason = 'requested' | 'idle_timeout' | 'source_ended' | 'max_duration' | 'cancelled';

/** The lifecycle a recording goes through, kept on its durable record. */
export type RecordingState =
  'queued' | 'joining' | 'recording' | 'stopping' | 'uploaded' | 'backed_up' | 'failed';

/** A completed recording job's return value. */
export interface RecordingResult {
  recordingId: string;
  channel: string;
  outcome: 'uploaded' | 'backed_up';
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
