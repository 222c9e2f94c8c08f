import { describe, expect, it } from 'vitest';
import type { JobError } from '@claude-queue/shared';
import { retryDelayMs } from './retryPolicy.js';

const error = (code: JobError['code']): JobError => ({ code, message: '', retryable: true });

describe('retryDelayMs', () => {
  it('doubles per attempt, with half of each delay random', () => {
    const low = { baseMs: 1000, random: () => 0 };
    const high = { baseMs: 1000, random: () => 0.999999 };
    expect([1, 2, 3].map((n) => retryDelayMs(error('overloaded'), n, low))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((n) => retryDelayMs(error('overloaded'), n, high))).toEqual([1000, 2000, 4000]);
  });

  it('waits four times longer after a rate limit', () => {
    expect(retryDelayMs(error('rate_limited'), 1, { baseMs: 1000, random: () => 0 })).toBe(2000);
  });

  it('never exceeds maxMs', () => {
    expect(retryDelayMs(error('api_error'), 30, { baseMs: 1000, maxMs: 60_000, random: () => 0.999999 })).toBeLessThanOrEqual(60_000);
  });
});
