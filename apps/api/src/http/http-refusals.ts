import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { type FieldProblem, RECORDING_ID_RULE } from '@recfleet/contract';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemFor, sendProblem } from './problem.js';

/**
 * Requests refused before any route runs — by HTTP itself (malformed, headers too large), by the router
 * (a URL that is not percent-encoded UTF-8, an id over the router's length limit) or by the body parser
 * (not UTF-8, not JSON, another charset) — answered as problems like every other refusal, naming the
 * part of the request at fault and never echoing it (a URL may be kilobytes long).
 */

/** A refusal of the request's form, with its HTTP status and the part it names. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly problem: FieldProblem,
  ) {
    super(detail);
    this.name = 'HttpRefusal';
  }
}

/** What a route's path parameter names: every parameterized route is under `/v1/recordings/:id`. */
function pathPart(url: string): string {
  return /^\/v1\/recordings\/[^/?]/.test(url) ? 'id' : '(path)';
}

/** fastify's `frameworkErrors`: URLs its router refuses. */
export function frameworkErrorHandler(
  error: Error & { code?: string },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const field = pathPart(request.raw.url ?? '');
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    sendProblem(
      reply,
      problemFor(
        'INVALID_REQUEST',
        'a path parameter of the URL is too long',
        [{ field, rule: field === 'id' ? `must be ${RECORDING_ID_RULE}` : 'must be shorter' }],
        414,
      ),
    );
    return;
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    sendProblem(
      reply,
      problemFor('INVALID_REQUEST', 'the URL is not valid percent-encoded UTF-8', [
        { field, rule: 'must be valid percent-encoded UTF-8' },
      ]),
    );
    return;
  }
  request.log.error({ err: error }, 'unexpected router error');
  sendProblem(reply, problemFor('INTERNAL', 'an unexpected error occurred'));
}

/** fastify's `clientErrorHandler`: requests Node's HTTP parser refuses. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail, problem] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request header fields are too large', { field: '(headers)', rule: 'must be smaller' }]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time', { field: '(request)', rule: 'must arrive in time' }]
        : [400, 'the request is not valid HTTP/1.1', { field: '(request)', rule: 'must be valid HTTP/1.1' }];
  const body = JSON.stringify(problemFor('INVALID_REQUEST', detail, [problem], status));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** The body types the API reads: JSON, and for an update a JSON merge patch (RFC 7396). */
export const JSON_BODY_TYPES = ['application/json', 'application/merge-patch+json'] as const;

/**
 * Replaces fastify's JSON parser by one that refuses what JSON (RFC 8259) does not allow: bytes that
 * are not UTF-8 (decoded leniently, they would become U+FFFD inside a field the contract accepts) and
 * another declared charset. The JSON itself is parsed by fastify's own parser, which refuses
 * `__proto__` and `constructor` keys.
 */
export function useUtf8JsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser([...JSON_BODY_TYPES], { parseAs: 'buffer' }, (request, body, done) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      done(
        new HttpRefusal(415, `charset ${charset} is not supported`, {
          field: 'content-type',
          rule: 'must be JSON in UTF-8 (no charset, or charset=utf-8)',
        }),
      );
      return;
    }
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(new HttpRefusal(400, 'the body is not UTF-8', { field: '(body)', rule: 'must be JSON in UTF-8' }));
      return;
    }
    parseJson(request, text, done);
  });
}
