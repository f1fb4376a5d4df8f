import { encodeChannelForKey } from './channel.js';
import type { RecordingState } from './recording-result.js';

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

/** States after which a recording is no longer active (a `backed_up` one may still become `uploaded`). */
export const FINAL_STATES: readonly RecordingState[] = ['uploaded', 'backed_up', 'failed'];

export function isFinalState(state: string | undefined): boolean {
  return state !== undefined && (FINAL_STATES as readonly string[]).includes(state);
}

/** Sorted set of every recording id, scored by creation time (ms): the producer's list index. */
export function recordingsIndexKey(keyPrefix: string): string {
  return `${keyPrefix}:recordings`;
}

/** Set of the storage profile names configured on the fleet's workers (each adds its own at start). */
export function storageProfilesKey(keyPrefix: string): string {
  return `${keyPrefix}:storage-profiles`;
}

/** Set of recordings whose events are POSTed to a callback URL (the webhook dispatcher's work list). */
export function webhookRecordingsKey(keyPrefix: string): string {
  return `${keyPrefix}:webhooks`;
}

/**
 * The one active recording of a recorder identity (app, channel, uid): its value is the recording id,
 * set when the recording is started and deleted when it reaches a final state. The channel is encoded as
 * in object keys, so the key has no `{`, `}` or `:` from user input.
 */
export function activeRecordingKey(keyPrefix: string, appId: string, channel: string, uid: number): string {
  return `${keyPrefix}:active:${appId}:${encodeChannelForKey(channel)}:${uid}`;
}

/** The record field holding the name of the recording's active key (written by the producer). */
export const ACTIVE_KEY_FIELD = 'activeKey';

/** Deletes KEYS[1] only if it still names ARGV[1] (a newer recording of the same identity keeps its key). */
export const RELEASE_ACTIVE_RECORDING_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** The few Redis commands `releaseActiveRecording` needs (ioredis's `Redis` has them). */
export interface ActiveRecordingRedis {
  hget(key: string, field: string): Promise<string | null>;
  eval(script: string, numkeys: number, ...args: string[]): Promise<unknown>;
}

/**
 * Frees the recording's (app, channel, uid) for a new recording: called by whoever moves the recording
 * to a final state. Safe to call more than once, and never frees a newer recording's key.
 */
export async function releaseActiveRecording(
  redis: ActiveRecordingRedis,
  keyPrefix: string,
  recordingId: string,
): Promise<void> {
  const activeKey = await redis.hget(recordingRedisKeys(keyPrefix, recordingId).record, ACTIVE_KEY_FIELD);
  if (activeKey) await redis.eval(RELEASE_ACTIVE_RECORDING_LUA, 1, activeKey, recordingId);
}
