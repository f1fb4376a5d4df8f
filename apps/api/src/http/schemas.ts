import { LIST_LIMIT_RULE, REDIS_HEALTH } from '@recfleet/client';
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
  StartRecordingRequestSchema,
  STOP_REASONS,
  SubscriptionsShape,
  TRACK_TYPES,
  UpdateRecordingRequestSchema,
} from '@recfleet/contract';
import { z } from 'zod';

/**
 * The API's requests and answers as zod schemas, built from the contract's own schemas and vocabulary:
 * the routes validate requests and serialize answers with them, and the OpenAPI document is generated
 * from them (fastify-type-provider-zod, @fastify/swagger), so a field, state, event type or code added
 * to the contract appears in the API, its checks and its document at once.
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
    errors: z
      .array(FieldProblemSchema)
      .optional()
      .meta({ description: 'Every refused field and the rule it broke (400s)' }),
    instance: z.string().optional(),
    recordingId: z.string().optional().meta({ description: 'The recording the problem is about' }),
    state: z
      .enum(RECORDING_STATES)
      .optional()
      .meta({ description: 'RECORDING_ENDED: the state the recording ended in' }),
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

/** `<ms>-<seq>`: a stream entry id, as events carry it (Last-Event-ID, `after`). */
export const EVENT_ID_PATTERN = /^\d+-\d+$/;

export const HealthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  redis: z.enum(REDIS_HEALTH).meta({
    description: '`up`, `down` (cannot be reached) or `not_answering` (accepts connections, answers nothing)',
  }),
});

/** The path of one recording; an id that cannot be a recording id names no recording (404). */
export const RecordingIdParamsSchema = z.object({
  id: z.string().regex(RECORDING_ID_PATTERN).meta({ description: 'The recording id' }),
});

/**
 * The list query. `state` is one state or several, comma-separated, and `limit` a number (the query
 * parser reads them so, see server.ts); `cursor` is checked by RecordingClient.list, which alone can
 * read it.
 */
export const ListQuerySchema = z
  .object({
    state: z
      .array(z.enum(RECORDING_STATES))
      .optional()
      .meta({ description: 'One state or several, comma-separated' }),
    channel: z.string().optional(),
    appId: z.string().optional(),
    limit: z
      .number()
      .int()
      .min(LIST_LIMIT_RULE.min)
      .max(LIST_LIMIT_RULE.max)
      .default(LIST_LIMIT_RULE.default)
      .meta({ description: LIST_LIMIT_RULE.description }),
    cursor: z.string().optional().meta({ description: '`nextCursor` of the previous page' }),
  })
  .strict()
  // Arrays in the query are comma-separated (`state=queued,recording`).
  .meta({ style: 'form', explode: false });

export const EventsQuerySchema = z
  .object({
    after: z
      .string()
      .regex(EVENT_ID_PATTERN, 'must be an event id (<ms>-<seq>)')
      .optional()
      .meta({ description: 'Resume after this event (when the client cannot send Last-Event-ID)' }),
  })
  .strict();

/** How a refused header is named in a problem (headers arrive in lower case). */
export const HEADER_FIELDS: Readonly<Record<string, string>> = { 'last-event-id': 'Last-Event-ID' };

export const EventsHeadersSchema = z.looseObject({
  'last-event-id': z
    .string()
    .regex(EVENT_ID_PATTERN, 'must be an event id (<ms>-<seq>)')
    .optional()
    .meta({ description: 'Resume after this event (browsers send it when they reconnect)' }),
});

export { StartRecordingRequestSchema, UpdateRecordingRequestSchema };

/**
 * The schemas the OpenAPI document names as components (`#/components/schemas/<id>`). A registry of
 * the API's own, so that the contract's schemas are named here without an id in zod's global
 * registry (which the contract's JSON Schema files are generated with); every other schema's metadata
 * (its `.meta()` descriptions) is read from the global registry.
 */
export const API_SCHEMAS = z.registry<{ id: string; description?: string }>();

class WithGlobalMetadata<K extends object, V> extends WeakMap<K, V> {
  override get(key: K): V | undefined {
    return super.get(key) ?? (z.globalRegistry._map.get(key as never) as V | undefined);
  }
  override has(key: K): boolean {
    return super.has(key) || z.globalRegistry._map.has(key as never);
  }
}
API_SCHEMAS._map = new WithGlobalMetadata();

for (const [schema, id, description] of [
  [StartRecordingRequestSchema, 'StartRecordingRequest'],
  [
    UpdateRecordingRequestSchema,
    'UpdateRecordingRequest',
    'A change of the subscriptions of a running channel recording: each list named replaces the current one, `null` removes it (every user is then subscribed for that kind). At least one list; a `subscribe` and an `unsubscribe` list of one kind exclude each other, in the update and in the result.',
  ],
  [StartResponseSchema, 'StartRecordingResponse'],
  [ControlResponseSchema, 'ControlResponse'],
  [UpdateResponseSchema, 'UpdateRecordingResponse'],
  [RecordingSchema, 'Recording'],
  [PageSchema, 'RecordingPage'],
  [EventSchema, 'RecordingEvent'],
  [ProblemSchema, 'Problem'],
  [HealthSchema, 'Health'],
] as const satisfies readonly (readonly [z.ZodType, string, string?])[]) {
  const meta = z.globalRegistry.get(schema);
  API_SCHEMAS.add(schema, { ...meta, id, ...(description ? { description } : {}) });
}
