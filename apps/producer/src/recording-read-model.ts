import {
  type ControlRequest,
  isControlRequest,
  isFinalState,
  isRecfleetErrorCode,
  isRecordingState,
  type NumberRule,
  type RecfleetErrorCode,
  type RecordingEvent,
  type RecordingEventType,
  type RecordingResult,
  type RecordingState,
  redactUrl,
  TERMINAL_EVENTS,
  uploadPercent,
} from '@recfleet/contract';

/**
 * The producer's read model of a recording: what its durable record, its segment index and its job say,
 * in one shape for every reader (the API, the CLI, the dashboards). Built only by RecordingClient.
 */

/** A recording's progress, as its worker reports it (the job's progress) or as its result sums it up. */
export interface RecordingProgress {
  durationSeconds: number;
  segments: number;
  bytes: number;
  segmentsUploaded: number;
  /** 0–100: the share of the recorded bytes verified in the primary store (see uploadPercent). */
  uploadPercent: number;
}

/** One recording as its record says (never its job data: no token). */
export interface RecordingSummary {
  recordingId: string;
  state: RecordingState;
  appId: string;
  channel: string;
  uid: number;
  createdAt: number;
  updatedAt: number;
  /** When media started to be recorded. */
  startedAt?: number;
  storageProfile?: string;
  storagePrefix?: string;
  /** Why it stopped (`requested`, `idle_timeout`, …) once it did; `handoff` while handed back. */
  reason?: string;
  errorCode?: string;
  errorMessage?: string;
  /** Without its query string and user-info (they may hold the receiver's secret). */
  callbackUrl?: string;
  /** A pending stop or cancel request. */
  control?: ControlRequest;
  playlistKey?: string;
  playlistLocation?: string;
  /** Segments in the recording's durable segment index (reserved or delivered). */
  segmentsIndexed: number;
  progress?: RecordingProgress;
  result?: RecordingResult;
}

/** One recording with its job's view: what `RecordingClient.get` answers. */
export interface RecordingStatus extends RecordingSummary {
  /** BullMQ's state of the recording's job (`waiting`, `active`, `completed`, `failed`…), or `unknown`. */
  jobState: string;
  /** Why it failed: the record's code (the worker writes it), else the job's `failedReason`. */
  error?: { code: RecfleetErrorCode; message: string };
}

export interface ListFilter {
  /** Only recordings in one of these states. */
  state?: string | readonly string[];
  channel?: string;
  appId?: string;
  /** Page size (LIST_LIMIT_RULE). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface RecordingPage {
  /** Newest first. */
  recordings: RecordingSummary[];
  /** Present when more recordings may follow: pass it as `cursor` for the next page. */
  nextCursor?: string;
}

/** The page size of a list: the client, the API's `limit` and the CLI's `--limit` all read it. */
export const LIST_LIMIT_RULE = {
  min: 1,
  max: 500,
  integer: true,
  default: 50,
  description: 'recordings per page',
} as const satisfies NumberRule;

/**
 * Events after which nothing more happens to a recording: the terminal events but `backed_up`, which the
 * backup drain follows with `uploaded` once it has delivered the segments. Webhooks go on until one of
 * these; `follow` stops at any terminal event (its callers decide whether to wait for the drain).
 */
export const LAST_EVENTS: readonly RecordingEventType[] = TERMINAL_EVENTS.filter((t) => t !== 'backed_up');

/** A recording whose record is final and will not change again (a `backed_up` one still may). */
export function isSettled(state: string | undefined): boolean {
  return isFinalState(state) && state !== 'backed_up';
}

/**
 * How long a settled record without its last event is waited for before a reader gives up on the event:
 * the worker writes the final state first and the event right after, but a recording that failed
 * before any worker ran it (a failed enqueue, a job its worker refused) has no event at all.
 */
export const SETTLED_WITHOUT_EVENT_MS = 10_000;

