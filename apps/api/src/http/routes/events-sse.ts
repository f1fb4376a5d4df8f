import type { ServerResponse } from 'node:http';
import type { RecordingEvent } from '@recfleet/contract';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type FollowOutage, isSettled, type RecordingClient } from '@recfleet/client';
import type { ApiMetrics } from '../../metrics/api-metrics.js';
import { problemResponses } from '../openapi.js';
import { EventsHeadersSchema, EventsQuerySchema, RecordingIdParamsSchema } from '../schemas.js';

export interface EventsRouteOptions {
  client: RecordingClient;
  metrics: ApiMetrics;
  /** Seconds between keep-alive comments (proxies close idle streams). */
  keepAliveSeconds: number;
}

/** Events replayed at most for a recording that is over. */
const REPLAY_LIMIT = 10_000;
/**
 * `GET /v1/recordings/:id/events`: the recording's events as server-sent events, from the first (or
 * after `Last-Event-ID`, which browsers send when they reconnect) until its terminal event. The stream
 * rides through Redis outages (RecordingClient.follow): it stays open, says so in a comment line, and
 * continues after the last event it sent. Open streams are ended when the server closes.
 */
export async function eventsRoute(app: FastifyInstance, o: EventsRouteOptions): Promise<void> {
  const streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
  });

  app.get<{ Params: { id: string }; Querystring: { after?: string } }>(
    '/v1/recordings/:id/events',
    {
      schema: {
        operationId: 'followRecording',
        tags: ['recordings'],
        summary: 'Server-sent events: every event of the recording, live, until its terminal event',
        description:
          'The stream stays open through Redis outages (restarts, failovers, a Redis that does not answer): a comment line says when Redis is lost and when it is back, and the events continue after the last one sent, none repeated or skipped. A comment line every 15 s keeps proxies from closing it.',
        params: RecordingIdParamsSchema,
        querystring: EventsQuerySchema,
        headers: EventsHeadersSchema,
        response: {
          200: {
            description:
              '`text/event-stream`; each message has `id`, `event` (the type) and `data` (a RecordingEvent)',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...problemResponses(
            ['invalid_argument', 'Last-Event-ID or after is not an event id'],
            ['unauthenticated', 'No valid API key'],
            ['not_found', 'Unknown recording (or an id that cannot be one)'],
            ['unavailable', 'Redis is not reachable or did not answer in time; retry later'],
          ),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const status = await o.client.get(id);
      const header = request.headers['last-event-id'];
      const after = (typeof header === 'string' ? header : undefined) ?? request.query.after;
      reply.hijack();
      const raw = reply.raw;
      openStream(raw);
      streams.add(raw);
      // A hijacked reply has no onResponse: the stream is counted as answered when it opens.
      const labels = { method: 'GET', route: '/v1/recordings/:id/events' };
      o.metrics.requests.inc({ ...labels, status: '200' });
      o.metrics.requestDuration.observe(labels, reply.elapsedTime / 1000);
      o.metrics.eventStreams.inc();
      const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), o.keepAliveSeconds * 1000);
      try {
        const from = after ? { afterId: after } : {};
        if (isSettled(status.state)) {
          // Over for good: what it has, at once (it may have ended without a terminal event).
          for (const e of await o.client.events(id, { ...from, count: REPLAY_LIMIT })) writeEvent(raw, e);
        } else {
          const onOutage = (change: FollowOutage): void => {
            raw.write(
              change.state === 'lost'
                ? `: redis unavailable since ${new Date(change.at).toISOString()}; the stream continues when it is back\n\n`
                : `: redis back after ${Math.round(change.downMs / 1000)} s\n\n`,
            );
          };
          await streamLive(o.client.follow(id, { ...from, onOutage }), raw);
        }
      } catch (err) {
        request.log.warn({ err: (err as Error).message, recordingId: id }, 'event stream ended by an error');
      } finally {
        clearInterval(keepAlive);
        streams.delete(raw);
        o.metrics.eventStreams.dec();
        if (!raw.writableEnded) raw.end();
      }
    },
  );
}

function openStream(raw: ServerResponse): void {
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write('retry: 2000\n\n');
}

function writeEvent(raw: ServerResponse, e: RecordingEvent): void {
  raw.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
}

/** Writes followed events until the recording's terminal event or until the client goes away. */
async function streamLive(events: AsyncGenerator<RecordingEvent>, raw: ServerResponse): Promise<void> {
  let closed = false;
  const onClose = (): void => {
    closed = true;
    void events.return(undefined);
  };
  raw.on('close', onClose);
  try {
    for (;;) {
      const next = await events.next();
      if (next.done || closed) return;
      writeEvent(raw, next.value);
    }
  } finally {
    raw.off('close', onClose);
  }
}
