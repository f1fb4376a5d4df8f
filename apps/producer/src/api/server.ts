import type { ServerResponse } from 'node:http';
import {
  InvalidRecordingJobError,
  isFinalState,
  RECORDING_ID_PATTERN,
  type FieldProblem,
  type RecordingEvent,
} from '@recfleet/contract';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  InvalidListFilterError,
  RECORDING_STATES,
  RecordingNotFoundError,
  type RecordingClient,
  type RecordingStatus,
  type StartRequest,
} from '../recording-client.js';
import { ApiKeys } from './auth.js';
import { buildOpenApiDocument } from './openapi.js';
import { problem, sendProblem, type Problem } from './problem.js';

export interface ApiServerOptions {
  client: RecordingClient;
  apiKeys: readonly string[];
  /** fastify's logger option (false: silent). */
  logger?: boolean | { level: string };
  /** Largest request body accepted (bytes, default 64 KiB). */
  bodyLimit?: number;
  /** Seconds between SSE keep-alive comments (default 15). */
  sseKeepAliveSeconds?: number;
}

/** A recording as `GET /v1/recordings/:id` answers it. */
export interface RecordingView {
  recordingId: string;
  state: string;
  jobState: string;
  appId: string;
  channel: string;
  uid: number;
  createdAt: number;
  updatedAt: number;
  reason?: string;
  control?: string;
  callbackUrl?: string;
  error?: { code: string; message: string };
  progress: unknown;
  result?: unknown;
  playlist?: { key: string; location: string };
  events: RecordingEvent[];
  /** True when the recording has more events than listed (follow /events for all of them). */
  eventsTruncated: boolean;
}

const EVENTS_IN_VIEW = 1000;
/** Mounted by registerDashboards (see main.ts); they carry their own authentication. */
export const DASHBOARD_PATHS = ['/admin/queues', '/recordings'] as const;

const ListQuerySchema = z
  .object({
    state: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => ([] as string[]).concat(v).flatMap((s) => s.split(',')))
      .pipe(z.array(z.enum(RECORDING_STATES)))
      .optional(),
    channel: z.string().min(1).max(64).optional(),
    appId: z.string().min(1).max(64).optional(),
    limit: z
      .string()
      .regex(/^\d{1,3}$/, 'must be an integer from 1 to 500')
      .transform(Number)
      .pipe(
        z
          .number()
          .int()
          .min(1, 'must be an integer from 1 to 500')
          .max(500, 'must be an integer from 1 to 500'),
      )
      .optional(),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without an API key. */
    public?: boolean;
  }
}

/**
 * The producer's HTTP API over a RecordingClient: start, status, list, stop, cancel, live events (SSE),
 * its OpenAPI document and a health check. Every route but /healthz needs a bearer API key; every error
 * is an RFC 7807 problem (`application/problem+json`) naming the bad fields and their rules.
 */
