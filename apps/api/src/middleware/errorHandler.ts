/**
 * The one place errors become answers: RFC 9457 problem+json with a stable `code`.
 * Messages of 5xx errors stay in the log, never in the response.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import { isRedisUnavailable } from '@claude-queue/shared';
import { HttpProblem, type FieldError } from '../problem.js';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  field?: string;
  errors?: FieldError[];
}

/** Turns whatever was thrown into an HttpProblem. */
export function coerceProblem(err: unknown): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (err instanceof z.ZodError) {
    const errors = err.issues.flatMap((i) => fieldErrorsOf(i));
    const first = errors[0];
    return new HttpProblem(400, 'invalid_request', first ? `${first.field}: ${first.message}` : 'invalid request', { errors });
  }
  const e = err as { type?: string; status?: number; limit?: number };
  // body-parser's errors carry a `type`.
  if (e?.type === 'entity.too.large') {
    return new HttpProblem(413, 'body_too_large', `the request body is larger than ${e.limit} bytes`);
  }
  if (e?.type === 'entity.parse.failed') return new HttpProblem(400, 'invalid_json', 'the request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new HttpProblem(415, 'unsupported_media_type', 'the request body encoding is not supported');
  }
  if (isRedisUnavailable(err)) {
    return new HttpProblem(503, 'unavailable', 'the queue is unavailable; try again shortly', { headers: { 'Retry-After': '5' } });
  }
  return new HttpProblem(500, 'internal_error', 'internal error');
}

function fieldErrorsOf(issue: z.core.$ZodIssue): FieldError[] {
  // One issue names every unknown key of an object; each is a field of its own
  // (joined, `{bogus, other}` would read as the path `bogus.other`).
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: [...issue.path, key].join('.'), message: 'unknown field' }));
  }
  const field = issue.path.join('.') || '(body)';
  return [{ field, message: issue.message }];
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const problem = coerceProblem(err);
  if (problem.status === 503) req.log?.warn({ code: problem.code }, 'request refused: Redis unavailable');
  else if (problem.status >= 500) req.log?.error({ err }, 'request failed');
  const body: Problem = {
    type: `https://claude-queue.dev/problems/${problem.code}`,
    title: STATUS_CODES[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.message,
    code: problem.code,
  };
  if (problem.extra.errors?.length) {
    body.field = problem.extra.errors[0]!.field;
    body.errors = problem.extra.errors;
  }
  for (const [k, v] of Object.entries(problem.extra.headers ?? {})) {
    // RateLimit fields are lists: a quota's policy joins the request-rate one already set.
    if (/^ratelimit/i.test(k)) res.append(k, v);
    else res.setHeader(k, v);
  }
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(body));
};

export const notFoundHandler: RequestHandler = (req) => {
  throw new HttpProblem(404, 'not_found', `no route for ${req.method} ${req.path}`);
};
