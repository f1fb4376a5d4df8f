import { z } from 'zod';
import { RecfleetError } from './error-registry.js';
import { CHANNEL_ALLOWED_PUNCTUATION, CHANNEL_MAX_BYTES, channelNameProblem } from './channel.js';
import {
  APP_ID_PATTERN,
  APP_ID_RULE,
  CALLBACK_URL_MAX_LENGTH,
  MAX_DURATION_SECONDS_RULE,
  MAX_IDLE_SECONDS_RULE,
  GAP_SECONDS_RULE,
  REDUNDANCY_RULE,
  MAX_USERS_RULE,
  numberSchema,
  RECORDING_ID_PATTERN,
  RECORDING_ID_RULE,
  SEGMENT_SECONDS_RULE,
  SOURCE_URL_MAX_LENGTH,
  STORAGE_PREFIX_MAX_LENGTH,
  STORAGE_PREFIX_PATTERN,
  STORAGE_PREFIX_RULE,
  STORAGE_PROFILE_PATTERN,
  STORAGE_PROFILE_RULE,
  TOKEN_MAX_LENGTH,
  UID_LIST_MAX,
  UID_RULE,
} from './job-rules.js';
import {
  DEFAULT_RECORDING_MODE,
  isSourceScheme,
  RECORDING_MODES,
  SOURCE_SCHEMES,
  STREAM_TYPES,
  urlScheme,
} from './vocabulary.js';

/** The BullMQ queue every producer adds to and every worker takes from. */
export const RECORDINGS_QUEUE = 'recfleet-recordings';
/** The workers' maintenance queue: the backup drain's job scheduler (shown in Bull Board beside the recordings). */
export const MAINTENANCE_QUEUE = 'recfleet-maintenance';
/** The BullMQ job name of a recording job. */
export const RECORD_JOB_NAME = 'record';
/**
 * The BullMQ job id of a recording's second ticket when it has redundancy 2 (see REDUNDANCY_RULE): the
 * recording id's own job and this one are alike — whichever worker claims first records, the other
 * becomes the standby. Recording ids hold no `.`, so no recording id is another's standby job id.
 */
export function standbyJobId(recordingId: string): string {
  return `${recordingId}.standby`;
}

/** Default Redis key prefix (BullMQ's `prefix` option and recfleet's own keys). */
export const DEFAULT_KEY_PREFIX = 'recfleet';

export const StreamTypesSchema = z.enum(STREAM_TYPES);
export const DEFAULT_STREAM_TYPES = 'both' satisfies (typeof STREAM_TYPES)[number];

/** A list of user ids (subscriptions): distinct uids, at most UID_LIST_MAX of them. */
export const UidListSchema = z
  .array(numberSchema(UID_RULE))
  .max(UID_LIST_MAX, `must list at most ${UID_LIST_MAX} uids`)
  .refine((uids) => new Set(uids).size === uids.length, 'must not list a uid twice');

/**
 * Which users' audio and video a channel recording records (the reference service's rules): by default
 * every user's; `subscribe*Uids` records only those users, `unsubscribe*Uids` everyone but those. A
 * `subscribe` and an `unsubscribe` list of the same kind exclude each other.
 */
export const SubscriptionsShape = {
  subscribeAudioUids: UidListSchema.optional(),
  subscribeVideoUids: UidListSchema.optional(),
  unsubscribeAudioUids: UidListSchema.optional(),
  unsubscribeVideoUids: UidListSchema.optional(),
};
export const SUBSCRIPTION_FIELDS = Object.keys(SubscriptionsShape) as (keyof typeof SubscriptionsShape)[];

function checkSubscriptions(
  value: Partial<Record<keyof typeof SubscriptionsShape, number[] | undefined>>,
  ctx: z.RefinementCtx,
): void {
  for (const kind of ['Audio', 'Video'] as const) {
    if (value[`subscribe${kind}Uids`] !== undefined && value[`unsubscribe${kind}Uids`] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [`unsubscribe${kind}Uids`],
        message: `must not be given together with subscribe${kind}Uids`,
      });
    }
  }
}

