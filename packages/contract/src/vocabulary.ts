/**
 * The words of the recording lifecycle, each written once. Everything else — the zod schemas, the CLI's
 * help, the OpenAPI document, the engine's option checks, the dashboards — imports these lists.
 */

/** A recording's lifecycle, as kept on its durable record (see the README's lifecycle). */
export const RECORDING_STATES = [
  'queued',
  'joining',
  'recording',
  'stopping',
  'uploaded',
  'backed_up',
  'failed',
] as const;
export type RecordingState = (typeof RECORDING_STATES)[number];

/** What each state means, for help texts and documents. */
export const RECORDING_STATE_DESCRIPTIONS: Readonly<Record<RecordingState, string>> = {
  queued: 'waiting for a worker (also between a hand-off and the next worker)',
  joining: 'a worker has it and is joining the channel',
  recording: 'media is being recorded',
  stopping: 'recording ended; the last segments and the final playlist are being delivered',
  uploaded: 'every segment and the final playlist are in the primary store',
  backed_up: 'ended with segments in the backup store; the drain delivers them later',
  failed: 'ended on an error (see its code)',
};

/** States after which a recording is no longer active (a `backed_up` one may still become `uploaded`). */
export const FINAL_STATES = ['uploaded', 'backed_up', 'failed'] as const satisfies readonly RecordingState[];
export type FinalState = (typeof FINAL_STATES)[number];

export function isRecordingState(value: unknown): value is RecordingState {
  return typeof value === 'string' && (RECORDING_STATES as readonly string[]).includes(value);
}

export function isFinalState(state: string | undefined): state is FinalState {
  return state !== undefined && (FINAL_STATES as readonly string[]).includes(state);
}

/**
 * Recording events as stored in the recording's event stream, mirrored on the job and POSTed to
 * webhooks. `terminal`: the worker is done with the recording after it. Every recording gets exactly one
 * terminal event, whatever happened (finishRecording-2.lua writes it with the final state, once), and
 * nothing of its owner after it; a `backed_up` recording may still get `drained` (not terminal) when the
 * backup drain has delivered it (followers that want that keep reading).
 */
export const RECORDING_EVENTS = {
  queued: { terminal: false, description: 'the recording was accepted and its job enqueued' },
  joined: { terminal: false, description: 'the recorder reached the channel (again, after a loss)' },
  started: { terminal: false, description: 'media is being recorded; lists the streams' },
  progress: { terminal: false, description: 'totals so far (every progress interval)' },
  segment: { terminal: false, description: 'a segment was finished on the worker' },
  uploaded_segment: { terminal: false, description: 'a segment is verified in the primary store' },
  backed_up_segment: { terminal: false, description: 'a segment went to the backup store' },
  recorder_failure: {
    terminal: false,
    description: 'trouble the recorder works around (reconnects, corrupt packets)',
  },
  uploader_failure: { terminal: false, description: 'a failed storage attempt, with its code' },
  stream_changed: {
    terminal: false,
    description: "the source's streams changed mid-recording; lists the new streams (a new segment begins)",
  },
  gap: {
    terminal: false,
    description:
      'the source sent no media for a while although connected; the next segment is a discontinuity',
  },
  storage_error: {
    terminal: false,
    description:
      'uploads keep failing: the record shows `storageError` {code, message, since} until one succeeds',
  },
  storage_error_cleared: {
    terminal: false,
    description: 'an upload succeeded again after `storage_error`; the record no longer shows it',
  },
  stopped: { terminal: false, description: 'recording ended, with the stop reason' },
  handoff: { terminal: false, description: 'the worker handed the recording back to the queue (shutdown)' },
  takeover: {
    terminal: false,
    description:
      'redundancy 2: the standby became the owner when the owner was lost and delivers from the first segment the owner had not',
  },
  uploaded: { terminal: true, description: 'everything is in the primary store (the result)' },
  backed_up: {
    terminal: true,
    description: 'ended with segments in the backup store (the drain finishes it)',
  },
  fatal_error: { terminal: true, description: 'the recording failed, with a stable code' },
  drained: {
    terminal: false,
    description: 'after `backed_up`: the backup drain delivered every segment; the recording is now uploaded',
  },
  user_joined: { terminal: false, description: 'a user of the channel started publishing (recorded or not)' },
  user_left: { terminal: false, description: "a user's recording ended, with the reason" },
  user_not_recorded: {
    terminal: false,
    description: 'a user of the channel is not recorded (over maxUsers, the recorder’s own uid)',
  },
  updated: { terminal: false, description: "the recording's subscriptions changed (update)" },
} as const satisfies Record<string, { terminal: boolean; description: string }>;
export type RecordingEventType = keyof typeof RECORDING_EVENTS;
export const RECORDING_EVENT_TYPES = Object.keys(RECORDING_EVENTS) as RecordingEventType[];

