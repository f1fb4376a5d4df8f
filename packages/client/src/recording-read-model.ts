import {
  type ControlRequest,
  isControlRequest,
  isFinalState,
  isRecfleetErrorCode,
  isRecordingState,
  type ManifestUser,
  ManifestUserSchema,
  type NumberRule,
  type RecfleetErrorCode,
  type RecordingEvent,
  type RecordingEventType,
  type RecordingKind,
  type RecordingResult,
  type RecordingState,
  redactText,
  redactUrl,
  type Subscriptions,
  SUBSCRIPTION_FIELDS,
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
  /** Channel recordings: each user track's figures, as the worker reports them. */
  users?: UserProgress[];
}

/** One user track's figures in a channel recording's progress. */
export interface UserProgress {
  uid: number;
  /** `<uid>-<av|audio|video>` (trackId). */
  track: string;
  segments: number;
  durationSeconds: number;
}

/**
 * A user of a channel recording, as its worker keeps it in the record's users hash (the manifest's
 * entry for the user), with whether the user is in the channel now and the user's live figures.
 */
export interface RecordingUser extends ManifestUser {
  /** The user's last interval is open: they are in the channel (and recorded) now. */
  present: boolean;
  /** The worker's progress of each of the user's tracks, while the recording runs. */
  progress?: UserProgress[];
}

/**
 * Uploads of a running recording keep failing: the worker sets the record's `storageError` (JSON) while
 * they do and clears it once an upload succeeds. Its absence means storage is healthy.
 */
export interface StorageFailure {
  /** The storage error's stable code (STORAGE_AUTH, STORAGE_WRITE_FAILED, …). */
  code: string;
  /** When uploads started failing, ms since epoch (absent when the worker wrote none readable). */
  since?: number;
  message: string;
}

/** "storage failing (STORAGE_AUTH) since 2026-…Z": how every reader shows a StorageFailure. */
export function storageFailureText(f: StorageFailure): string {
  const since = f.since === undefined ? '' : ` since ${new Date(f.since).toISOString()}`;
  return `storage failing (${f.code})${since}`;
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
  /** What it records: one stream (a job with `sourceUrl`) or the users of its channel. */
  kind?: RecordingKind;
  /** Channel recordings: the subscriptions in force (the job's, as changed by updates). */
  subscriptions?: Subscriptions;
  /** Channel recordings: incremented by each update (0: the job's own subscriptions). */
  subscriptionsVersion?: number;
  /** Channel recordings: object key of the manifest (`<recordingId>_<channel>.json`) once written. */
  manifestKey?: string;
  manifestLocation?: string;
  /** Set while its uploads keep failing (the record's `storageError`); absent: storage is healthy. */
  storageError?: StorageFailure;
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
  /** Channel recordings: every user recorded so far, by uid. */
  users?: RecordingUser[];
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
    'manifestKey',
    'manifestLocation',
  ] as const) {
    if (f[key]) s[key] = f[key];
  }
  if (f.kind === 'channel' || f.kind === 'single_stream') s.kind = f.kind;
  const subscriptions = asSubscriptions(f.subscriptions);
  if (subscriptions) {
    s.subscriptions = subscriptions;
    s.subscriptionsVersion = num(f.subscriptionsVersion) ?? 0;
  }
  if (f.callbackUrl) s.callbackUrl = redactUrl(f.callbackUrl);
  const storageError = asStorageFailure(f.storageError);
  if (storageError) s.storageError = storageError;
  if (isControlRequest(f.control)) s.control = f.control;
  if (f.result) {
    try {
      s.result = JSON.parse(f.result) as RecordingResult;
    } catch {
      // A malformed result is left out rather than failing the whole listing.
    }
  }
  // The worker's result names the manifest of a channel recording (older records have it only there).
  const result = s.result as
    (RecordingResult & { manifestKey?: unknown; manifestLocation?: unknown }) | undefined;
  if (!s.manifestKey && typeof result?.manifestKey === 'string') s.manifestKey = result.manifestKey;
  if (!s.manifestLocation && typeof result?.manifestLocation === 'string') {
    s.manifestLocation = result.manifestLocation;
  }
  const progress = asProgress(jobProgress) ?? (s.result ? resultProgress(s.result) : undefined);
  if (progress) s.progress = progress;
  return s;
}

/**
 * The record's `storageError` (JSON `{code, since, message}`), read defensively: absent, unreadable or
 * without a code, it is no failure; `since` may be ms or an ISO date; the message is redacted text.
 */
export function asStorageFailure(value: string | undefined): StorageFailure | undefined {
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const v = parsed as Record<string, unknown>;
  if (typeof v.code !== 'string' || !/^[A-Z][A-Z0-9_]{0,63}$/.test(v.code)) return undefined;
  const since =
    typeof v.since === 'number'
      ? v.since
      : typeof v.since === 'string'
        ? Number(v.since) || Date.parse(v.since)
        : NaN;
  return {
    code: v.code,
    ...(Number.isFinite(since) && since > 0 ? { since } : {}),
    message: typeof v.message === 'string' ? redactText(v.message) : '',
  };
}

/** Subscriptions as stored on the record (JSON), or undefined when absent or unreadable. */
export function asSubscriptions(value: string | undefined): Subscriptions | undefined {
  if (!value) return undefined;
  try {
    return subscriptionsFrom(JSON.parse(value));
  } catch {
    return undefined;
  }
}

/** The subscription lists of an object (a record's, an `updated` event's), or undefined for a non-object. */
export function subscriptionsFrom(value: unknown): Subscriptions | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Subscriptions = {};
  for (const field of SUBSCRIPTION_FIELDS) {
    const list = (value as Record<string, unknown>)[field];
    if (Array.isArray(list) && list.every((u) => typeof u === 'number')) out[field] = list as number[];
  }
  return out;
}

/**
 * The users of a channel recording from its users hash (uid → ManifestUser JSON), sorted by uid, each
 * with whether they are present and their tracks' live figures. An entry that is not a ManifestUser is
 * left out rather than failing the read.
 */
export function toUsers(
  hash: Record<string, string>,
  progress: RecordingProgress | undefined,
): RecordingUser[] {
  const users: RecordingUser[] = [];
  for (const json of Object.values(hash)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      continue;
    }
    const checked = ManifestUserSchema.safeParse(parsed);
    if (!checked.success) continue;
    const user: RecordingUser = { ...checked.data, present: isPresent(checked.data) };
    const figures = progress?.users?.filter((p) => p.uid === user.uid);
    if (figures && figures.length > 0) user.progress = figures;
    users.push(user);
  }
  return users.sort((a, b) => a.uid - b.uid);
}

/** A user whose last interval has not ended is in the channel now. */
function isPresent(user: ManifestUser): boolean {
  const last = user.intervals.at(-1);
  return last !== undefined && last.leftAt === undefined;
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
  const users = asUserProgress(v.users);
  return {
    ...(users ? { users } : {}),
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

/** The per-user figures of a worker's progress (`users`), or undefined when it has none. */
function asUserProgress(value: unknown): UserProgress[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const users: UserProgress[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const u = item as Record<string, unknown>;
    if (typeof u.uid !== 'number') continue;
    users.push({
      uid: u.uid,
      track: typeof u.track === 'string' ? u.track : String(u.uid),
      segments: typeof u.segments === 'number' ? u.segments : 0,
      durationSeconds: typeof u.durationSeconds === 'number' ? u.durationSeconds : 0,
    });
  }
  return users;
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
