import type { JobError } from '../job.js';

/**
 * A run that failed in a way a retry may fix (the retryable error; a final failure is
 * BullMQ's UnrecoverableError). BullMQ retries it after `retryDelayMs`
 * (the worker's backoffStrategy reads it), so the delay the job record announces in
 * `next_attempt_at` is the one BullMQ keeps.
 */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    readonly jobError: JobError,
    readonly retryDelayMs: number,
  ) {
    // BullMQ's failedReason: the code only, never model output (the record has the message).
    super(jobError.code);
  }
}
