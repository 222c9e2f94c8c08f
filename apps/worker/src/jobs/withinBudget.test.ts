import { describe, expect, it } from 'vitest';
import { withinBudget } from './withinBudget.js';

describe('a run never gets a budget above what is left of its tenant', () => {
  it('leaves the request alone without a tenant budget', () => {
    const request = { prompt: 'p', max_budget_usd: 5 };
    expect(withinBudget(request, null)).toBe(request);
  });

  it("caps the run's --max-budget-usd to what is left, in whole cents down", () => {
    expect(withinBudget({ prompt: 'p' }, 0.4567)).toEqual({ prompt: 'p', max_budget_usd: 0.45 });
    expect(withinBudget({ prompt: 'p', max_budget_usd: 2 }, 0.4567).max_budget_usd).toBe(0.45);
    // Its own lower cap stands.
    expect(withinBudget({ prompt: 'p', max_budget_usd: 0.1 }, 0.4567).max_budget_usd).toBe(0.1);
    // Less than a cent left still runs with the least the CLI takes.
    expect(withinBudget({ prompt: 'p' }, 0.004).max_budget_usd).toBe(0.01);
  });
});
