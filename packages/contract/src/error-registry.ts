/**
 * The one registry of error codes that cross a boundary (addon → worker → job → record → API → CLI →
 * webhook). Every code has a category, and the category alone decides the HTTP status, the CLI's exit
 * code and whether the operation is worth another attempt. Callers decide on `code` or `category`, never
 * on message text.
 */

/** Exit codes of `recfleet`; scripts may rely on them. */
export const EXIT_CODES = {
  /** The command did what was asked (for `watch`: the recording was uploaded). */
  OK: 0,
  /** The recording failed (or an unexpected error). */
  FAILED: 1,
  /** Bad command line or a request the job contract refuses (every bad field is printed). */
  USAGE: 2,
  /** The recording ended with segments only in the backup store (the drain will deliver them). */
  BACKED_UP: 3,
  /** No recording with that id. */
  NOT_FOUND: 4,
  /** Redis (or the API) could not be reached, or did not answer in time. */
  UNAVAILABLE: 5,
  /** The request conflicts with the recording's state (e.g. stopping one that has ended). */
  CONFLICT: 6,
  /** The API refused the credentials. */
  UNAUTHENTICATED: 7,
} as const;
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export interface ErrorCategorySpec {
  /** HTTP status of a request that fails with a code of this category. */
  readonly httpStatus: number;
  /** `recfleet`'s exit code when a command fails with it. */
  readonly exitCode: ExitCode;
  /** Whether the same operation may succeed if tried again (storage puts, Redis calls, a job). */
  readonly retry: boolean;
  readonly description: string;
}

export const ERROR_CATEGORIES = {
  invalid_argument: {
    httpStatus: 400,
    exitCode: EXIT_CODES.USAGE,
    retry: false,
    description: 'the request, job or option breaks a rule of the contract',
  },
  unauthenticated: {
    httpStatus: 401,
    exitCode: EXIT_CODES.UNAUTHENTICATED,
    retry: false,
    description: 'no valid credential',
  },
  not_found: {
    httpStatus: 404,
    exitCode: EXIT_CODES.NOT_FOUND,
    retry: false,
    description: 'no such recording',
  },
  conflict: {
    httpStatus: 409,
    exitCode: EXIT_CODES.CONFLICT,
    retry: false,
    description: "the request does not fit the recording's (or recorder's) state",
  },
  unavailable: {
    httpStatus: 503,
    exitCode: EXIT_CODES.UNAVAILABLE,
    retry: true,
    description: 'a service recfleet needs (Redis) is not reachable or did not answer in time',
  },
  source: {
    httpStatus: 502,
    exitCode: EXIT_CODES.FAILED,
    retry: false,
    description: 'the channel or source could not be recorded',
  },
  storage: {
    httpStatus: 502,
    exitCode: EXIT_CODES.FAILED,
    retry: false,
    description: "the store refused the request: the profile's own configuration or credentials",
  },
  storage_transient: {
    httpStatus: 503,
    exitCode: EXIT_CODES.FAILED,
    retry: true,
    description: 'the store failed or was slow; another attempt may succeed',
  },
  host: {
    httpStatus: 500,
    exitCode: EXIT_CODES.FAILED,
    retry: false,
    description: "the worker host's own resources (disk, memory, the native recorder)",
  },
  cancelled: {
    httpStatus: 409,
    exitCode: EXIT_CODES.FAILED,
    retry: false,
    description: 'the recording was cancelled before it ran',
  },
  fenced: {
    httpStatus: 409,
    exitCode: EXIT_CODES.FAILED,
    retry: false,
    description: 'another worker owns the recording now; this writer stopped',
  },
  internal: {
    httpStatus: 500,
    exitCode: EXIT_CODES.FAILED,
    retry: false,
    description: 'an error recfleet did not foresee',
  },
} as const satisfies Record<string, ErrorCategorySpec>;
export type ErrorCategory = keyof typeof ERROR_CATEGORIES;

/**
 * Every code, its category, and what it means. `fatal: false` marks codes that report trouble the
 * recording survives (`recorder_failure`, `uploader_failure` events) rather than a failure.
 */
