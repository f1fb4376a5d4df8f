import {
  CONTROL_REQUESTS,
  ERROR_CODES,
  ManifestUserSchema,
  RECORDING_EVENT_TYPES,
  RECORDING_ID_PATTERN,
  RECORDING_OUTCOMES,
  RECORDING_STATE_DESCRIPTIONS,
  RECORDING_STATES,
  type RecfleetErrorCode,
  type RecordingEventType,
  STOP_REASONS,
  SubscriptionsShape,
  TRACK_TYPES,
} from '@recfleet/contract';
import { z } from 'zod';

/**
 * The API's answers as zod schemas, built from the contract's vocabulary: the OpenAPI document is
 * generated from them and the routes' answer types are inferred from them, so a state, event type or
 * code added to the contract appears in both at once.
 */

const FieldProblemSchema = z.object({
  field: z
    .string()
    .meta({ description: 'Dotted path of the refused field, e.g. `recordingConfig.segmentSeconds`' }),
  rule: z.string().meta({ description: 'The rule it broke' }),
});

export const ProblemSchema = z
  .object({
    type: z.string().meta({ description: "The error's category, as a URI" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z
      .enum(Object.keys(ERROR_CODES) as [RecfleetErrorCode, ...RecfleetErrorCode[]])
      .meta({ description: "The error's stable code (the contract's error registry)" }),
    errors: z.array(FieldProblemSchema).optional(),
  })
  .meta({ description: 'RFC 9457 problem details (application/problem+json)' });

export const EventSchema = z.object({
  id: z.string().meta({ description: 'Stream entry id; ordered, unique per recording' }),
  type: z.enum(RECORDING_EVENT_TYPES as [RecordingEventType, ...RecordingEventType[]]),
  at: z.number().int().meta({ description: 'When it happened, ms since epoch' }),
  data: z.record(z.string(), z.unknown()),
});

export const StateSchema = z.enum(RECORDING_STATES).meta({
  description: RECORDING_STATES.map((s) => `\`${s}\`: ${RECORDING_STATE_DESCRIPTIONS[s]}`).join('; '),
});

const UserProgressSchema = z.object({
  uid: z.number().int(),
  track: z.string().meta({ description: 'The track, `<uid>-<av|audio|video>`' }),
  segments: z.number().int(),
  durationSeconds: z.number(),
});

const ProgressSchema = z.object({
  durationSeconds: z.number(),
  segments: z.number().int(),
  bytes: z.number().int(),
  segmentsUploaded: z.number().int(),
  uploadPercent: z
    .number()
    .min(0)
    .max(100)
    .meta({ description: 'Share of the recorded bytes in the primary store; 0 before anything is recorded' }),
  users: z
    .array(UserProgressSchema)
    .optional()
    .meta({ description: "Channel recordings: each user track's figures" }),
});

const ResultSchema = z.object({
  recordingId: z.string(),
  channel: z.string(),
  outcome: z.enum(RECORDING_OUTCOMES),
  stopReason: z.enum(STOP_REASONS),
  storageProfile: z.string(),
  playlistKey: z.string(),
  playlistLocation: z.string(),
  segments: z.number().int(),
  durationSeconds: z.number(),
  bytes: z.number().int(),
  playlists: z
    .array(
      z.object({ uid: z.number().int(), type: z.enum(TRACK_TYPES), key: z.string(), location: z.string() }),
    )
    .optional()
    .meta({ description: "Channel recordings: every user's playlist (playlistKey then names the manifest)" }),
  manifestKey: z.string().optional(),
  manifestLocation: z.string().optional(),
  users: z.number().int().optional().meta({ description: 'Channel recordings: users recorded' }),
});

/** A channel recording's subscriptions: absent lists mean every user. */
export const SubscriptionsSchema = z.object(SubscriptionsShape);

export const SummarySchema = z.object({
  recordingId: z.string(),
  state: StateSchema,
  appId: z.string(),
  channel: z.string(),
  uid: z.number().int(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  startedAt: z.number().int().optional(),
  storageProfile: z.string().optional(),
  storagePrefix: z.string().optional(),
  reason: z
    .string()
    .optional()
    .meta({ description: `Why it stopped: ${STOP_REASONS.join(', ')}` }),
  errorCode: z.string().optional(),
  errorMessage: z.string().optional(),
  callbackUrl: z.string().optional().meta({ description: 'Without its query string and user-info' }),
  control: z.enum(CONTROL_REQUESTS).optional().meta({ description: 'A pending stop or cancel request' }),
  playlistKey: z.string().optional(),
  playlistLocation: z.string().optional(),
  kind: z
    .enum(['single_stream', 'channel'])
    .optional()
    .meta({ description: '`single_stream`: a job with sourceUrl; `channel`: the users of the channel' }),
  subscriptions: SubscriptionsSchema.optional().meta({
    description: 'Channel recordings: the subscriptions in force (the job’s, as changed by updates)',
  }),
  subscriptionsVersion: z
    .number()
    .int()
    .optional()
    .meta({ description: 'Incremented by each update; 0 is the job’s own subscriptions' }),
  manifestKey: z
    .string()
    .optional()
    .meta({ description: 'Channel recordings: object key of `<recordingId>_<channel>.json` once written' }),
  manifestLocation: z.string().optional(),
  segmentsIndexed: z.number().int(),
  storageError: z
    .object({
      code: z.string(),
      since: z
        .number()
        .int()
        .optional()
        .meta({ description: 'When uploads started failing, ms since epoch' }),
      message: z.string(),
    })
    .optional()
    .meta({
      description:
        "Set while the recording's uploads keep failing, with the storage error's code; absent: storage is healthy",
    }),
  progress: ProgressSchema.optional(),
  result: ResultSchema.optional(),
});

export const RecordingSchema = SummarySchema.extend({
  jobState: z.string(),
  error: z.object({ code: ProblemSchema.shape.code, message: z.string() }).optional(),
  playlist: z.object({ key: z.string(), location: z.string() }).optional(),
  users: z
    .array(
      ManifestUserSchema.extend({
        present: z.boolean().meta({ description: 'In the channel now: the last interval has no leftAt' }),
        progress: z.array(UserProgressSchema).optional(),
      }),
    )
    .optional()
    .meta({ description: 'Channel recordings: every user recorded so far, by uid (the manifest’s entries)' }),
  events: z.array(EventSchema),
  eventsTruncated: z
    .boolean()
    .meta({ description: 'True when the recording has more events than listed (follow /events for all)' }),
});
export type RecordingView = z.output<typeof RecordingSchema>;

export const PageSchema = z.object({
  recordings: z.array(SummarySchema),
  nextCursor: z.string().optional().meta({ description: 'Pass as `cursor` for the next page' }),
});

export const StartResponseSchema = z.object({
  recordingId: z.string(),
  created: z.boolean().meta({ description: 'False when an existing recording was returned' }),
  state: StateSchema,
});

export const ControlResponseSchema = z.object({
  recordingId: z.string(),
  requested: z.enum(CONTROL_REQUESTS),
  state: StateSchema,
});

export const UpdateResponseSchema = z.object({
  recordingId: z.string(),
  subscriptions: SubscriptionsSchema.meta({ description: 'The subscriptions in force after the update' }),
  version: z
    .number()
    .int()
    .meta({ description: 'subscriptionsVersion after the update; the worker reports it in `updated`' }),
});

/** The JSON Schema `pattern` of a recording id (ECMAScript syntax, as JSON Schema's). */
export const RECORDING_ID_JSON_PATTERN = RECORDING_ID_PATTERN.source;