export const RecordingConfigSchema = z
  .object({
    /** What a channel recording makes of its users (a job with a sourceUrl records that one stream). */
    mode: z.enum(RECORDING_MODES).default(DEFAULT_RECORDING_MODE),
    segmentSeconds: numberSchema(SEGMENT_SECONDS_RULE).default(SEGMENT_SECONDS_RULE.default),
    maxIdleSeconds: numberSchema(MAX_IDLE_SECONDS_RULE).default(MAX_IDLE_SECONDS_RULE.default),
    streamTypes: StreamTypesSchema.default(DEFAULT_STREAM_TYPES),
    maxDurationSeconds: numberSchema(MAX_DURATION_SECONDS_RULE).optional(),
    /** Optional: without it the worker's `gapSeconds` applies (GAP_SECONDS_RULE.default unless configured). */
    gapSeconds: numberSchema(GAP_SECONDS_RULE).optional(),
    /** Optional: without it the worker's `redundancy` applies (REDUNDANCY_RULE.default unless configured). */
    redundancy: numberSchema(REDUNDANCY_RULE).optional(),
    /** Optional: a channel recording without it records up to MAX_USERS_RULE.default (maxUsersOf). */
    maxUsers: numberSchema(MAX_USERS_RULE).optional(),
    ...SubscriptionsShape,
  })
  .strict()
  .superRefine(checkSubscriptions);

/**
 * A change of a running channel recording's subscriptions (`RecordingClient.update`, `PATCH
 * /v1/recordings/:id`, `recfleet update`): each list given replaces that list; `null` removes it. At
 * least one list must be named.
 */
export const UpdateRecordingRequestSchema = z
  .object(
    Object.fromEntries(SUBSCRIPTION_FIELDS.map((f) => [f, UidListSchema.nullable().optional()])) as {
      [K in keyof typeof SubscriptionsShape]: z.ZodOptional<z.ZodNullable<typeof UidListSchema>>;
    },
  )
  .strict()
  .superRefine((value, ctx) => {
    if (SUBSCRIPTION_FIELDS.every((f) => value[f] === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `must name at least one of ${SUBSCRIPTION_FIELDS.join(', ')}`,
      });
    }
    checkSubscriptions(Object.fromEntries(SUBSCRIPTION_FIELDS.map((f) => [f, value[f] ?? undefined])), ctx);
  });
export type UpdateRecordingRequest = z.input<typeof UpdateRecordingRequestSchema>;
export type Subscriptions = Partial<Record<keyof typeof SubscriptionsShape, number[]>>;

/** Validates an update request; throws InvalidRecordingJobError naming every bad field. */
export function parseUpdateRecordingRequest(data: unknown): z.output<typeof UpdateRecordingRequestSchema> {
  const result = UpdateRecordingRequestSchema.safeParse(data);
  if (result.success) return result.data;
  throw new InvalidRecordingJobError(fieldProblems(result.error.issues));
}

/**
 * The subscriptions after an update: each list named replaces the current one (`null` removes it). The
 * result obeys the same exclusion rule (checked by the caller with UpdateRecordingRequestSchema first).
 */
export function applySubscriptionUpdate(
  current: Subscriptions,
  update: z.output<typeof UpdateRecordingRequestSchema>,
): Subscriptions {
  const next: Subscriptions = { ...current };
  for (const f of SUBSCRIPTION_FIELDS) {
    const v = update[f];
    if (v === null) delete next[f];
    else if (v !== undefined) next[f] = v;
  }
  return next;
}

/** Whether a user's audio (or video) is subscribed under these subscriptions. */
export function isSubscribed(subscriptions: Subscriptions, uid: number, kind: 'audio' | 'video'): boolean {
  const K = kind === 'audio' ? 'Audio' : 'Video';
  const only = subscriptions[`subscribe${K}Uids`];
  if (only !== undefined) return only.includes(uid);
  const except = subscriptions[`unsubscribe${K}Uids`];
  return except === undefined || !except.includes(uid);
}

