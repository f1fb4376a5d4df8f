import { RecfleetError } from '@recfleet/contract';
import type { FastifyBaseLogger } from 'fastify';
import { fieldProblemsOf, NotAChannelRecordingError } from '@recfleet/client';
import { HttpRefusal } from './http-refusals.js';
import { problemFor, type Problem } from './problem.js';

/** fastify's own errors, by their stable `code`: HTTP-level refusals of a request body. */
const FASTIFY_BODY_ERRORS: Readonly<Record<string, number>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 415,
  FST_ERR_CTP_BODY_TOO_LARGE: 413,
};

/**
 * The problem answering an error thrown by a route: a RecfleetError answers with its category's status
 * (and its refused fields); fastify's body errors with theirs; anything else is a 500 that is logged and
 * not described. Decided on types and codes, never on message text.
 */
export function errorProblem(
  error: Error & { statusCode?: number; code?: string },
  contentType: string | undefined,
  log: FastifyBaseLogger,
  bodyLimit?: number,
): Problem {
  if (error instanceof HttpRefusal) {
    return problemFor('INVALID_REQUEST', error.detail, [error.problem], error.status);
  }
  if (error instanceof RecfleetError) {
    if (error.category === 'unavailable') {
      log.warn({ err: error.message }, 'redis unavailable');
      // The message names the Redis host; the caller only needs to know it may retry.
      return problemFor(error.code, 'the recording store (Redis) is not reachable; retry later');
    }
    if (error.category === 'internal') return unexpected(error, log);
    // Refused for what the path's recording is: the path's id is the field at fault.
    if (error instanceof NotAChannelRecordingError) {
      return problemFor(error.code, error.message, [
        { field: 'id', rule: 'must name a channel recording (a job without sourceUrl)' },
      ]);
    }
    return problemFor(error.code, error.message, fieldProblemsOf(error));
  }
  const bodyStatus = error.code === undefined ? undefined : FASTIFY_BODY_ERRORS[error.code];
  if (bodyStatus === 415) {
    return problemFor(
      'INVALID_REQUEST',
      `content type ${contentType ?? '(none)'} is not supported`,
      [
        {
          field: 'content-type',
          rule: 'must be application/json (or, for an update, application/merge-patch+json)',
        },
      ],
      415,
    );
  }
  if (bodyStatus === 413) {
    return problemFor(
      'INVALID_REQUEST',
      error.message,
      [{ field: '(body)', rule: bodyLimit ? `must be at most ${bodyLimit} bytes` : 'must be smaller' }],
      413,
    );
  }
  if (error.statusCode === 400) {
    return problemFor('INVALID_REQUEST', `the body is not valid JSON: ${error.message}`, [
      { field: '(body)', rule: 'must be valid JSON' },
    ]);
  }
  // Any other refusal of the request by fastify itself (a 4xx): the client's, never a 500.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return problemFor(
      'INVALID_REQUEST',
      error.message,
      [{ field: '(request)', rule: error.message }],
      error.statusCode,
    );
  }
  return unexpected(error, log);
}

function unexpected(error: Error, log: FastifyBaseLogger): Problem {
  log.error({ err: error }, 'unexpected error');
  return problemFor('INTERNAL', 'an unexpected error occurred');
}
