import { z } from 'zod';
import { RecfleetError } from './error-registry.js';
import { CHANNEL_ALLOWED_PUNCTUATION, CHANNEL_MAX_BYTES, channelNameProblem } from './channel.js';
import {
  APP_ID_PATTERN,
  APP_ID_RULE,
  CALLBACK_URL_MAX_LENGTH,
  MAX_DURATION_SECONDS_RULE,
  MAX_IDLE_SECONDS_RULE,
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
  UID_RULE,
} from './job-rules.js';
import { isSourceScheme, SOURCE_SCHEMES, STREAM_TYPES, urlScheme } from './vocabulary.js';

/** The BullMQ queue every producer adds to and every worker takes from. */
export const RECORDINGS_QUEUE = 'recfleet-recordings';
/** The workers' maintenance queue: the backup drain's job scheduler (shown in Bull Board beside the recordings). */
export const MAINTENANCE_QUEUE = 'recfleet-maintenance';
/** The BullMQ job name of a recording job. */
export const RECORD_JOB_NAME = 'record';
/** Default Redis key prefix (BullMQ's `prefix` option and recfleet's own keys). */
export const DEFAULT_KEY_PREFIX = 'recfleet';

export const StreamTypesSchema = z.enum(STREAM_TYPES);
export const DEFAULT_STREAM_TYPES = 'both' satisfies (typeof STREAM_TYPES)[number];

export const RecordingConfigSchema = z
  .object({
    segmentSeconds: numberSchema(SEGMENT_SECONDS_RULE).default(SEGMENT_SECONDS_RULE.default),
    maxIdleSeconds: numberSchema(MAX_IDLE_SECONDS_RULE).default(MAX_IDLE_SECONDS_RULE.default),
    streamTypes: StreamTypesSchema.default(DEFAULT_STREAM_TYPES),
    maxDurationSeconds: numberSchema(MAX_DURATION_SECONDS_RULE).optional(),
  })
  .strict();

/** The recording config a job gets when it names none (each field's own default). */
export const RECORDING_CONFIG_DEFAULTS = {
  segmentSeconds: SEGMENT_SECONDS_RULE.default,
  maxIdleSeconds: MAX_IDLE_SECONDS_RULE.default,
  streamTypes: DEFAULT_STREAM_TYPES,
} as const;

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

export const RecordingJobSchema = z
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
     * Where to pull the channel from. When absent, the worker derives it from its configured channel
     * URL template (e.g. `rtmp://media.internal/{appId}/{channel}`).
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

/**
 * A start request as a producer's API receives it: the job contract without `requestedAt` (set by the
 * producer) and with the recording id optional (generated when absent).
 */
export const StartRecordingRequestSchema = RecordingJobSchema.omit({ requestedAt: true }).extend({
  recordingId: RecordingJobSchema.shape.recordingId.optional(),
});
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
