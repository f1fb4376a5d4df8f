/**
 * recfleet's own Redis keys, beside BullMQ's. The per-recording record is the durable truth about a
 * recording (QueueEvents is a trimmed stream and may miss events); the events stream lets any producer
 * follow a recording live from any host, and replay what it missed.
 */
export interface RecordingRedisKeys {
  /** Hash: state, reason, error code, owner, timestamps, the stop/cancel request. */
  record: string;
  /** Stream: every recording event in order (XADD), fields `type`, `at`, `data` (JSON). */
  events: string;
  /** Hash: delivered segments by sequence (JSON), written under the owner's epoch. */
  segments: string;
}

export function recordingRedisKeys(keyPrefix: string, recordingId: string): RecordingRedisKeys {
  // The hash tag keeps a recording's keys in one Redis Cluster slot.
  const base = `${keyPrefix}:rec:{${recordingId}}`;
  return { record: base, events: `${base}:events`, segments: `${base}:segments` };
}

/** What a producer may ask of a running recording, stored durably in the record's `control` field. */
export type ControlRequest = 'stop' | 'cancel';

/** Recording events as stored in the events stream and mirrored on the job. */
export type RecordingEventType =
  | 'queued'
  | 'joined'
  | 'started'
  | 'progress'
  | 'segment'
  | 'uploaded_segment'
  | 'backed_up_segment'
  | 'recorder_failure'
  | 'uploader_failure'
  | 'stopped'
  | 'handoff'
  | 'uploaded'
  | 'backed_up'
  | 'fatal_error';

/**
 * Events after which a recording's worker is done with it. A `backed_up` recording can still become
 * `uploaded` later, when the backup drain has delivered it (followers that want that keep reading).
 */
export const TERMINAL_EVENTS: readonly RecordingEventType[] = ['uploaded', 'backed_up', 'fatal_error'];

/** Set of recordings with segments waiting in a backup store. */
export function backedUpSetKey(keyPrefix: string): string {
  return `${keyPrefix}:backed-up`;
}

export interface RecordingEvent {
  /** Stream entry id; unique and ordered, usable to de-duplicate. */
  id: string;
  type: RecordingEventType;
  at: number;
  data: Record<string, unknown>;
}
