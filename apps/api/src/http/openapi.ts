import {
  ERROR_CATEGORIES,
  type ErrorCategory,
  RECORDING_STATES,
  startRecordingRequestJsonSchema,
  UpdateRecordingRequestSchema,
} from '@recfleet/contract';
import { z } from 'zod';
import { LIST_LIMIT_RULE, REDIS_HEALTH } from '@recfleet/client';
import { EVENT_ID_PATTERN } from './routes/events-sse.js';
import {
  ControlResponseSchema,
  EventSchema,
  PageSchema,
  ProblemSchema,
  RECORDING_ID_JSON_PATTERN,
  RecordingSchema,
  StartResponseSchema,
  UpdateResponseSchema,
} from './schemas.js';

function schema(s: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' });
  return rest;
}

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });

const EVENT_ID_JSON_PATTERN = EVENT_ID_PATTERN.source;

const HEALTH_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    redis: { type: 'string', enum: [...REDIS_HEALTH] },
  },
  required: ['status', 'redis'],
};
const json = (name: string): object => ({ 'application/json': { schema: ref(name) } });

/** A problem answer, under the HTTP status its error category has in the registry. */
function problems(...answers: [ErrorCategory, string][]): Record<string, object> {
  return Object.fromEntries(
    answers.map(([category, description]) => [
      String(ERROR_CATEGORIES[category].httpStatus),
      { description, content: { 'application/problem+json': { schema: ref('Problem') } } },
    ]),
  );
}

const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: RECORDING_ID_JSON_PATTERN },
};
const common = problems(
  ['unauthenticated', 'No valid API key'],
  ['not_found', 'Unknown recording'],
  ['unavailable', 'Redis is not reachable or did not answer in time; retry later'],
);

/** The OpenAPI 3.1 document of the producer API; every schema is generated from the contract. */
export function buildOpenApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'recfleet producer API',
      version: '1.0.0',
      description:
        "Start, follow, update, stop and cancel cloud recordings. Every route but /healthz needs `Authorization: Bearer <API key>`. Errors are RFC 9457 problems with the error's stable `code`, naming each refused field and its rule.",
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key' } },
      schemas: {
        StartRecordingRequest: startRecordingRequestJsonSchema(),
        StartRecordingResponse: schema(StartResponseSchema),
        ControlResponse: schema(ControlResponseSchema),
        UpdateRecordingRequest: {
          ...schema(UpdateRecordingRequestSchema, 'input'),
          description:
            'A change of the subscriptions of a running channel recording: each list named replaces the current one, `null` removes it (every user is then subscribed for that kind). At least one list; a `subscribe` and an `unsubscribe` list of one kind exclude each other, in the update and in the result.',
        },
        UpdateRecordingResponse: schema(UpdateResponseSchema),
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
            ...problems(['invalid_argument', 'Invalid request; `errors` names each field and rule']),
            '401': common['401'],
            '415': {
              description: 'Body is not application/json',
              content: { 'application/problem+json': { schema: ref('Problem') } },
            },
            '503': common['503'],
          },
        },
        get: {
          operationId: 'listRecordings',
          summary: 'List recordings, newest first',
          parameters: [
            {
              name: 'state',
              in: 'query',
              style: 'form',
              explode: false,
              schema: { type: 'array', items: { type: 'string', enum: [...RECORDING_STATES] } },
              description: 'One state or several, comma-separated',
            },
            { name: 'channel', in: 'query', schema: { type: 'string' } },
            { name: 'appId', in: 'query', schema: { type: 'string' } },
            {
              name: 'limit',
              in: 'query',
              description: LIST_LIMIT_RULE.description,
              schema: {
                type: 'integer',
                minimum: LIST_LIMIT_RULE.min,
                maximum: LIST_LIMIT_RULE.max,
                default: LIST_LIMIT_RULE.default,
              },
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
            ...problems(['invalid_argument', 'Invalid query']),
            '401': common['401'],
            '503': common['503'],
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
        patch: {
          operationId: 'updateRecording',
          summary: "Update a running channel recording's subscriptions",
          description:
            'The worker running the recording applies the new subscriptions within a second and reports the event `updated` (`subscriptions`, `version`); a worker that takes the recording over later applies them too. A refused update changes nothing.',
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: ref('UpdateRecordingRequest') },
              'application/merge-patch+json': { schema: ref('UpdateRecordingRequest') },
            },
          },
          responses: {
            '202': { description: 'Stored; the worker applies it', content: json('UpdateRecordingResponse') },
            ...problems([
              'invalid_argument',
              'Invalid update (`errors` names each field and rule), or the recording records one stream (code NOT_A_CHANNEL_RECORDING)',
            ]),
            ...common,
            ...problems(['conflict', 'The recording has already ended (code RECORDING_ENDED)']),
          },
        },
        delete: {
          operationId: 'cancelRecording',
          summary: 'Cancel: abandon the segment being written, keep the finished ones',
          responses: {
            '202': { description: 'Cancel requested', content: json('ControlResponse') },
            ...common,
            ...problems(['conflict', 'The recording has already ended (code RECORDING_ENDED)']),
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
            ...problems(['conflict', 'The recording has already ended (code RECORDING_ENDED)']),
          },
        },
      },
      '/v1/recordings/{id}/events': {
        parameters: [
          idParam,
          {
            name: 'Last-Event-ID',
            in: 'header',
            schema: { type: 'string', pattern: EVENT_ID_JSON_PATTERN },
            description: 'Resume after this event (browsers send it when they reconnect)',
          },
          {
            name: 'after',
            in: 'query',
            schema: { type: 'string', pattern: EVENT_ID_JSON_PATTERN },
            description: 'Resume after this event (when the client cannot send Last-Event-ID)',
          },
        ],
        get: {
          operationId: 'followRecording',
          summary: 'Server-sent events: every event of the recording, live, until its terminal event',
          description:
            'The stream stays open through Redis outages (restarts, failovers, a Redis that does not answer): a comment line says when Redis is lost and when it is back, and the events continue after the last one sent, none repeated or skipped.',
          responses: {
            '200': {
              description:
                '`text/event-stream`; each message has `id`, `event` (the type) and `data` (a RecordingEvent)',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...problems(['invalid_argument', 'Last-Event-ID or after is not an event id']),
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
          description:
            'Answers within a second whatever Redis does: `redis` is `up`, `down` (cannot be reached) or `not_answering` (accepts connections, answers nothing).',
          responses: {
            '200': { description: 'Healthy', content: { 'application/json': { schema: HEALTH_SCHEMA } } },
            '503': {
              description: 'Redis is down or not answering',
              content: { 'application/json': { schema: HEALTH_SCHEMA } },
            },
          },
        },
      },
    },
  };
}
