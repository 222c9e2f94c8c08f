/** The job object as the API returns it, and the result and error inside it. */
import type { JobRequest } from './jobRequest.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

/** Each status as an auxiliary verb and the rest, so "already" can go between them. */
const STATUS_PHRASES: Record<JobStatus | 'expired', [string, string]> = {
  queued: ['is', 'queued'],
  running: ['is', 'running'],
  succeeded: ['has', 'succeeded'],
  failed: ['has', 'failed'],
  canceled: ['was', 'canceled'],
  expired: ['has', 'expired'],
};

/**
 * A status as the end of a sentence about a job, for messages: "the job has already
 * succeeded", not "the job is already succeeded". Null (the record is gone): "has
 * expired". Every message that names a job's status builds it here, so the grammar is
 * right once.
 */
export function describeJobStatus(status: JobStatus | null | undefined, options: { already?: boolean } = {}): string {
  const [auxiliary, rest] = STATUS_PHRASES[status ?? 'expired'];
  return options.already ? `${auxiliary} already ${rest}` : `${auxiliary} ${rest}`;
}

/** Stable error codes of a failed job (apps/worker/src/cli/classifyOutcome.ts decides them). */
export const JOB_ERROR_CODES = [
  'auth_failed',
  'rate_limited',
  'overloaded',
  'api_error',
  'invalid_request',
  'session_not_found',
  'session_too_large',
  'max_turns',
  'budget_exceeded',
  'timeout',
  'cli_crashed',
  'cli_error',
  'worker_lost',
  'canceled',
  'internal_error',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export interface JobError {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
}

export interface JobResult {
  text: string;
  session_id: string;
  num_turns: number;
  duration_ms: number;
  total_cost_usd: number;
  usage: Record<string, unknown> | null;
  structured_output: unknown;
}

/** One attempt that did not succeed: kept on the job, oldest first. */
export interface AttemptRecord {
  attempt: number;
  code: JobErrorCode;
  message: string;
  at: string;
}

/** The request as echoed back: everything but `metadata`, which has its own member. */
export type JobRequestView = Omit<JobRequest, 'metadata'>;

export interface JobView {
  id: string;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  /** While waiting to retry: when the next attempt may start. */
  next_attempt_at: string | null;
  attempt_history: AttemptRecord[];
  request: JobRequestView;
  result: JobResult | null;
  error: JobError | null;
  metadata: Record<string, unknown> | null;
  /** A request of a batch (POST /v1/batches): the batch and the request's `custom_id`. */
  batch_id?: string;
  custom_id?: string;
}

/** The payload BullMQ carries: ids only. The job record in Redis holds the request. */
export interface JobPayload {
  tenantId: string;
}