/** A stream entry as a RecordingEvent; an unreadable payload still counts as the event. */
export function toEvent(id: string, flat: string[]): RecordingEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  let data: Record<string, unknown> = {};
  try {
    if (f.data) data = JSON.parse(f.data) as Record<string, unknown>;
  } catch {
    // kept as {}
  }
  return { id, type: f.type as RecordingEventType, at: Number(f.at), data };
}

/** The summary of a record's fields, or undefined when there is no record. */
export function toSummary(
  fields: Record<string, string>,
  segmentsIndexed: number,
  jobProgress: unknown,
): RecordingSummary | undefined {
  const f = fields;
  if (!f.recordingId) return undefined;
  const s: RecordingSummary = {
    recordingId: f.recordingId,
    // Every producer writes `queued` at start; a record without a state has not been taken up yet.
    state: isRecordingState(f.state) ? f.state : 'queued',
    appId: f.appId ?? '',
    channel: f.channel ?? '',
    uid: num(f.uid) ?? 0,
    createdAt: num(f.createdAt) ?? 0,
    updatedAt: num(f.updatedAt) ?? 0,
    segmentsIndexed,
  };
  const startedAt = num(f.startedAt);
  if (startedAt !== undefined) s.startedAt = startedAt;
  for (const key of [
    'storageProfile',
    'storagePrefix',
    'reason',
    'errorCode',
    'errorMessage',
    'playlistKey',
    'playlistLocation',
  ] as const) {
    if (f[key]) s[key] = f[key];
  }
  if (f.callbackUrl) s.callbackUrl = redactUrl(f.callbackUrl);
  if (isControlRequest(f.control)) s.control = f.control;
  if (f.result) {
    try {
      s.result = JSON.parse(f.result) as RecordingResult;
    } catch {
      // A malformed result is left out rather than failing the whole listing.
    }
  }
  const progress = asProgress(jobProgress) ?? (s.result ? resultProgress(s.result) : undefined);
  if (progress) s.progress = progress;
  return s;
}

/** The error of a record's `errorCode`/`errorMessage`, if it has one. */
export function recordError(s: RecordingSummary): RecordingStatus['error'] {
  if (!s.errorCode) return undefined;
  return {
    code: isRecfleetErrorCode(s.errorCode) ? s.errorCode : 'INTERNAL',
    message: s.errorMessage ?? '',
  };
}

/** The worker's progress object, or undefined for anything else (BullMQ's default progress is 0). */
export function asProgress(value: unknown): RecordingProgress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.segments !== 'number' && typeof v.durationSeconds !== 'number') return undefined;
  const n = (k: string): number => (typeof v[k] === 'number' ? (v[k] as number) : 0);
  const bytes = n('bytes');
  return {
    durationSeconds: n('durationSeconds'),
    segments: n('segments'),
    bytes,
    segmentsUploaded: n('segmentsUploaded'),
    // Recomputed when the worker reports the uploaded bytes; a worker that reports only its percentage
    // is taken at its word once something is recorded (before that, older workers said 100 %).
    uploadPercent:
      typeof v.bytesUploaded === 'number'
        ? uploadPercent(v.bytesUploaded, bytes)
        : bytes > 0
          ? n('uploadPercent')
          : uploadPercent(0, 0),
  };
}

/** A finished recording's progress, from its result: everything is uploaded unless it was backed up. */
function resultProgress(r: RecordingResult): RecordingProgress {
  const uploaded = r.outcome === 'uploaded';
  return {
    durationSeconds: r.durationSeconds,
    segments: r.segments,
    bytes: r.bytes,
    segmentsUploaded: uploaded ? r.segments : 0,
    uploadPercent: uploadPercent(uploaded ? r.bytes : 0, r.bytes),
  };
}

function num(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** A list position (score and id of the last entry returned), opaque to callers. */
export function encodeCursor([id, score]: [string, number]): string {
  return Buffer.from(JSON.stringify([score, id])).toString('base64url');
}

/** The position of a cursor, or undefined when it is not one encodeCursor made. */
export function decodeCursor(cursor: string): [string, number] | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && Number.isFinite(value[0]) && typeof value[1] === 'string') {
      return [value[1], value[0] as number];
    }
  } catch {
    // not a cursor
  }
  return undefined;
}
