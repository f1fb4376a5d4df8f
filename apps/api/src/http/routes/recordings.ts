import { fieldProblems, type RecordingEvent } from '@recfleet/contract';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ListFilter, RecordingClient, RecordingStatus, StartRequest } from '@recfleet/client';
import { problemFor, sendProblem } from '../problem.js';
import type { RecordingView } from '../schemas.js';
import { recordingIdParam } from './recording-id.js';

/** Events listed in `GET /v1/recordings/:id`; the rest are read through `/events`. */
const EVENTS_IN_VIEW = 1000;

/** The query's shape only: the values are checked by RecordingClient.list, which names each bad one. */
const ListQuerySchema = z
  .object({
    state: z.union([z.string(), z.array(z.string())]).optional(),
    channel: z.string().optional(),
    appId: z.string().optional(),
    limit: z.string().optional(),
    cursor: z.string().optional(),
  })
  .strict();

/** Start, status, list, stop and cancel: each a RecordingClient call, its errors answered as problems. */
export async function recordingRoutes(app: FastifyInstance, client: RecordingClient): Promise<void> {
  app.post('/v1/recordings', async (request, reply) => {
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
  });

  app.get('/v1/recordings', async (request, reply) => {
    const parsed = ListQuerySchema.safeParse(request.query);
    if (!parsed.success) {
      return sendProblem(
        reply,
        problemFor('INVALID_REQUEST', 'invalid list query', fieldProblems(parsed.error.issues)),
      );
    }
    return client.list(listFilter(parsed.data));
  });

  app.get<{ Params: { id: string } }>('/v1/recordings/:id', async (request) => {
    const id = recordingIdParam(request.params.id);
    const status = await client.get(id);
    return toView(status, await client.events(id, { count: EVENTS_IN_VIEW + 1 }));
  });

  // The body is the update itself (`null` removes a list, as in a JSON merge patch); 202: the worker
  // running the recording applies it within a second and reports `updated`.
  app.patch<{ Params: { id: string } }>('/v1/recordings/:id', async (request, reply) =>
    reply.code(202).send(await client.update(recordingIdParam(request.params.id), request.body)),
  );

  app.post<{ Params: { id: string } }>('/v1/recordings/:id/stop', async (request, reply) =>
    reply.code(202).send(await client.stop(recordingIdParam(request.params.id))),
  );
  app.delete<{ Params: { id: string } }>('/v1/recordings/:id', async (request, reply) =>
    reply.code(202).send(await client.cancel(recordingIdParam(request.params.id))),
  );
}

function listFilter(q: z.output<typeof ListQuerySchema>): ListFilter {
  const filter: ListFilter = {};
  if (q.state !== undefined) filter.state = ([] as string[]).concat(q.state).flatMap((s) => s.split(','));
  if (q.channel !== undefined) filter.channel = q.channel;
  if (q.appId !== undefined) filter.appId = q.appId;
  // Not a number → NaN, which the client refuses with the limit's rule.
  if (q.limit !== undefined) filter.limit = /^\d{1,6}$/.test(q.limit) ? Number(q.limit) : Number.NaN;
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
