import type { ListFilter, RecordingClient, RecordingStatus, StartRequest } from '@recfleet/client';
import type { RecordingEvent } from '@recfleet/contract';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { problemResponse, problemResponses } from '../openapi.js';
import { problemFor, sendProblem } from '../problem.js';
import {
  ControlResponseSchema,
  ListQuerySchema,
  PageSchema,
  RecordingIdParamsSchema,
  RecordingSchema,
  type RecordingView,
  StartRecordingRequestSchema,
  StartResponseSchema,
  UpdateRecordingRequestSchema,
  UpdateResponseSchema,
} from '../schemas.js';
import { recordingIdParam } from './recording-id.js';

/** Events listed in `GET /v1/recordings/:id`; the rest are read through `/events`. */
const EVENTS_IN_VIEW = 1000;

const json = <S>(description: string, schema: S) => ({
  description,
  content: { 'application/json': { schema } },
});

/** What every route of one recording may answer besides its own. */
const ONE_RECORDING = problemResponses(
  ['unauthenticated', 'No valid API key'],
  ['not_found', 'Unknown recording (or an id that cannot be one)'],
  ['unavailable', 'Redis is not reachable or did not answer in time; retry later'],
);
const ENDED = problemResponses(['conflict', 'The recording has already ended (code RECORDING_ENDED)']);

/**
 * Start, status, list, update, stop and cancel: each a RecordingClient call, its errors answered as
 * problems. A body is checked by its schema and, whatever that says, handed to the client, which checks
 * it with the same contract schema and with what only the fleet can tell (a storage profile no worker
 * has, the recording's kind), and names every refused field in one answer.
 */
export async function recordingRoutes(app: FastifyInstance, client: RecordingClient): Promise<void> {
  app.post(
    '/v1/recordings',
    {
      attachValidation: true,
      schema: {
        operationId: 'startRecording',
        tags: ['recordings'],
        summary: 'Start a recording (idempotent)',
        description:
          "A recording id that exists, or an app/channel/uid with an active recording, returns that recording (200, `created: false`) instead of starting a second one. The storage profile must be one the fleet's workers know.",
        body: StartRecordingRequestSchema,
        response: {
          201: json('Started', StartResponseSchema),
          200: json('Already exists or active', StartResponseSchema),
          ...problemResponses(
            ['invalid_argument', 'Invalid request; `errors` names each field and rule'],
            ['unauthenticated', 'No valid API key'],
          ),
          ...problemResponse(413, 'The body is too large'),
          ...problemResponse(415, 'The body is not JSON in UTF-8'),
          ...problemResponses([
            'unavailable',
            'Redis is not reachable or did not answer in time; retry later',
          ]),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return sendProblem(
          reply,
          problemFor('INVALID_REQUEST', 'the body must be a JSON object', [
            { field: '(body)', rule: 'must be a JSON object' },
          ]),
        );
      }
      const handle = await client.start(body as StartRequest);
      const status = await client.get(handle.recordingId);
      reply.header('location', `/v1/recordings/${encodeURIComponent(handle.recordingId)}`);
      return reply.code(handle.created ? 201 : 200).send({
        recordingId: handle.recordingId,
        created: handle.created,
        state: status.state,
      });
    },
  );

  app.get<{ Querystring: z.output<typeof ListQuerySchema> }>(
    '/v1/recordings',
    {
      config: { invalidCode: 'INVALID_FILTER' },
      schema: {
        operationId: 'listRecordings',
        tags: ['recordings'],
        summary: 'List recordings, newest first',
        description:
          'At most 2,000 records are examined per call, so a sparse filter may answer a short (even empty) page with a `nextCursor` to continue from.',
        querystring: ListQuerySchema,
        response: {
          200: json('A page of recordings', PageSchema),
          ...problemResponses(
            ['invalid_argument', 'Invalid query; `errors` names each parameter'],
            ['unauthenticated', 'No valid API key'],
            ['unavailable', 'Redis is not reachable or did not answer in time; retry later'],
          ),
        },
      },
    },
    async (request) => client.list(listFilter(request.query)),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/recordings/:id',
    {
      schema: {
        operationId: 'getRecording',
        tags: ['recordings'],
        summary: 'State, events, progress, result and playlist of a recording',
        params: RecordingIdParamsSchema,
        response: { 200: json('The recording', RecordingSchema), ...ONE_RECORDING },
      },
    },
    async (request) => {
      const id = request.params.id;
      const status = await client.get(id);
      return toView(status, await client.events(id, { count: EVENTS_IN_VIEW + 1 }));
    },
  );

  // The body is the update itself (`null` removes a list, as in a JSON merge patch); 202: the worker
  // running the recording applies it within a second and reports `updated`.
  app.patch<{ Params: { id: string } }>(
    '/v1/recordings/:id',
    {
      attachValidation: true,
      schema: {
        operationId: 'updateRecording',
        tags: ['recordings'],
        summary: "Update a running channel recording's subscriptions",
        description:
          'The worker running the recording applies the new subscriptions within a second and reports the event `updated` (`subscriptions`, `version`); a worker that takes the recording over later applies them too. A refused update changes nothing. The body is `application/json` or `application/merge-patch+json`.',
        params: RecordingIdParamsSchema,
        body: UpdateRecordingRequestSchema,
        response: {
          202: json('Stored; the worker applies it', UpdateResponseSchema),
          ...problemResponses([
            'invalid_argument',
            'Invalid update (`errors` names each field and rule), or the recording records one stream (code NOT_A_CHANNEL_RECORDING)',
          ]),
          ...ONE_RECORDING,
          ...ENDED,
        },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await client.update(recordingIdParam(request.params.id), request.body)),
  );

  // Stop and cancel: the request is stored on the record; 409 once the recording has ended.
  for (const [method, url, request, summary] of [
    ['POST', '/v1/recordings/:id/stop', 'stop', 'Stop: finalize the current segment and the playlist'],
    [
      'DELETE',
      '/v1/recordings/:id',
      'cancel',
      'Cancel: abandon the segment being written, keep the finished ones',
    ],
  ] as const) {
    app.route<{ Params: { id: string } }>({
      method,
      url,
      schema: {
        operationId: `${request}Recording`,
        tags: ['recordings'],
        summary,
        params: RecordingIdParamsSchema,
        response: {
          202: json(`${request === 'stop' ? 'Stop' : 'Cancel'} requested`, ControlResponseSchema),
          ...ONE_RECORDING,
          ...ENDED,
        },
      },
      handler: async (req, reply) => reply.code(202).send(await client[request](req.params.id)),
    });
  }
}

function listFilter(q: z.output<typeof ListQuerySchema>): ListFilter {
  const filter: ListFilter = { limit: q.limit };
  if (q.state !== undefined) filter.state = q.state;
  if (q.channel !== undefined) filter.channel = q.channel;
  if (q.appId !== undefined) filter.appId = q.appId;
  if (q.cursor !== undefined) filter.cursor = q.cursor;
  return filter;
}

function toView(status: RecordingStatus, events: RecordingEvent[]): RecordingView {
  const view: RecordingView = {
    ...status,
    events: events.slice(0, EVENTS_IN_VIEW),
    eventsTruncated: events.length > EVENTS_IN_VIEW,
  };
  const key = status.result?.playlistKey ?? status.playlistKey;
  const location = status.result?.playlistLocation ?? status.playlistLocation;
  if (key && location) view.playlist = { key, location };
  return view;
}
