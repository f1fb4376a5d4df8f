import { readFileSync } from 'node:fs';
import { parse as parseQuery } from 'node:querystring';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { RecordingClient } from '@recfleet/client';
import type { RecfleetErrorCode } from '@recfleet/contract';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaValidationError,
} from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { ApiMetrics } from '../metrics/api-metrics.js';
import { processRegistry } from '../metrics/process-registry.js';
import { ApiKeys, bearerToken } from './auth.js';
import { errorProblem, validationProblem } from './error-problem.js';
import { clientErrorHandler, frameworkErrorHandler, useUtf8JsonBodies } from './http-refusals.js';
import { API_DOCS_PATH, OPENAPI_PATH, swaggerOptions } from './openapi.js';
import { problemFor, sendProblem } from './problem.js';
import { eventsRoute } from './routes/events-sse.js';
import { recordingRoutes } from './routes/recordings.js';
import { HealthSchema } from './schemas.js';

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
  /** The process's Prometheus registry, served at /metrics (default: one of its own, see processRegistry). */
  metrics?: Registry;
}

export const METRICS_PATH = '/metrics';

/**
 * How long /healthz waits for Redis's answer: a probe gets its answer within a second whatever Redis
 * does (a hung Redis is `not_answering`, 503).
 */
export const HEALTH_TIMEOUT_MS = 800;

/** Mounted by registerDashboards (see main.ts); they carry their own authentication. */
export const DASHBOARD_PATHS = ['/admin/queues', '/recordings'] as const;

/** Paths served without an API key besides the public routes: the API's documentation for people. */
const PUBLIC_PATHS = [API_DOCS_PATH] as const;

/** The API package's version, the OpenAPI document's `info.version`. */
export const API_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without an API key. */
    public?: boolean;
    /** The code of a refused query (default INVALID_REQUEST). */
    invalidCode?: RecfleetErrorCode;
  }
}

