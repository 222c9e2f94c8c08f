/** The UTC periods a budget counts in: the day and the month `at` falls in, and when each ends. */
export interface BudgetPeriods {
  day: { id: string; ends_ms: number };
  month: { id: string; ends_ms: number };
}

export function budgetPeriods(at: Date): BudgetPeriods {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  const d = at.getUTCDate();
  return {
    day: { id: at.toISOString().slice(0, 10), ends_ms: Date.UTC(y, m, d + 1) },
    month: { id: at.toISOString().slice(0, 7), ends_ms: Date.UTC(y, m + 1, 1) },
  };
}