export const ERROR_CODES = {
  // The job contract and the producer's requests
  INVALID_JOB: { category: 'invalid_argument', description: 'the job data breaks the contract' },
  INVALID_REQUEST: { category: 'invalid_argument', description: 'the HTTP request breaks a rule' },
  INVALID_FILTER: { category: 'invalid_argument', description: 'a list filter breaks a rule' },
  CONFIG_INVALID: { category: 'invalid_argument', description: 'a process config breaks its schema' },
  USAGE: { category: 'invalid_argument', description: 'a bad command line' },
  UNAUTHORIZED: { category: 'unauthenticated', description: 'no valid API key' },
  RECORDING_NOT_FOUND: { category: 'not_found', description: 'no recording with that id' },
  ROUTE_NOT_FOUND: { category: 'not_found', description: 'no such route' },
  NOT_A_CHANNEL_RECORDING: {
    category: 'invalid_argument',
    description: 'the request needs a channel recording (a job without sourceUrl)',
  },
  RECORDING_ENDED: {
    category: 'conflict',
    description: 'the recording has already ended; there is nothing to stop or cancel',
  },
  RECORDING_ACTIVE: {
    category: 'conflict',
    description:
      'a job added without a start (bare BullMQ) names an app, channel and uid another active recording has',
  },
  STORAGE_PROFILE_UNKNOWN: {
    category: 'invalid_argument',
    description: 'no worker host has the storage profile the job names',
  },
  REDIS_UNAVAILABLE: {
    category: 'unavailable',
    description: 'Redis is not reachable or did not answer in time',
  },
  API_UNAVAILABLE: {
    category: 'unavailable',
    description: 'the recfleet HTTP API is not reachable or did not answer in time',
  },
  CANCELLED: { category: 'cancelled', description: 'cancelled while queued, before any worker ran it' },
  FENCED: { category: 'fenced', description: "a stale owner's write was refused" },

  // The recorder engine (the native addon and its TypeScript wrapper)
  INVALID_OPTION: { category: 'invalid_argument', description: 'a recorder option breaks its rule' },
  INVALID_URL: {
    category: 'invalid_argument',
    description: 'the source URL cannot be opened by any protocol',
  },
  SOURCE_UNREACHABLE: { category: 'source', description: 'the channel or source could not be reached' },
  CHANNEL_AUTH_FAILED: {
    category: 'source',
    description: "the channel refused the job's token (wrong, expired or missing)",
  },
  UID_CONFLICT: { category: 'source', description: "the recorder's uid is a publisher's in the channel" },
  NO_MEDIA: { category: 'source', description: 'the source has no selected audio or video stream' },
  UNSUPPORTED_CODEC: { category: 'source', description: 'a codec the segment format cannot carry' },
  OUTPUT_NOT_WRITABLE: { category: 'host', description: "the worker's spool cannot be written" },
  DISK_FULL: { category: 'host', description: "the worker's spool is full" },
  OUT_OF_MEMORY: { category: 'host', description: 'the worker ran out of memory' },
  NATIVE_LOAD_FAILED: { category: 'host', description: 'the native recorder could not be loaded' },
  RELEASED: { category: 'conflict', description: 'the recorder was released' },
  ALREADY_STARTED: { category: 'conflict', description: 'the recorder was already started' },
  NOT_STARTED: { category: 'conflict', description: 'the recorder was not started' },

  // Recoverable trouble the recorder reports while the recording goes on (recorder_failure)
  SOURCE_LOST: { category: 'source', fatal: false, description: 'the source stopped; reconnecting' },
  CORRUPT_PACKETS: { category: 'source', fatal: false, description: 'corrupt packets were skipped' },
  STREAM_CHANGED: {
    category: 'source',
    fatal: false,
    description: "the source's streams changed; recording goes on in a new segment",
  },
  SOURCE_GAP: {
    category: 'source',
    fatal: false,
    description: 'the source sent no media for a while; a discontinuity follows',
  },

  // Storage
  STORAGE_WRITE_FAILED: {
    category: 'storage_transient',
    description: 'a put failed (5xx, network); retried',
  },
  STORAGE_REFUSED: {
    category: 'storage',
    description: 'the store refused the request (4xx other than auth, a local path it cannot write)',
  },
  STORAGE_INTEGRITY: {
    category: 'storage_transient',
    description: 'the store holds other bytes than were sent; retried',
  },
  STORAGE_THROTTLED: {
    category: 'storage_transient',
    description: 'the store asked us to slow down; retried',
  },
  STORAGE_TIMEOUT: {
    category: 'storage_transient',
    description: 'no answer within the attempt timeout; retried',
  },
  STORAGE_UNAVAILABLE: {
    category: 'storage_transient',
    description: 'the store could not be read (dashboards)',
  },
  STORAGE_CONFIG_INVALID: {
    category: 'storage',
    description: 'the storage profile is incomplete or malformed',
  },
  STORAGE_AUTH_FAILED: { category: 'storage', description: 'the store refused the credentials; not retried' },
  STORAGE_BUCKET_NOT_FOUND: { category: 'storage', description: 'the bucket does not exist; not retried' },

  INTERNAL: { category: 'internal', description: 'anything recfleet did not foresee' },
} as const satisfies Record<string, { category: ErrorCategory; description: string; fatal?: false }>;