/**
 * The API's HTTP API over a RecordingClient: start, status, list, update, stop, cancel, live events
 * (SSE), its OpenAPI document (`/openapi.json`, and for people `/docs`) and a health check. Every route
 * under /v1 needs a bearer API key; every error is an RFC 9457 problem (`application/problem+json`)
 * whose status is its error category's, naming the bad fields and their rules. Requests are validated
 * and answers serialized with the zod schemas the document is generated from.
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
    // Arrays in the query are comma-separated (`state=queued,recording`), as the document says.
    routerOptions: { querystringParser: parseListQuery },
  });
  app.setValidatorCompiler(validateRequests);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only (in UTF-8), and for an update a JSON merge patch of the subscriptions (RFC 7396: `null`
  // removes a list); any other body is refused with 415.
  app.removeContentTypeParser('text/plain');
  useUtf8JsonBodies(app);

  const metrics = new ApiMetrics(options.metrics ?? processRegistry());
  app.addHook('onRequest', apiKeyHook(new ApiKeys(options.apiKeys)));
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, problemFor('ROUTE_NOT_FOUND', `no route ${request.method} ${shortPath(request.url)}`));
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const problem =
      validationProblem(error, request) ??
      errorProblem(error, request.headers['content-type'], request.log, bodyLimit);
    sendProblem(reply, problem);
  });

  // Routes are added inside plugins registered after the document's, so that every one is in it.
  void app.register(fastifySwagger, swaggerOptions(API_VERSION));
  void app.register(fastifySwaggerUi, { routePrefix: API_DOCS_PATH, uiConfig: { deepLinking: true } });
  void app.register(async (scope) => {
    // `redis`: up, down (cannot be reached) or not_answering (accepts connections, answers nothing).
    scope.get(
      '/healthz',
      {
        config: { public: true },
        schema: {
          operationId: 'health',
          tags: ['service'],
          summary: 'Liveness and Redis reachability (no API key)',
          description:
            'Answers within a second whatever Redis does: `redis` is `up`, `down` (cannot be reached) or `not_answering` (accepts connections, answers nothing).',
          security: [],
          response: {
            200: { description: 'Healthy', content: { 'application/json': { schema: HealthSchema } } },
            503: {
              description: 'Redis is down or not answering',
              content: { 'application/json': { schema: HealthSchema } },
            },
          },
        },
      },
      async (_request, reply) => {
        const redis = await client.health(HEALTH_TIMEOUT_MS);
        return reply
          .code(redis === 'up' ? 200 : 503)
          .send({ status: redis === 'up' ? 'ok' : 'unavailable', redis });
      },
    );
    // Liveness without Redis: restarting API processes does not bring a Redis back, so an orchestrator's
    // liveness probe asks this; its readiness probe asks /healthz, which takes the process out of service.
    scope.get(
      '/livez',
      {
        config: { public: true },
        schema: {
          operationId: 'liveness',
          tags: ['service'],
          summary: 'Liveness: the process answers; Redis is not asked (no API key)',
          description:
            'Always 200 while the process serves requests, whatever Redis does: the liveness probe. Readiness (Redis reachable) is `/healthz`.',
          security: [],
          response: {
            200: {
              description: 'The process answers',
              content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
            },
          },
        },
      },
      async () => ({ status: 'ok' as const }),
    );
    scope.get(
      OPENAPI_PATH,
      {
        config: { public: true },
        schema: {
          operationId: 'openapi',
          tags: ['service'],
          summary: `This document (no API key; for people: ${API_DOCS_PATH})`,
          security: [],
          response: {
            200: {
              description: 'The OpenAPI 3.1 document',
              content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } },
            },
          },
        },
      },
      async () => app.swagger(),
    );
    scope.get(
      METRICS_PATH,
      {
        config: { public: true },
        schema: {
          operationId: 'metrics',
          tags: ['service'],
          summary: 'Prometheus metrics of this process (no API key)',
          description:
            "Requests by route and status, their durations, open event streams, the webhook dispatcher when it runs in this process (deliveries, failures, retries, the age of the oldest undelivered event) and Node's process and runtime metrics.",
          security: [],
          response: {
            200: {
              description: 'The Prometheus text exposition format',
              content: { 'text/plain': { schema: z.string() } },
            },
          },
        },
      },
      async (_request, reply) =>
        reply
          .type(metrics.registry.contentType)
          .serializer(String)
          .send(await metrics.registry.metrics()),
    );
    await recordingRoutes(scope, client);
    await eventsRoute(scope, { client, metrics, keepAliveSeconds: options.sseKeepAliveSeconds ?? 15 });
  });
  return app;
}

/**
 * Each part of a request is checked with its zod schema; a body that passes is handed on as it came
 * (its route gives it to RecordingClient, which parses it with the same contract schema), the other
 * parts as parsed (the list's `limit` a number).
 */
const validateRequests: typeof validatorCompiler = (route) => {
  const check = validatorCompiler(route);
  return (data) => {
    // The type provider's check is synchronous and answers { value } or { error }.
    const result = check(data) as { error?: FastifySchemaValidationError[]; value?: unknown };
    return route.httpPart === 'body' && result.error === undefined ? { value: data } : result;
  };
};

/**
 * The query string, with `state` split at its commas (one state or several) and a `limit` of digits
 * read as a number: any other `limit` stays text, which the list's schema refuses (`1e2`, ` 5`, `0x10`).
 */
function parseListQuery(query: string): Record<string, unknown> {
  const parsed: Record<string, unknown> = { ...parseQuery(query) };
  if (parsed.state !== undefined) {
    parsed.state = ([] as string[]).concat(parsed.state as string | string[]).flatMap((s) => s.split(','));
  }
  if (typeof parsed.limit === 'string' && /^\d{1,6}$/.test(parsed.limit)) parsed.limit = Number(parsed.limit);
  return parsed;
}

/** A request's path for a message: without its query, and cut short (a URL may be kilobytes long). */
function shortPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length > 100 ? `${path.slice(0, 100)}…` : path;
}

function under(url: string, paths: readonly string[]): boolean {
  return paths.some((p) => url === p || url.startsWith(`${p}/`) || url.startsWith(`${p}?`));
}

/** Refuses (401) a request without a valid bearer key, except public routes and the dashboards. */
function apiKeyHook(keys: ApiKeys) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config.public || under(request.url, PUBLIC_PATHS)) return;
    // The dashboards authenticate on their own (browsers log in with HTTP Basic), with the same keys.
    if (under(request.url, DASHBOARD_PATHS)) return;
    const header = request.headers.authorization;
    const token = bearerToken(header);
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
