/**
 * A tenant's usage from outside the job life's scripts: why a submit was refused, what
 * its records hold and how its budget stands (GET /v1/usage), and the budget hold set
 * again when an operator changes the tenant's limits. The counting itself happens in the
 * scripts (usage/scripts.ts), with the moves that cause it.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import type { Budget, EffectiveLimits } from '../limits.js';
import { luaScript, runScript } from '../redisScript.js';
import { budgetPeriods } from './periods.js';
import { USAGE_LIB } from './scripts.js';

/** Why a tenant's usage refuses a submit: its budget holds it until `untilMs`, or its records hold `stored` of `maxStored` bytes. */
export type SubmitRefusal =
  | { ok: false; reason: 'budget_exhausted'; untilMs: number }
  | { ok: false; reason: 'storage_full'; stored: number; maxStored: number };

/** SUBMIT's and SUBMIT_BATCH's answers about usage, as a SubmitRefusal (null: neither). */
export function usageRefusal(kind: string, a?: number, b?: number): SubmitRefusal | null {
  if (kind === 'budget') return { ok: false, reason: 'budget_exhausted', untilMs: a! };
  if (kind === 'storage_full') return { ok: false, reason: 'storage_full', stored: a!, maxStored: b! };
  return null;
}

/** What a tenant holds and has spent, against its limits. */
export interface UsageStanding {
  stored_bytes: number;
  max_stored_bytes: number | null;
  /** The budget's period now: spent, what is left, when it starts again; null without a budget. */
  budget: (Budget & { period: string; spent_usd: number; left_usd: number; resets_at: string; held: boolean }) | null;
}

/** The `data` of a `tenant.budget_reached` webhook. */
export interface BudgetReached {
  tenant_id: string;
  period: string;
  /** The budget as it is now (an operator may have changed it since). */
  budget: Budget | null;
  spent_usd: number;
  resets_at: string;
}

/** The keys of a job whose bytes are released (usage/scripts.ts release_expired): its record and its events. */
export function storedKeyPatterns(keys: Keys): string {
  return JSON.stringify([keys.job('{job}'), keys.jobEvents('{job}')]);
}

/** Releases what expired and answers the stored total. */
const STORED_NOW = luaScript('usage_stored_now', {
  lib: USAGE_LIB,
  keys: ['stored', 'stored_until'],
  args: ['now_ms', 'patterns'],
  body: `return stored_now(stored, stored_until, tonumber(now_ms), patterns)`,
});

export class TenantUsage {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async standing(tenantId: string, limits: EffectiveLimits, now = new Date()): Promise<UsageStanding> {
    const k = this.keys;
    const stored = await runScript<string, string, number>(this.redis, STORED_NOW, { stored: k.tenantStored(tenantId), stored_until: k.tenantStoredUntil(tenantId) }, { now_ms: now.getTime(), patterns: storedKeyPatterns(k) });
    return { stored_bytes: stored, max_stored_bytes: limits.max_stored_bytes, budget: await this.budgetOf(tenantId, limits.budget_usd, now) };
  }

  /**
   * After an operator changed the tenant's limits: holds it if its period's spend
   * already reaches the new budget, releases it if not (or without a budget).
   */
  async recheckHold(tenantId: string, limits: EffectiveLimits, now = new Date()): Promise<void> {
    const budget = await this.budgetOf(tenantId, limits.budget_usd, now);
    const tenant = this.keys.tenant(tenantId);
    if (budget && budget.left_usd <= 0) await this.redis.hset(tenant, 'budget_hold', Date.parse(budget.resets_at));
    else await this.redis.hdel(tenant, 'budget_hold');
  }

  /** What a `tenant.budget_reached` webhook says: the period's budget, spend and end. */
  async budgetReached(tenantId: string, period: string, budget: Budget | null): Promise<BudgetReached> {
    const monthly = period.length === 7;
    const key = monthly ? this.keys.usageMonth(tenantId, period) : this.keys.usageDay(tenantId, period);
    const periods = budgetPeriods(new Date(`${monthly ? `${period}-01` : period}T00:00:00Z`));
    return {
      tenant_id: tenantId,
      period,
      budget,
      spent_usd: Number((await this.redis.hget(key, 'cost_usd')) ?? 0),
      resets_at: new Date((monthly ? periods.month : periods.day).ends_ms).toISOString(),
    };
  }

  private async budgetOf(tenantId: string, budget: Budget | null, now: Date): Promise<UsageStanding['budget']> {
    if (!budget) return null;
    const period = budgetPeriods(now)[budget.per];
    const key = budget.per === 'month' ? this.keys.usageMonth(tenantId, period.id) : this.keys.usageDay(tenantId, period.id);
    const [spent, hold] = await Promise.all([this.redis.hget(key, 'cost_usd'), this.redis.hget(this.keys.tenant(tenantId), 'budget_hold')]);
    const spentUsd = Number(spent ?? 0);
    return {
      ...budget,
      period: period.id,
      spent_usd: spentUsd,
      left_usd: Math.max(0, budget.amount - spentUsd),
      resets_at: new Date(period.ends_ms).toISOString(),
      held: Number(hold ?? 0) > now.getTime(),
    };
  }
}