export function buildApiServer(options: ApiServerOptions): FastifyInstance {
  const { client } = options;
  const keys = new ApiKeys(options.apiKeys);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    return503OnClosing: true,
  });
  // JSON only: any other body is refused with 415.
  app.removeContentTypeParser('text/plain');
  const streams = new Set<ServerResponse>();
  const openapi = buildOpenApiDocument();

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.public) return;
    // The dashboards authenticate on their own (browsers log in with HTTP Basic), with the same keys.
    if (
      DASHBOARD_PATHS.some(
        (p) => request.url === p || request.url.startsWith(`${p}/`) || request.url.startsWith(`${p}?`),
      )
    )
      return;
    const header = request.headers.authorization;
    const token = ApiKeys.bearerToken(header);
    if (!keys.accepts(token)) {
      const detail =
        header === undefined
          ? 'the request has no Authorization header; send "Authorization: Bearer <API key>"'
          : token === undefined
            ? 'the Authorization header is not of the form "Bearer <API key>"'
            : 'the API key is not valid';
      reply.header('www-authenticate', 'Bearer realm="recfleet"');
      return sendProblem(reply, problem('unauthorized', detail));
    }
  });

  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, problem('notFound', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    sendProblem(reply, errorProblem(error, request));
  });

  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
  });

  app.get('/healthz', { config: { public: true } }, async (_request, reply) => {
    const redis = await client.ping();
    return reply
      .code(redis ? 200 : 503)
      .send({ status: redis ? 'ok' : 'unavailable', redis: redis ? 'up' : 'down' });
  });

  app.get('/openapi.json', async () => openapi);

  app.post('/v1/recordings', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return sendProblem(
        reply,
        problem('invalidRequest', 'the body must be a JSON object', [
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
    if (!parsed.success) return sendProblem(reply, invalid('invalid list query', zodProblems(parsed.error)));
    const q = parsed.data;
    return client.list({
      ...(q.state ? { state: q.state } : {}),
      ...(q.channel !== undefined ? { channel: q.channel } : {}),
      ...(q.appId !== undefined ? { appId: q.appId } : {}),
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
      ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
    });
  });

  app.get<{ Params: { id: string } }>('/v1/recordings/:id', async (request) => {
    const id = recordingIdParam(request.params.id);
    const status = await client.get(id);
    const events = await client.events(id, { count: EVENTS_IN_VIEW + 1 });
    return toView(status, events);
  });

  const control =
    (kind: 'stop' | 'cancel') =>
    async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      const id = recordingIdParam(request.params.id);
      const before = await client.get(id);
      if (isFinalState(before.state)) {
        return sendProblem(
          reply,
          problem(
            'conflict',
            `recording ${id} has already ended (state ${before.state}); there is nothing to ${kind}`,
          ),
        );
      }
      if (kind === 'stop') await client.stop(id);
      else await client.cancel(id);
      const after = await client.get(id);
      return reply.code(202).send({ recordingId: id, requested: kind, state: after.state });
    };
  app.post('/v1/recordings/:id/stop', control('stop'));
  app.delete('/v1/recordings/:id', control('cancel'));

  app.get<{ Params: { id: string }; Querystring: { after?: string } }>(
    '/v1/recordings/:id/events',
    async (request, reply) => {
      const id = recordingIdParam(request.params.id);
      const status = await client.get(id);
      const header = request.headers['last-event-id'];
      const after = (typeof header === 'string' ? header : undefined) ?? request.query.after;
      if (after !== undefined && !/^\d+-\d+$/.test(after)) {
        return sendProblem(
          reply,
          invalid('invalid event id', [{ field: 'Last-Event-ID', rule: 'must be an event id (<ms>-<seq>)' }]),
        );
      }
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write('retry: 2000\n\n');
      streams.add(raw);
      const write = (e: RecordingEvent): void => {
        raw.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      };
      const keepAlive = setInterval(
        () => raw.write(': keep-alive\n\n'),
        (options.sseKeepAliveSeconds ?? 15) * 1000,
      );
      let closed = false;
      try {
        if (isFinalState(status.state) && status.state !== 'backed_up') {
          // Over: replay what it has (it may have ended without a terminal event, e.g. cancelled in the queue).
          for (const e of await client.events(
            id,
            after ? { afterId: after, count: 10_000 } : { count: 10_000 },
          ))
            write(e);
          return;
        }
        const events = client.follow(id, after ? { afterId: after } : {});
        const onClose = (): void => {
          closed = true;
          void events.return(undefined);
        };
        raw.on('close', onClose);
        for (;;) {
          const next = await events.next();
          if (next.done || closed) break;
          write(next.value);
        }
        raw.off('close', onClose);
      } catch (err) {
        request.log.warn({ err: (err as Error).message, recordingId: id }, 'event stream ended by an error');
      } finally {
        clearInterval(keepAlive);
        streams.delete(raw);
        if (!raw.writableEnded) raw.end();
      }
    },
  );

  return app;
}

function recordingIdParam(id: string): string {
  if (!RECORDING_ID_PATTERN.test(id)) throw new RecordingNotFoundError(id);
  return id;
}

function toView(status: RecordingStatus, events: RecordingEvent[]): RecordingView {
  const f = status.fields;
  const view: RecordingView = {
    recordingId: status.recordingId,
    state: status.state,
    jobState: status.jobState,
    appId: f.appId ?? '',
    channel: f.channel ?? '',
    uid: Number(f.uid ?? 0),
    createdAt: Number(f.createdAt ?? 0),
    updatedAt: Number(f.updatedAt ?? 0),
    progress: status.progress ?? null,
    events: events.slice(0, EVENTS_IN_VIEW),
    eventsTruncated: events.length > EVENTS_IN_VIEW,
  };
  if (f.reason) view.reason = f.reason;
  if (f.control) view.control = f.control;
  if (f.callbackUrl) view.callbackUrl = f.callbackUrl;
  if (status.error) view.error = status.error;
  if (status.result) view.result = status.result;
  const key = status.result?.playlistKey ?? f.playlistKey;
  const location = status.result?.playlistLocation ?? f.playlistLocation;
  if (key && location) view.playlist = { key, location };
  return view;
}

function invalid(detail: string, errors: FieldProblem[]): Problem {
  return problem('invalidRequest', detail, errors);
}

function zodProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: [...i.path.map(String), k].join('.'), rule: 'is not a known parameter' }))
      : [{ field: i.path.filter((p) => typeof p === 'string').join('.') || '(query)', rule: i.message }],
  );
}

function errorProblem(
  error: Error & { statusCode?: number; code?: string },
  request: FastifyRequest,
): Problem {
  if (error instanceof InvalidRecordingJobError) {
    return invalid(`the recording request is invalid: ${error.problems.length} problem(s)`, error.problems);
  }
  if (error instanceof InvalidListFilterError) return invalid('invalid list query', error.problems);
  if (error instanceof RecordingNotFoundError)
    return problem('notFound', `no recording with id ${error.recordingId}`);
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return problem(
      'unsupportedMediaType',
      `content type ${request.headers['content-type'] ?? '(none)'} is not supported`,
    );
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem('payloadTooLarge', error.message);
  if (error.statusCode === 400) {
    return invalid(`the body is not valid JSON: ${error.message}`, [
      { field: '(body)', rule: 'must be valid JSON' },
    ]);
  }
  if (
    /not reachable|Connection is closed|max retries per request|Stream isn't writeable/i.test(error.message)
  ) {
    request.log.warn({ err: error.message }, 'redis unavailable');
    return problem('unavailable', 'the recording store (Redis) is not reachable; retry later');
  }
  request.log.error({ err: error }, 'unexpected error');
  return problem('internal', 'an unexpected error occurred');
}
