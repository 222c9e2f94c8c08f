/**
 * Usage per UTC day: `GET /v1/usage` (a tenant, its own) and, through `readUsage`,
 * `GET /v1/admin/tenants/{id}/usage`. The counters are written by a move of the job's life (JobLife)
 * when a job reaches a final status (jobStore.ts usageOf), one hash per tenant and day.
 * Days on which no job of the tenant ended are left out of `days`. Beside them: what the
 * tenant's records hold now and how its budget stands (usage/tenantUsage.ts).
 */
import { Router } from 'express';
import { z } from 'zod';
import { defaultTenantLimits, resolveLimits, type UsageStanding } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { HttpProblem } from '../problem.js';

const DAY_MS = 86_400_000;
/** A leap year, both ends included. */
export const MAX_RANGE_DAYS = 366;
export const DEFAULT_RANGE_DAYS = 30;

const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((s) => {
    const t = Date.parse(`${s}T00:00:00Z`);
    return !Number.isNaN(t) && new Date(t).toISOString().startsWith(s);
  }, 'is not a calendar date')
  .meta({ format: 'date' });

/** The `from`/`to` of usage (also what the OpenAPI document shows). */
export const usageQuery = z.strictObject({ from: day.optional(), to: day.optional() });

export interface UsageTotals {
  jobs: { succeeded: number; failed: number; canceled: number };
  cost_usd: number;
  tokens: { input: number; output: number; cache_read: number; cache_creation: number };
}

export interface UsageReport extends Partial<UsageStanding> {
  from: string;
  to: string;
  days: Array<{ date: string } & UsageTotals>;
  totals: UsageTotals;
}

/** The range a query asks for: default the last DEFAULT_RANGE_DAYS up to today (UTC), at most MAX_RANGE_DAYS. */
export function parseUsageRange(query: unknown, now = new Date()): { from: string; to: string } {
  const q = usageQuery.parse(query);
  const to = q.to ?? now.toISOString().slice(0, 10);
  const from = q.from ?? new Date(Date.parse(to) - (DEFAULT_RANGE_DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
  const days = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
  if (days < 1) throw rangeProblem('must not be after `to`');
  if (days > MAX_RANGE_DAYS) throw rangeProblem(`must be at most ${MAX_RANGE_DAYS} days before \`to\``);
  return { from, to };
}

const rangeProblem = (message: string) =>
  new HttpProblem(400, 'invalid_request', `from: ${message}`, { errors: [{ field: 'from', message }] });

export async function readUsage(ctx: ApiContext, tenantId: string, range: { from: string; to: string }): Promise<UsageReport> {
  const dates: string[] = [];
  for (let t = Date.parse(range.from); t <= Date.parse(range.to); t += DAY_MS) dates.push(new Date(t).toISOString().slice(0, 10));
  const pipeline = ctx.redis.pipeline();
  for (const date of dates) pipeline.hgetall(ctx.keys.usageDay(tenantId, date));
  const replies = (await pipeline.exec()) ?? [];

  const totals = emptyTotals();
  const days: UsageReport['days'] = [];
  replies.forEach(([err, hash], i) => {
    if (err) throw err;
    const h = hash as Record<string, string>;
    if (Object.keys(h).length === 0) return;
    const n = (field: string) => Number(h[field] ?? 0);
    const dayTotals: UsageTotals = {
      jobs: { succeeded: n('succeeded'), failed: n('failed'), canceled: n('canceled') },
      cost_usd: roundUsd(n('cost_usd')),
      tokens: {
        input: n('input_tokens'),
        output: n('output_tokens'),
        cache_read: n('cache_read_input_tokens'),
        cache_creation: n('cache_creation_input_tokens'),
      },
    };
    days.push({ date: dates[i]!, ...dayTotals });
    addInto(totals, dayTotals);
  });
  totals.cost_usd = roundUsd(totals.cost_usd);
  // Where the tenant stands now against its storage and budget limits.
  const tenant = await ctx.tenants.get(tenantId);
  const standing = tenant ? await ctx.usage.standing(tenantId, resolveLimits(tenant.limits, defaultTenantLimits(ctx.config))) : {};
  return { from: range.from, to: range.to, days, totals, ...standing };
}

function emptyTotals(): UsageTotals {
  return { jobs: { succeeded: 0, failed: 0, canceled: 0 }, cost_usd: 0, tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 } };
}

function addInto(into: UsageTotals, add: UsageTotals): void {
  for (const k of ['succeeded', 'failed', 'canceled'] as const) into.jobs[k] += add.jobs[k];
  for (const k of ['input', 'output', 'cache_read', 'cache_creation'] as const) into.tokens[k] += add.tokens[k];
  into.cost_usd += add.cost_usd;
}

/** Sums of floats (HINCRBYFLOAT, then here) drift in the last digits: 1e-10 USD is far below any price. */
const roundUsd = (x: number) => Math.round(x * 1e10) / 1e10;

/** `GET /v1/usage`: the tenant of the key, never one named in the request. */
export function usageRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    res.json(await readUsage(ctx, req.tenant!.id, parseUsageRange(req.query)));
  });
  return router;
}
