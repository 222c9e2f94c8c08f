import type { JobError } from '@claude-queue/shared';

/**
 * A run that failed in a way a retry may fix. BullMQ retries it after `retryDelayMs`
 * (the worker's backoffStrategy reads it), so the delay the job record announces in
 * `next_attempt_at` is the one BullMQ keeps.
 */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError';
  constructor(
    readonly jobError: JobError,
    readonly retryDelayMs: number,
  ) {
    super(`${jobError.code}: ${jobError.message}`);
  }
}
