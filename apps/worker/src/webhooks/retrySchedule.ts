/**
 * When a failed delivery is tried again. Retries are BullMQ's own (attempts = schedule
 * length + 1, set at enqueue, and this function as the Worker's backoffStrategy)
 * rather than moveToDelayed from the processor: BullMQ then counts the attempts itself,
 * a delivery whose worker died mid-attempt resumes with its count, and the whole delay
 * rule (schedule, jitter, Retry-After) is this one function.
 */

/** ±20 %: receivers that came back up are not hit by every waiting delivery in the same instant. */
const JITTER = 0.2;
/** A Retry-After is honoured up to a day: a receiver can't park a delivery for months. */
const MAX_RETRY_AFTER_MS = 24 * 3600 * 1000;

/**
 * The delay before the next attempt after `failures` failed ones: the schedule's entry,
 * jittered, but never sooner than the receiver's Retry-After.
 */
export function webhookRetryDelayMs(scheduleMs: readonly number[], failures: number, retryAfterMs: number | null, random = Math.random): number {
  const planned = scheduleMs[Math.min(failures, scheduleMs.length) - 1] ?? 0;
  const jittered = Math.round(planned * (1 - JITTER + 2 * JITTER * random()));
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
}

/** A Retry-After header (delay-seconds or an HTTP date) in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
