import type { ServerResponse } from 'node:http';
import type { RecordingEvent } from '@recfleet/contract';
import type { FastifyInstance } from 'fastify';
import { type FollowOutage, isSettled, type RecordingClient } from '@recfleet/client';
import { problemFor, sendProblem } from '../problem.js';
import { recordingIdParam } from './recording-id.js';

export interface EventsRouteOptions {
  client: RecordingClient;
  /** Seconds between keep-alive comments (proxies close idle streams). */
  keepAliveSeconds: number;
}

/** Events replayed at most for a recording that is over. */
const REPLAY_LIMIT = 10_000;
/** `<ms>-<seq>`: a stream entry id, as events carry it (Last-Event-ID, `after`). */
export const EVENT_ID_PATTERN = /^\d+-\d+$/;

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
    async (request, reply) => {
      const id = recordingIdParam(request.params.id);
      const status = await o.client.get(id);
      const header = request.headers['last-event-id'];
      const fromHeader = typeof header === 'string' ? header : undefined;
      const after = fromHeader ?? request.query.after;
      if (after !== undefined && !EVENT_ID_PATTERN.test(after)) {
        return sendProblem(
          reply,
          problemFor('INVALID_REQUEST', 'invalid event id', [
            {
              field: fromHeader !== undefined ? 'Last-Event-ID' : 'after',
              rule: 'must be an event id (<ms>-<seq>)',
            },
          ]),
        );
      }
      reply.hijack();
      const raw = reply.raw;
      openStream(raw);
      streams.add(raw);
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
