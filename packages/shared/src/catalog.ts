/**
 * The job catalog: each queue with its job name and default options. The API's
 * enqueue helper and the worker's processor both derive from it, so they can't drift.
 */
import type { DefaultJobOptions } from 'bullmq';

/** The backoff type whose delay the worker's `backoffStrategy` computes per error class. */
export const CLASSIFIED_BACKOFF = 'classified';
/** The backoff type of webhook deliveries: WEBHOOK_RETRY_SCHEDULE_MS and Retry-After (apps/worker/src/webhooks). */
export const WEBHOOK_BACKOFF = 'webhook-schedule';

export interface QueueSpec {
  /** BullMQ queue name. */
  queue: string;
  /** BullMQ job name. */
  jobName: string;
  defaultJobOptions: DefaultJobOptions;
}

export const catalog = {
  /** One prompt run through the Claude Code CLI. */
  claude: {
    queue: 'claude',
    jobName: 'run',
    defaultJobOptions: {
      // The job record (jobStore.ts) is the caller's source of truth and has its own
      // retention; BullMQ's copy is kept a while for operators, then trimmed.
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
      // No stack trace in BullMQ's copy: it names the worker's code, and the board shows
      // BullMQ's fields to read-only logins; the failure reason is the error code alone.
      stackTraceLimit: 0,
      // Attempts come from JOB_ATTEMPTS at enqueue; the delay before each retry is
      // decided by the worker from the error's class (apps/worker/src/jobs/retryPolicy.ts).
      attempts: 1,
      backoff: { type: CLASSIFIED_BACKOFF },
    },
  },
  /**
   * One job event delivered to a webhook URL, on its own queue so a slow receiver
   * never holds a CLI slot. The BullMQ id is the delivery id (webhookQueue.ts).
   */
  webhooks: {
    queue: 'webhooks',
    jobName: 'deliver',
    defaultJobOptions: {
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
      // Attempts come from WEBHOOK_RETRY_SCHEDULE_MS at enqueue; the delay before each
      // retry from the schedule and the receiver's Retry-After.
      attempts: 1,
      backoff: { type: WEBHOOK_BACKOFF },
    },
  },
} as const satisfies Record<string, QueueSpec>;
