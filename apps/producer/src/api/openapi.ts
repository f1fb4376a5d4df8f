import { startRecordingRequestJsonSchema } from '@recfleet/contract';
import { z } from 'zod';

const FieldProblemSchema = z.object({
  field: z
    .string()
    .meta({ description: 'Dotted path of the refused field, e.g. `recordingConfig.segmentSeconds`' }),
  rule: z.string().meta({ description: 'The rule it broke' }),
});

const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(FieldProblemSchema).optional(),
  })
  .meta({ description: 'RFC 7807 problem details (application/problem+json)' });

const EventSchema = z.object({
  id: z.string().meta({ description: 'Stream entry id; ordered, unique per recording' }),
  type: z.string(),
  at: z.number().int().meta({ description: 'When it happened, ms since epoch' }),
  data: z.record(z.string(), z.unknown()),
});

const StateSchema = z.enum(['queued', 'joining', 'recording', 'stopping', 'uploaded', 'backed_up', 'failed']);

const SummarySchema = z.object({
  recordingId: z.string(),
  state: StateSchema,
  appId: z.string(),
  channel: z.string(),
  uid: z.number().int(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  reason: z.string().optional(),
  errorCode: z.string().optional(),
  callbackUrl: z.string().optional(),
});

const RecordingSchema = SummarySchema.omit({ errorCode: true }).extend({
  jobState: z.string(),
  control: z.enum(['stop', 'cancel']).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  progress: z.unknown(),
  result: z
    .object({
      recordingId: z.string(),
      channel: z.string(),
      outcome: z.enum(['uploaded', 'backed_up']),
      stopReason: z.string(),
      storageProfile: z.string(),
      playlistKey: z.string(),
      playlistLocation: z.string(),
      segments: z.number().int(),
      durationSeconds: z.number(),
      bytes: z.number().int(),
    })
    .optional(),
  playlist: z.object({ key: z.string(), location: z.string() }).optional(),
  events: z.array(EventSchema),
  eventsTruncated: z.boolean(),
});

const PageSchema = z.object({
  recordings: z.array(SummarySchema),
  nextCursor: z.string().optional().meta({ description: 'Pass as `cursor` for the next page' }),
});

const StartResponseSchema = z.object({
  recordingId: z.string(),
  created: z.boolean().meta({ description: 'False when an existing recording was returned' }),
  state: StateSchema,
});

const ControlResponseSchema = z.object({
  recordingId: z.string(),
  requested: z.enum(['stop', 'cancel']),
  state: StateSchema,
});

function schema(s: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' });
  return rest;
}

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string): object => ({ 'application/json': { schema: ref(name) } });
const problemResponse = (description: string): object => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});
const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' },
};
const common = {
  '401': problemResponse('No valid API key'),
  '404': problemResponse('Unknown recording'),
};

/** The OpenAPI 3.1 document of the producer API; body schemas are generated from the zod contract. */
export function buildOpenApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'recfleet producer API',
      version: '1.0.0',
      description:
        'Start, follow, stop and cancel cloud recordings. Every route but /healthz needs `Authorization: Bearer <API key>`. Errors are RFC 7807 problems naming each refused field and its rule.',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key' } },
      schemas: {
        StartRecordingRequest: startRecordingRequestJsonSchema(),
        StartRecordingResponse: schema(StartResponseSchema),
        ControlResponse: schema(ControlResponseSchema),
        Recording: schema(RecordingSchema),
        RecordingPage: schema(PageSchema),
        RecordingEvent: schema(EventSchema),
        Problem: schema(ProblemSchema),
      },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/v1/recordings': {
        post: {
          operationId: 'startRecording',
          summary: 'Start a recording (idempotent)',
          description:
            "A recording id that exists, or an app/channel/uid with an active recording, returns that recording (200, `created: false`) instead of starting a second one. The storage profile must be one the fleet's workers know.",
          requestBody: { required: true, content: json('StartRecordingRequest') },
          responses: {
            '201': { description: 'Started', content: json('StartRecordingResponse') },
            '200': { description: 'Already exists or active', content: json('StartRecordingResponse') },
            '400': problemResponse('Invalid request; `errors` names each field and rule'),
            '401': common['401'],
            '415': problemResponse('Body is not application/json'),
          },
        },
        get: {
          operationId: 'listRecordings',
          summary: 'List recordings, newest first',
          parameters: [
            {
              name: 'state',
              in: 'query',
              schema: { type: 'string' },
              description: 'One state or several, comma-separated',
            },
            { name: 'channel', in: 'query', schema: { type: 'string' } },
            { name: 'appId', in: 'query', schema: { type: 'string' } },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            },
            {
              name: 'cursor',
              in: 'query',
              schema: { type: 'string' },
              description: '`nextCursor` of the previous page',
            },
          ],
          responses: {
            '200': { description: 'A page of recordings', content: json('RecordingPage') },
            '400': problemResponse('Invalid query'),
            '401': common['401'],
          },
        },
      },
      '/v1/recordings/{id}': {
        parameters: [idParam],
        get: {
          operationId: 'getRecording',
          summary: 'State, events, progress, result and playlist of a recording',
          responses: { '200': { description: 'The recording', content: json('Recording') }, ...common },
        },
        delete: {
          operationId: 'cancelRecording',
          summary: 'Cancel: abandon the segment being written, keep the finished ones',
          responses: {
            '202': { description: 'Cancel requested', content: json('ControlResponse') },
            ...common,
            '409': problemResponse('The recording has already ended'),
          },
        },
      },
      '/v1/recordings/{id}/stop': {
        parameters: [idParam],
        post: {
          operationId: 'stopRecording',
          summary: 'Stop: finalize the current segment and the playlist',
          responses: {
            '202': { description: 'Stop requested', content: json('ControlResponse') },
            ...common,
            '409': problemResponse('The recording has already ended'),
          },
        },
      },
      '/v1/recordings/{id}/events': {
        parameters: [
          idParam,
          {
            name: 'Last-Event-ID',
            in: 'header',
            schema: { type: 'string' },
            description: 'Resume after this event',
          },
        ],
        get: {
          operationId: 'followRecording',
          summary: 'Server-sent events: every event of the recording, live, until its terminal event',
          responses: {
            '200': {
              description:
                '`text/event-stream`; each message has `id`, `event` (the type) and `data` (a RecordingEvent)',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...common,
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          responses: { '200': { description: 'OpenAPI 3.1 document' }, '401': common['401'] },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'Liveness and Redis reachability (no API key needed)',
          security: [],
          responses: { '200': { description: 'Healthy' }, '503': { description: 'Redis unreachable' } },
        },
      },
    },
  };
}
