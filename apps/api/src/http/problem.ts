import {
  ERROR_CATEGORIES,
  type ErrorCategory,
  errorPolicy,
  type FieldProblem,
  type RecfleetErrorCode,
  type RecordingState,
} from '@recfleet/contract';
import type { FastifyReply } from 'fastify';

/**
 * RFC 9457 problem details, as every error of the API is answered: `type` names the error's category,
 * `status` is the category's HTTP status (the contract's ERROR_CATEGORIES), `code` the registry code.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: RecfleetErrorCode;
  errors?: FieldProblem[];
  instance?: string;
  /** The recording the problem is about (RECORDING_NOT_FOUND, RECORDING_ENDED, NOT_A_CHANNEL_RECORDING). */
  recordingId?: string;
  /** RECORDING_ENDED: the state it ended in. */
  state?: RecordingState;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
const BASE = 'https://recfleet.dev/problems/';

/** The problem type URI of a category: `invalid_argument` → `…/problems/invalid-argument`. */
export function problemType(category: ErrorCategory): string {
  return `${BASE}${category.replaceAll('_', '-')}`;
}

/**
 * The problem of a registry code. `status` overrides the category's status only for what HTTP itself
 * distinguishes within a category (413 body too large, 415 media type, both `invalid_argument`).
 */
export function problemFor(
  code: RecfleetErrorCode,
  detail: string,
  errors?: FieldProblem[],
  status?: number,
): Problem {
  const { category, httpStatus } = errorPolicy(code);
  return {
    type: problemType(category),
    title: ERROR_CATEGORIES[category].description,
    status: status ?? httpStatus,
    detail,
    code,
    ...(errors ? { errors } : {}),
  };
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
}
