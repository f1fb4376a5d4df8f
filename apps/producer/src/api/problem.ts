import type { FieldProblem } from '@recfleet/contract';
import type { FastifyReply } from 'fastify';

/** RFC 7807 problem details, as every error of the API is answered. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldProblem[];
  instance?: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
const BASE = 'https://recfleet.dev/problems/';

export const ProblemTypes = {
  invalidRequest: { type: `${BASE}invalid-request`, title: 'The request is invalid', status: 400 },
  unauthorized: { type: `${BASE}unauthorized`, title: 'A valid API key is required', status: 401 },
  notFound: { type: `${BASE}not-found`, title: 'Not found', status: 404 },
  conflict: {
    type: `${BASE}conflict`,
    title: 'The recording is not in a state that allows this',
    status: 409,
  },
  payloadTooLarge: { type: `${BASE}payload-too-large`, title: 'The request body is too large', status: 413 },
  unsupportedMediaType: {
    type: `${BASE}unsupported-media-type`,
    title: 'The request body must be application/json',
    status: 415,
  },
  unavailable: { type: `${BASE}unavailable`, title: 'A dependency is unavailable', status: 503 },
  internal: { type: `${BASE}internal`, title: 'Internal error', status: 500 },
} as const;

export function problem(
  kind: keyof typeof ProblemTypes,
  detail: string,
  errors?: FieldProblem[],
  status?: number,
): Problem {
  const t = ProblemTypes[kind];
  return { type: t.type, title: t.title, status: status ?? t.status, detail, ...(errors ? { errors } : {}) };
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
}
