import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { RecordingClient } from '../recording-client.js';
import { ApiKeys } from './auth.js';
import { errorProblem } from './error-problem.js';
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
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    return503OnClosing: true,
  });
  // JSON only: any other body is refused with 415.
  app.removeContentTypeParser('text/plain');
  // An update is a JSON merge patch of the subscriptions (RFC 7396: `null` removes a list).
  app.addContentTypeParser(
    'application/merge-patch+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );
  const openapi = buildOpenApiDocument();

  app.addHook('onRequest', apiKeyHook(new ApiKeys(options.apiKeys)));
  app.setNotFoundHandler((request, reply) => {
    sendProblem(
      reply,
      problemFor('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
    );
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    sendProblem(reply, errorProblem(error, request.headers['content-type'], request.log));
  });

  app.get('/healthz', { config: { public: true } }, async (_request, reply) => {
    const redis = await client.ping();
    return reply
      .code(redis ? 200 : 503)
      .send({ status: redis ? 'ok' : 'unavailable', redis: redis ? 'up' : 'down' });
  });
  app.get('/openapi.json', async () => openapi);
  void app.register(async (scope) => recordingRoutes(scope, client));
  void app.register(async (scope) =>
    eventsRoute(scope, { client, keepAliveSeconds: options.sseKeepAliveSeconds ?? 15 }),
  );
  return app;
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
