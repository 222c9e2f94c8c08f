/**
 * How long a job waits before its next attempt, by error class. Exponential from
 * JOB_BACKOFF_MS, with "equal jitter" (half the delay fixed, half random) so a burst of
 * jobs failing together doesn't come back together. A rate limit waits 4× longer: the
 * CLI (2.1.x) reports the 429 but not the API's retry-after, so the queue can't honour it.
 */
import type { JobError } from '@claude-queue/shared';

export interface RetryPolicyOptions {
  /** JOB_BACKOFF_MS. */
  baseMs: number;
  /** Upper bound of one delay (default: 10 minutes). */
  maxMs?: number;
  /** Source of jitter, in [0, 1) (default: Math.random). */
  random?: () => number;
}

const RATE_LIMIT_FACTOR = 4;

/** The delay before the attempt after `failedAttempt` (1-based). */
export function retryDelayMs(error: JobError, failedAttempt: number, options: RetryPolicyOptions): number {
  const factor = error.code === 'rate_limited' ? RATE_LIMIT_FACTOR : 1;
  const ceiling = Math.min(options.baseMs * factor * 2 ** (failedAttempt - 1), options.maxMs ?? 10 * 60_000);
  const random = options.random ?? Math.random;
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
