import { RecfleetError } from '@recfleet/contract';
import type { FastifyBaseLogger } from 'fastify';
import { fieldProblemsOf } from '../recording-errors.js';
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
): Problem {
  if (error instanceof RecfleetError) {
    if (error.category === 'unavailable') {
      log.warn({ err: error.message }, 'redis unavailable');
      // The message names the Redis host; the caller only needs to know it may retry.
      return problemFor(error.code, 'the recording store (Redis) is not reachable; retry later');
    }
    if (error.category === 'internal') return unexpected(error, log);
    return problemFor(error.code, error.message, fieldProblemsOf(error));
  }
  const bodyStatus = error.code === undefined ? undefined : FASTIFY_BODY_ERRORS[error.code];
  if (bodyStatus === 415) {
    return problemFor(
      'INVALID_REQUEST',
      `content type ${contentType ?? '(none)'} is not supported`,
      undefined,
      415,
    );
  }
  if (bodyStatus !== undefined) return problemFor('INVALID_REQUEST', error.message, undefined, bodyStatus);
  if (error.statusCode === 400) {
    return problemFor('INVALID_REQUEST', `the body is not valid JSON: ${error.message}`, [
      { field: '(body)', rule: 'must be valid JSON' },
    ]);
  }
  return unexpected(error, log);
}

function unexpected(error: Error, log: FastifyBaseLogger): Problem {
  log.error({ err: error }, 'unexpected error');
  return problemFor('INTERNAL', 'an unexpected error occurred');
}