/** Events after which a recording's worker is done with it. */
export const TERMINAL_EVENTS: readonly RecordingEventType[] = RECORDING_EVENT_TYPES.filter(
  (t) => RECORDING_EVENTS[t].terminal,
);

export function isTerminalEvent(type: string): boolean {
  return (TERMINAL_EVENTS as readonly string[]).includes(type);
}

/** Why a recording ended (the reference SDK's stop reasons). */
export const STOP_REASONS = [
  'requested',
  'idle_timeout',
  'source_ended',
  'max_duration',
  'cancelled',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const STOP_REASON_DESCRIPTIONS: Readonly<Record<StopReason, string>> = {
  requested: 'stop was asked for',
  idle_timeout: 'the channel had no media for maxIdleSeconds',
  source_ended: 'a finite source (a file, an HLS VOD) ended',
  max_duration: 'maxDurationSeconds of media were recorded',
  cancelled: 'cancel was asked for: the segment being written was abandoned',
};

/** Which of a source's streams are recorded. */
export const STREAM_TYPES = ['audio', 'video', 'both'] as const;
export type StreamTypes = (typeof STREAM_TYPES)[number];

/** URL schemes a job's `sourceUrl` may use (and the engine can open). */
export const SOURCE_SCHEMES = [
  'rtmp',
  'rtmps',
  'srt',
  'rtsp',
  'http',
  'https',
  'udp',
  'rtp',
  'file',
] as const;
export type SourceScheme = (typeof SOURCE_SCHEMES)[number];

/** The scheme of a URL, lower-cased, or undefined when it has none. */
export function urlScheme(url: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
}

export function isSourceScheme(scheme: string | undefined): scheme is SourceScheme {
  return scheme !== undefined && (SOURCE_SCHEMES as readonly string[]).includes(scheme);
}

/** What a producer may ask of a running recording, stored durably in the record's `control` field. */
export const CONTROL_REQUESTS = ['stop', 'cancel'] as const;
export type ControlRequest = (typeof CONTROL_REQUESTS)[number];

export function isControlRequest(value: unknown): value is ControlRequest {
  return typeof value === 'string' && (CONTROL_REQUESTS as readonly string[]).includes(value);
}

/**
 * What a recording records. A job with a `sourceUrl` records that one stream (`single_stream`, whatever
 * its mode). A job without one records the users of its channel, found by the worker's channel
 * directory, in its `recordingConfig.mode`: `individual` gives each user their own playlist.
 */
export const RECORDING_MODES = ['individual'] as const;
export type RecordingMode = (typeof RECORDING_MODES)[number];
export const DEFAULT_RECORDING_MODE: RecordingMode = 'individual';

/** Why a user's recording in a channel ended (`user_left`). */
export const USER_LEFT_REASONS = ['left', 'unsubscribed', 'recording_ended', 'failed'] as const;
export type UserLeftReason = (typeof USER_LEFT_REASONS)[number];

/** Why a user of the channel is not recorded (`user_not_recorded`). */
export const USER_NOT_RECORDED_REASONS = ['max_users', 'recorder_uid', 'unsubscribed'] as const;
export type UserNotRecordedReason = (typeof USER_NOT_RECORDED_REASONS)[number];

/**
 * A user's track type, as the reference service's individual-mode file names say it: `av` (audio and
 * video), `audio` or `video`. It is what the user publishes, less what the recording does not subscribe.
 */
export const TRACK_TYPES = ['av', 'audio', 'video'] as const;
export type TrackType = (typeof TRACK_TYPES)[number];

/** How a completed recording was delivered (a job's result). */
export const RECORDING_OUTCOMES = ['uploaded', 'backed_up'] as const;
export type RecordingOutcome = (typeof RECORDING_OUTCOMES)[number];
