import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { RecordingClient } from '@recfleet/client';
import { ApiKeys } from './auth.js';
import { errorProblem } from './error-problem.js';
import { clientErrorHandler, frameworkErrorHandler, useUtf8JsonBodies } from './http-refusals.js';
import { buildOpenApiDocument } from './openapi.js';
import { problemFor, sendProblem } from './problem.js';
import { eventsRoute } from './routes/events-sse.js';
import { recordingRoutes } from './routes/recordings.js';

export type { RecordingView } from './schemas.js';

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

/**
 * How long /healthz waits for Redis's answer: a probe gets its answer within a second whatever Redis
 * does (a hung Redis is `not_answering`, 503).
 */
export const HEALTH_TIMEOUT_MS = 800;

/** Mounted by registerDashboards (see main.ts); they carry their own authentication. */
export const DASHBOARD_PATHS = ['/admin/queues', '/recordings'] as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without an API key. */
    public?: boolean;
  }
}

/**
 * The producer's HTTP API over a RecordingClient: start, status, list, update, stop, cancel, live events (SSE),
 * its OpenAPI document and a health check. Every route but /healthz needs a bearer API key; every error
 * is an RFC 9457 problem (`application/problem+json`) whose status is its error category's, naming the
 * bad fields and their rules.
 */
export function buildApiServer(options: ApiServerOptions): FastifyInstance {
  const { client } = options;
  const bodyLimit = options.bodyLimit ?? 64 * 1024;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });
  // JSON only (in UTF-8), and for an update a JSON merge patch of the subscriptions (RFC 7396: `null`
  // removes a list); any other body is refused with 415.
  app.removeContentTypeParser('text/plain');
  useUtf8JsonBodies(app);
  const openapi = buildOpenApiDocument();

  app.addHook('onRequest', apiKeyHook(new ApiKeys(options.apiKeys)));
  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, problemFor('ROUTE_NOT_FOUND', `no route ${request.method} ${shortPath(request.url)}`));
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    sendProblem(reply, errorProblem(error, request.headers['content-type'], request.log, bodyLimit));
  });

  // `redis`: up, down (cannot be reached) or not_answering (accepts connections, answers nothing).
  app.get('/healthz', { config: { public: true } }, async (_request, reply) => {
    const redis = await client.health(HEALTH_TIMEOUT_MS);
    return reply
      .code(redis === 'up' ? 200 : 503)
      .send({ status: redis === 'up' ? 'ok' : 'unavailable', redis });
  });
  app.get('/openapi.json', async () => openapi);
  void app.register(async (scope) => recordingRoutes(scope, client));
  void app.register(async (scope) =>
    eventsRoute(scope, { client, keepAliveSeconds: options.sseKeepAliveSeconds ?? 15 }),
  );
  return app;
}

/** A request's path for a message: without its query, and cut short (a URL may be kilobytes long). */
function shortPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length > 100 ? `${path.slice(0, 100)}…` : path;
}

/** Refuses (401) a request without a valid bearer key, except public routes and the dashboards. */
function apiKeyHook(keys: ApiKeys) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
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
    if (keys.accepts(token)) return;
    const detail =
      header === undefined
        ? 'the request has no Authorization header; send "Authorization: Bearer <API key>"'
        : token === undefined
          ? 'the Authorization header is not of the form "Bearer <API key>"'
          : 'the API key is not valid';
    reply.header('www-authenticate', 'Bearer realm="recfleet"');
    return sendProblem(reply, problemFor('UNAUTHORIZED', detail));
  };
}
