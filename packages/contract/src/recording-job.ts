import { z } from 'zod';
import { CHANNEL_ALLOWED_PUNCTUATION, CHANNEL_MAX_BYTES, channelNameProblem } from './channel.js';

/** The BullMQ queue every producer adds to and every worker takes from. */
export const RECORDINGS_QUEUE = 'recfleet-recordings';
/** The BullMQ job name of a recording job. */
export const RECORD_JOB_NAME = 'record';
/** Default Redis key prefix (BullMQ's `prefix` option and recfleet's own keys). */
export const DEFAULT_KEY_PREFIX = 'recfleet';

export const RECORDING_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const STORAGE_PROFILE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Key prefixes: path segments of safe characters, no `.`/`..` segments, no leading or trailing slash. */
export const STORAGE_PREFIX_PATTERN = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
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

export const StreamTypesSchema = z.enum(['audio', 'video', 'both']);

export const RecordingConfigSchema = z
  .object({
    /** Target segment length; segments are cut at the first video keyframe after it. */
    segmentSeconds: z.number().min(1).max(60).default(10),
    /** The recorder exits when the channel has had no media for this long (the SDK's 30 s rule). */
    maxIdleSeconds: z.number().int().min(5).max(3600).default(30),
    streamTypes: StreamTypesSchema.default('both'),
    /** Optional hard limit on the recorded duration. */
    maxDurationSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional(),
  })
  .strict();

export const StorageRefSchema = z
  .object({
    /** A storage profile configured on the worker hosts; credentials never travel in job data. */
    profile: z
      .string()
      .regex(STORAGE_PROFILE_PATTERN, 'must be 1–64 of a-z, 0-9, _ and -, starting alphanumeric'),
    /** Optional key prefix inside the profile's bucket/root. */
    prefix: z
      .string()
      .max(512)
      .regex(
        STORAGE_PREFIX_PATTERN,
        'must be path segments of A-Z a-z 0-9 . _ - separated by "/", without "." or ".." segments',
      )
      .optional(),
  })
  .strict();

const sourceUrl = z
  .string()
  .max(2048)
  .refine(
    (s) => {
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(s)?.[1]?.toLowerCase();
      return scheme !== undefined && (SOURCE_SCHEMES as readonly string[]).includes(scheme);
    },
    `must be a URL with one of the schemes ${SOURCE_SCHEMES.join(', ')}`,
  )
  .meta({ pattern: `^(?:${SOURCE_SCHEMES.join('|')}):` });

/** Callback URLs for webhooks: absolute http(s) URLs. */
export const CALLBACK_URL_MAX_LENGTH = 2048;
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
    recordingId: z
      .string()
      .regex(RECORDING_ID_PATTERN, 'must be 1–64 of A-Z a-z 0-9 _ -, starting alphanumeric'),
    appId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 of A-Z a-z 0-9 _ -'),
    channel: z
      .string()
      .superRefine((value, ctx) => {
        const problem = channelNameProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .meta({ pattern: CHANNEL_JSON_PATTERN }),
    /** The recorder's own user id in the channel (it joins as a silent client). */
    uid: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32 - 1),
    /** Channel join token, passed to the channel as-is; never logged. */
    token: z.string().max(2048).optional(),
    /**
     * Where to pull the channel from. When absent, the worker derives it from its configured channel
     * URL template (e.g. `rtmp://media.internal/{appId}/{channel}`).
     */
    sourceUrl: sourceUrl.optional(),
    recordingConfig: RecordingConfigSchema.default({
      segmentSeconds: 10,
      maxIdleSeconds: 30,
      streamTypes: 'both',
    }),
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

export class InvalidRecordingJobError extends Error {
  readonly code = 'INVALID_JOB' as const;
  constructor(readonly problems: FieldProblem[]) {
    super(`invalid recording job: ${problems.map((p) => `${p.field} ${p.rule}`).join('; ')}`);
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