/** The subscription lists of a recording config (for the record and the update). */
export function subscriptionsOf(config: Subscriptions): Subscriptions {
  const out: Subscriptions = {};
  for (const f of SUBSCRIPTION_FIELDS) if (config[f] !== undefined) out[f] = [...config[f]];
  return out;
}

/** The recording config a job gets when it names none (each field's own default). */
export const RECORDING_CONFIG_DEFAULTS = {
  mode: DEFAULT_RECORDING_MODE,
  segmentSeconds: SEGMENT_SECONDS_RULE.default,
  maxIdleSeconds: MAX_IDLE_SECONDS_RULE.default,
  streamTypes: DEFAULT_STREAM_TYPES,
} as const;

/** How many workers record a recording at once: the job's redundancy, else the worker's default. */
export function redundancyOf(
  job: { recordingConfig: { redundancy?: number | undefined } },
  workerDefault: number,
): number {
  return job.recordingConfig.redundancy ?? workerDefault;
}

/** A channel recording's limit of users recorded at once (its maxUsers, or the rule's default). */
export function maxUsersOf(config: { maxUsers?: number | undefined }): number {
  return config.maxUsers ?? MAX_USERS_RULE.default;
}

export const StorageRefSchema = z
  .object({
    /** A storage profile configured on the worker hosts; credentials never travel in job data. */
    profile: z.string().regex(STORAGE_PROFILE_PATTERN, `must be ${STORAGE_PROFILE_RULE}`),
    /** Optional key prefix inside the profile's bucket/root. */
    prefix: z
      .string()
      .max(STORAGE_PREFIX_MAX_LENGTH)
      .regex(STORAGE_PREFIX_PATTERN, `must be ${STORAGE_PREFIX_RULE}`)
      .optional(),
  })
  .strict();

const sourceUrl = z
  .string()
  .max(SOURCE_URL_MAX_LENGTH)
  .refine(
    (s) => isSourceScheme(urlScheme(s)),
    `must be a URL with one of the schemes ${SOURCE_SCHEMES.join(', ')}`,
  )
  .meta({ pattern: `^(?:${SOURCE_SCHEMES.join('|')}):` });

