import type { JobRequest } from '@claude-queue/shared';

/**
 * The request with `max_budget_usd` no higher than what is left of the tenant's budget
 * (null: it has none), in whole cents down: a run can't spend what the tenant hasn't got.
 */
export function withinBudget(request: JobRequest, leftUsd: number | null): JobRequest {
  if (leftUsd === null) return request;
  const cap = Math.max(0.01, Math.floor(leftUsd * 100) / 100);
  return request.max_budget_usd !== undefined && request.max_budget_usd <= cap ? request : { ...request, max_budget_usd: cap };
}
