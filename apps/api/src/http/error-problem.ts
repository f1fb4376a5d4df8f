import {
  fieldProblemsOf,
  NotAChannelRecordingError,
  RecordingEndedError,
  RecordingNotFoundError,
} from '@recfleet/client';
import { type FieldProblem, RecfleetError } from '@recfleet/contract';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { HttpRefusal } from './http-refusals.js';
import { problemFor, type Problem } from './problem.js';
import { HEADER_FIELDS } from './schemas.js';

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
      return {
        ...problemFor(error.code, error.message, [
          { field: 'id', rule: 'must name a channel recording (a job without sourceUrl)' },
        ]),
        recordingId: error.recordingId,
      };
    }
    const problem = problemFor(error.code, error.message, fieldProblemsOf(error));
    // Extension members (RFC 9457 §3.2) a client decides on: which recording, and how it ended.
    if (error instanceof RecordingNotFoundError) return { ...problem, recordingId: error.recordingId };
    if (error instanceof RecordingEndedError) {
      return { ...problem, recordingId: error.recordingId, state: error.state };
    }
    return problem;
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

/**
 * The problem of a request a route's zod schema refused (fastify's validation, see server.ts): a path id
 * that cannot be a recording id names no recording (404); a query or header is refused naming each
 * parameter (the route's `invalidCode`, default INVALID_REQUEST). Undefined for any other error.
 */
export function validationProblem(error: Error, request: FastifyRequest): Problem | undefined {
  if (!hasZodFastifySchemaValidationErrors(error)) return undefined;
  const context = (error as { validationContext?: string }).validationContext;
  if (context === 'params') {
    const id = String((request.params as { id?: unknown } | undefined)?.id ?? '');
    const missing = new RecordingNotFoundError(id.length > 100 ? `${id.slice(0, 100)}…` : id);
    return { ...problemFor(missing.code, missing.message), recordingId: missing.recordingId };
  }
  const problems: FieldProblem[] = error.validation.flatMap((v) => {
    // A parameter is named by its name (`state`, not `state.1` for the second of a comma-separated list).
    const path = v.instancePath.split('/').filter(Boolean)[0] ?? '';
    const named = (field: string): string =>
      context === 'headers' ? (HEADER_FIELDS[field] ?? field) : field;
    const keys = (v.params as { keys?: unknown }).keys;
    if (v.keyword === 'unrecognized_keys' && Array.isArray(keys)) {
      return keys.map((k) => ({ field: named(String(k)), rule: 'is not a known parameter' }));
    }
    return [{ field: named(path || `(${context ?? 'request'})`), rule: v.message ?? 'is not valid' }];
  });
  const code = request.routeOptions.config.invalidCode ?? 'INVALID_REQUEST';
  return problemFor(
    code,
    `invalid ${context === 'querystring' ? 'query' : (context ?? 'request')}`,
    problems,
  );
}

function unexpected(error: Error, log: FastifyBaseLogger): Problem {
  log.error({ err: error }, 'unexpected error');
  return problemFor('INTERNAL', 'an unexpected error occurred');
}