/** Callback URLs for webhooks: absolute http(s) URLs. */
const callbackUrl = z
  .string()
  .max(CALLBACK_URL_MAX_LENGTH)
  .refine((s) => {
    try {
      const url = new URL(s);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an absolute http:// or https:// URL')
  .meta({ format: 'uri', pattern: '^https?://' });

/** The channel rule as a JSON Schema pattern (the zod check is `channelNameProblem`). */
const CHANNEL_JSON_PATTERN = `^[A-Za-z0-9${CHANNEL_ALLOWED_PUNCTUATION.replace(/[\\\][^-]/g, (c) => `\\${c}`)}]{1,${CHANNEL_MAX_BYTES}}$`;

const RecordingJobObject = z
  .object({
    recordingId: z.string().regex(RECORDING_ID_PATTERN, `must be ${RECORDING_ID_RULE}`),
    appId: z.string().regex(APP_ID_PATTERN, `must be ${APP_ID_RULE}`),
    channel: z
      .string()
      .superRefine((value, ctx) => {
        const problem = channelNameProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .meta({ pattern: CHANNEL_JSON_PATTERN }),
    /** The recorder's own user id in the channel (it joins as a silent client). */
    uid: numberSchema(UID_RULE),
    /** Channel join token, passed to the channel as-is; never logged. */
    token: z.string().max(TOKEN_MAX_LENGTH).optional(),
    /**
     * Records this one stream instead of the channel's users (a `single_stream` recording). When
     * absent, the worker's channel directory finds the users of (appId, channel) and the recording
     * records them in its `recordingConfig.mode`.
     */
    sourceUrl: sourceUrl.optional(),
    recordingConfig: RecordingConfigSchema.default(RECORDING_CONFIG_DEFAULTS),
    storage: StorageRefSchema,
    /**
     * Optional webhook: every event of the recording is POSTed here as JSON, signed (see the producer's
     * webhook dispatcher).
     */
    callbackUrl: callbackUrl.optional(),
    /** When the job was requested (ms since epoch), for latency accounting. */
    requestedAt: z.number().int().nonnegative().optional(),
  })
  .strict();

/** Fields that only a channel recording (no `sourceUrl`) may set. */
const CHANNEL_ONLY_FIELDS = [...SUBSCRIPTION_FIELDS, 'maxUsers'] as const;

/** A job with a `sourceUrl` records one stream: it has no users to subscribe to or to count. */
function checkRecordingKind(
  job: { sourceUrl?: string | undefined; recordingConfig?: Partial<Record<string, unknown>> | undefined },
  ctx: z.RefinementCtx,
): void {
  if (job.sourceUrl === undefined) return;
  for (const field of CHANNEL_ONLY_FIELDS) {
    if (job.recordingConfig?.[field] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['recordingConfig', field],
        message: 'applies to channel recordings only (a job with sourceUrl records one stream)',
      });
    }
  }
}

export const RecordingJobSchema = RecordingJobObject.superRefine(checkRecordingKind);

/**
 * A start request as a producer's API receives it: the job contract without `requestedAt` (set by the
 * producer) and with the recording id optional (generated when absent).
 */
export const StartRecordingRequestSchema = RecordingJobObject.omit({ requestedAt: true })
  .extend({ recordingId: RecordingJobObject.shape.recordingId.optional() })
  .superRefine(checkRecordingKind);

/** What a job records: one stream (`sourceUrl`), or the users of its channel. */
export type RecordingKind = 'single_stream' | 'channel';
export function recordingKind(job: { sourceUrl?: string | undefined }): RecordingKind {
  return job.sourceUrl === undefined ? 'channel' : 'single_stream';
}
export type StartRecordingRequest = z.input<typeof StartRecordingRequestSchema>;

/** What a producer sends (defaults not yet applied). */
export type RecordingJobInput = z.input<typeof RecordingJobSchema>;
/** What a worker runs (defaults applied). */
export type RecordingJob = z.output<typeof RecordingJobSchema>;
export type RecordingConfig = z.output<typeof RecordingConfigSchema>;

export type StorageRef = z.output<typeof StorageRefSchema>;

/** One refused field: its dotted path and the rule it broke. */
export interface FieldProblem {
  field: string;
  rule: string;
}

/** Job data (or a start request) that breaks the contract: every bad field with its rule. */
export class InvalidRecordingJobError extends RecfleetError {
  declare readonly code: 'INVALID_JOB';
  constructor(readonly problems: FieldProblem[]) {
    super('INVALID_JOB', `invalid recording job: ${problems.map((p) => `${p.field} ${p.rule}`).join('; ')}`);
    this.name = 'InvalidRecordingJobError';
  }
}

/** Validates job data and applies defaults; throws InvalidRecordingJobError naming every bad field. */
export function parseRecordingJob(data: unknown): RecordingJob {
  const result = RecordingJobSchema.safeParse(data);
  if (result.success) return result.data;
  throw new InvalidRecordingJobError(fieldProblems(result.error.issues));
}

/** Validates a start request (see StartRecordingRequestSchema); throws InvalidRecordingJobError. */
export function parseStartRecordingRequest(data: unknown): z.output<typeof StartRecordingRequestSchema> {
  const result = StartRecordingRequestSchema.safeParse(data);
  if (result.success) return result.data;
  throw new InvalidRecordingJobError(fieldProblems(result.error.issues));
}

/**
 * One problem per bad field, named by its dotted path. An unknown key is named itself
 * (`recordingConfig.segmentSecs`), with the rule "is not a known field".
 */
export function fieldProblems(issues: readonly z.core.$ZodIssue[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        problems.push({ field: [...path, key].join('.'), rule: 'is not a known field' });
    } else {
      problems.push({ field: path.length > 0 ? path.join('.') : '(job)', rule: issue.message });
    }
  }
  return problems;
}
