/**
 * Puts one of the API's credential checks (ADMIN_TOKEN, tenant keys, board logins,
 * METRICS_TOKEN) under the failed-login rule, which is written once, in
 * packages/shared/src/http/failedLogins.ts. A check refuses with a 401 HttpProblem,
 * thrown or passed to `next`: that is what counts as a failure. An address past its
 * failures gets 429 before its credential is even looked at.
 */
import type { NextFunction, Request, RequestHandler } from 'express';
import type { FailedLogins } from '@claude-queue/shared';
import { HttpProblem } from '../problem.js';

const isRefusal = (err: unknown): err is HttpProblem => err instanceof HttpProblem && err.status === 401;

/** The address failures are counted by: the connection's peer (`req.ip` follows Express's `trust proxy`, unset). */
const addressOf = (req: Request) => req.ip ?? req.socket.remoteAddress;

export function limitFailedLogins(failures: FailedLogins, check: RequestHandler): RequestHandler {
  return async (req, res, next) => {
    const address = addressOf(req);
    const blockedForSeconds = await failures.blockedForSeconds(address);
    if (blockedForSeconds > 0) {
      throw new HttpProblem(429, 'too_many_failed_logins', `too many wrong credentials from this address; retry in ${blockedForSeconds} s`, {
        headers: { 'Retry-After': String(blockedForSeconds) },
      });
    }
    let passedOn: { arg: unknown } | undefined;
    const capture = ((arg?: unknown) => {
      passedOn = { arg };
    }) as NextFunction;
    try {
      await check(req, res, capture);
    } catch (err) {
      if (isRefusal(err)) await failures.recordFailure(address);
      throw err;
    }
    if (!passedOn) return; // the check answered by itself
    if (isRefusal(passedOn.arg)) {
      await failures.recordFailure(address);
      throw passedOn.arg;
    }
    next(passedOn.arg as Parameters<NextFunction>[0]);
  };
}