export type RecfleetErrorCode = keyof typeof ERROR_CODES;

/** `RecfleetErrorCode.X === 'X'`: the codes as values, for `switch` and comparisons. */
export const RecfleetErrorCode = Object.fromEntries(Object.keys(ERROR_CODES).map((c) => [c, c])) as {
  readonly [K in RecfleetErrorCode]: K;
};

export function isRecfleetErrorCode(value: unknown): value is RecfleetErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Codes of a category, e.g. every `storage_transient` code. */
export function codesOf(category: ErrorCategory): RecfleetErrorCode[] {
  return (Object.keys(ERROR_CODES) as RecfleetErrorCode[]).filter(
    (c) => ERROR_CODES[c].category === category,
  );
}

export function categoryOf(code: RecfleetErrorCode): ErrorCategory {
  return ERROR_CODES[code].category;
}

/** What a code's category decides: HTTP status, exit code, retry. */
export function errorPolicy(code: RecfleetErrorCode): ErrorCategorySpec & { category: ErrorCategory } {
  const category = categoryOf(code);
  return { category, ...ERROR_CATEGORIES[category] };
}

/**
 * The base of every error recfleet throws across a boundary: a stable `code` from the registry, and the
 * policy its category gives. Subclasses add what their callers need (the bad fields, the recording id).
 */
export class RecfleetError extends Error {
  readonly category: ErrorCategory;

  constructor(
    readonly code: RecfleetErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RecfleetError';
    this.category = categoryOf(code);
  }

  get retryable(): boolean {
    return ERROR_CATEGORIES[this.category].retry;
  }

  get httpStatus(): number {
    return ERROR_CATEGORIES[this.category].httpStatus;
  }

  get exitCode(): ExitCode {
    return ERROR_CATEGORIES[this.category].exitCode;
  }
}

/** The registry code an error carries, if it carries one (`err.code`), else `fallback`. */
export function errorCodeOf(err: unknown, fallback: RecfleetErrorCode = 'INTERNAL'): RecfleetErrorCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return isRecfleetErrorCode(code) ? code : fallback;
}

/**
 * A failed job's `failedReason` is `[CODE] message`, so that a bare BullMQ consumer in any language can
 * recover the code without our client.
 */
export function formatFailure(code: RecfleetErrorCode, message: string): string {
  return `[${code}] ${message}`;
}

/** Reads a `failedReason` written by formatFailure; a reason in another form is INTERNAL. */
export function parseFailure(reason: string | undefined): { code: RecfleetErrorCode; message: string } {
  const m = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(reason ?? '');
  if (m && isRecfleetErrorCode(m[1])) return { code: m[1], message: m[2] ?? '' };
  return { code: 'INTERNAL', message: reason ?? 'unknown failure' };
}
