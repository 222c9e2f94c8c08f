/**
 * A tenant's limits. Every member is optional: absent means the deployment's default
 * (TENANT_* in config.ts), `null` means unlimited. The tenant hash keeps the overrides
 * as JSON in its `limits` field; the scheduler's Lua reads them from there.
 */
import { z } from 'zod';

const count = z.number().int().min(1);

export const BUDGET_PERIODS = ['day', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

const budgetSchema = z.strictObject({ amount: z.number().positive().max(1_000_000), per: z.enum(BUDGET_PERIODS) });
export type Budget = z.infer<typeof budgetSchema>;

export const tenantLimitsSchema = z.strictObject({
  /** Jobs started per window, counted at start across all workers. */
  rate: z.strictObject({ max: count, per_seconds: count.max(86_400) }).nullable().optional(),
  /** Jobs running at once across all workers. */
  max_concurrency: count.nullable().optional(),
  /** Jobs waiting to start; a submit past it gets 429. */
  max_queued: count.nullable().optional(),
  /** API requests per minute per key. */
  requests_per_minute: count.nullable().optional(),
  /** Share of the service under contention, relative to other tenants (default 1). */
  weight: z.number().min(0.01).max(100).optional(),
  /** Bytes its job records may hold in Redis until they expire; a submit past it gets 429 storage_full. */
  max_stored_bytes: count.nullable().optional(),
  /** Model spend per UTC day or month; once reached, no run starts until the next period (usage/scripts.ts). */
  budget_usd: budgetSchema.nullable().optional(),
});

export type TenantLimits = z.infer<typeof tenantLimitsSchema>;

/** Limits with every member decided: a number, or null for unlimited. */
export interface EffectiveLimits {
  rate: { max: number; per_seconds: number } | null;
  max_concurrency: number | null;
  max_queued: number | null;
  requests_per_minute: number | null;
  weight: number;
  max_stored_bytes: number | null;
  budget_usd: Budget | null;
}

/** A tenant's overrides over the deployment's defaults. */
export function resolveLimits(overrides: TenantLimits, defaults: EffectiveLimits): EffectiveLimits {
  const pick = <K extends keyof EffectiveLimits>(k: K): EffectiveLimits[K] =>
    (overrides[k] === undefined ? defaults[k] : overrides[k]) as EffectiveLimits[K];
  return {
    rate: pick('rate'),
    max_concurrency: pick('max_concurrency'),
    max_queued: pick('max_queued'),
    requests_per_minute: pick('requests_per_minute'),
    weight: overrides.weight ?? defaults.weight,
    max_stored_bytes: pick('max_stored_bytes'),
    budget_usd: pick('budget_usd'),
  };
}
