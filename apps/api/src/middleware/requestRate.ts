/**
 * requests_per_minute: a fixed one-minute window per API key, counted in Redis so every
 * API process shares it. Answers carry the IETF draft's RateLimit-Policy and RateLimit
 * headers (draft-ietf-httpapi-ratelimit-headers); past the limit, 429 with Retry-After.
 * A tenant with no limit (null) gets no headers at all.
 */
import type { RequestHandler } from 'express';
import { defaultTenantLimits, resolveLimits } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { HttpProblem } from '../problem.js';

const WINDOW_SECONDS = 60;

/** Runs after requireTenant. `now` is for tests that must not wait for a minute to turn. */
export function requestRate(ctx: ApiContext, now: () => number = Date.now): RequestHandler {
  const defaults = defaultTenantLimits(ctx.config);
  return async (req, res, next) => {
    const limit = resolveLimits(req.tenant!.limits, defaults).requests_per_minute;
    if (limit === null) return next();
    const nowMs = now();
    const minute = Math.floor(nowMs / 60_000);
    const key = ctx.keys.requestRate(req.apiKeyId!, minute);
    // INCR and EXPIRE together, so a counter never outlives its window by more than the slack.
    const replies = await ctx.redis.multi().incr(key).expire(key, WINDOW_SECONDS + 10).exec();
    const count = Number(replies?.[0]?.[1] ?? 0);
    const resetSeconds = Math.max(1, Math.ceil(((minute + 1) * 60_000 - nowMs) / 1000));
    res.setHeader('RateLimit-Policy', `"default";q=${limit};w=${WINDOW_SECONDS}`);
    res.setHeader('RateLimit', `"default";r=${Math.max(0, limit - count)};t=${resetSeconds}`);
    if (count > limit) {
      throw new HttpProblem(429, 'rate_limited', `more than ${limit} requests per minute with this API key; retry in ${resetSeconds} s`, {
        headers: { 'Retry-After': String(resetSeconds) },
      });
    }
    next();
  };
}
