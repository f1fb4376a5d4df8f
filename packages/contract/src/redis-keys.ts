import type { Redis } from 'ioredis';
import { encodeChannelForKey } from './channel.js';
import { runScript } from './redis-scripts.js';
import type { RecfleetErrorCode } from './error-registry.js';
import type { RecordingEventType } from './vocabulary.js';

/**
 * recfleet's own Redis keys, beside BullMQ's. The per-recording record is the durable truth about a
 * recording (QueueEvents is a trimmed stream and may miss events); the events stream lets any producer
 * follow a recording live from any host, and replay what it missed.
 */
export interface RecordingRedisKeys {
  /**
   * Hash: state, reason, error code, the owner (`epoch`, `owner`, `ownerHost`, `ownerHeartbeatAt`), the
   * one terminal event (`terminal`), `storageError`, timestamps, the stop/cancel request.
   */
  record: string;
  /** Stream: every recording event in order (XADD), fields `type`, `at`, `data` (JSON). */
  events: string;
  /** Hash: delivered segments by sequence (JSON), written under the owner's epoch. */
  segments: string;
  /** Hash, channel recordings: uid → the user's timeline and tracks (JSON), written under the owner's epoch. */
  users: string;
}

export function recordingRedisKeys(keyPrefix: string, recordingId: string): RecordingRedisKeys {
  // The hash tag keeps a recording's keys in one Redis Cluster slot.
  const base = `${keyPrefix}:rec:{${recordingId}}`;
  return { record: base, events: `${base}:events`, segments: `${base}:segments`, users: `${base}:users` };
}

/**
 * The segment index of one user's track in a channel recording (`<uid>-<av|audio|video>`): the same
 * hash shape as a single stream's `segments`, in the recording's Cluster slot, fenced by its epoch.
 */
export function trackSegmentsKey(keyPrefix: string, recordingId: string, trackId: string): string {
  return `${recordingRedisKeys(keyPrefix, recordingId).segments}:${trackId}`;
}

/**
 * The version of a segment index (a single stream's `segments` or a track's): a string that every index
 * write replaces (addSegment-3), read by the owner to tell, in one small round trip, whether anyone else
 * wrote since it last read the index. Beside its index, in the recording's Cluster slot.
 */
export function segmentIndexVersionKey(indexKey: string): string {
  return `${indexKey}:version`;
}

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

/**
 * Frees the recording's (app, channel, uid) for a new recording: called by whoever moves the recording
 * to a final state. Safe to call more than once, and never frees a newer recording's key.
 */
export async function releaseActiveRecording(
  redis: Redis,
  keyPrefix: string,
  recordingId: string,
): Promise<void> {
  const activeKey = await redis.hget(recordingRedisKeys(keyPrefix, recordingId).record, ACTIVE_KEY_FIELD);
  if (activeKey) await runScript(redis, 'releaseActiveRecording', [activeKey], [recordingId]);
}

/**
 * The backup drain's lock on one recording: two drain passes (a slow one and the next) must not move the
 * same recording at once. Holds the pass's token; released by compare-and-delete (releaseLock-1).
 */
export function drainLockKey(keyPrefix: string, recordingId: string): string {
  return `${recordingRedisKeys(keyPrefix, recordingId).record}:drain-lock`;
}

/** The webhook dispatchers' lease: the one holder delivers (renewLock-1, releaseLock-1). */
export function webhookLeaseKey(keyPrefix: string): string {
  return `${keyPrefix}:webhooks:lease`;
}

/** The record field a worker sets while a recording's uploads keep failing (JSON StorageErrorFlag). */
export const STORAGE_ERROR_FIELD = 'storageError';

/** What `storageError` holds: the stable code of the last failure, its message, and since when (ms). */
export interface StorageErrorFlag {
  code: RecfleetErrorCode;
  message: string;
  since: number;
}

/**
 * The fleet clock (hash `lastTickAt`, `resumedAt`, Redis TIME in ms): every worker ticks it every second
 * (fleetTick-1.lua). A gap in everybody's ticks is an outage of Redis (or of the whole fleet); `resumedAt`
 * says when the last one ended, so that an owner that recorded through it is given time to come back
 * before anyone takes its recordings over (claimRecording-2.lua).
 */
export function fleetClockKey(keyPrefix: string): string {
  return `${keyPrefix}:fleet:clock`;
}

/**
 * Hash of the fleet's live worker processes: identity → JSON `{ host, profiles, at }` (`at`: the fleet
 * clock's time of its last refresh). A host that lacks a job's storage profile leaves the job to one
 * that has it, and fails it only when no live host has the profile.
 */
export function fleetHostsKey(keyPrefix: string): string {
  return `${keyPrefix}:fleet:hosts`;
}
