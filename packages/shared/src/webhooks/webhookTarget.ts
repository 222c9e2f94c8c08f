/**
 * Which of a job's events are delivered, and where: decided the same way by the event
 * consumer (whether to enqueue), the delivery (where to send, at each attempt) and the
 * redeliver endpoint.
 */
import type { JobRecord } from '../jobStore.js';
import type { ServiceEventType } from '../jobEvents.js';

/** Without `webhook_events`, a job's final event only. */
export const DEFAULT_WEBHOOK_EVENTS: readonly ServiceEventType[] = ['job.succeeded', 'job.failed', 'job.canceled'];

export function wantsWebhookEvent(job: Pick<JobRecord, 'request'>, type: ServiceEventType): boolean {
  return (job.request.webhook_events ?? DEFAULT_WEBHOOK_EVENTS).includes(type);
}

/** The job's own `webhook_url`, else the tenant's default; null when there is neither. */
export function webhookUrlFor(job: Pick<JobRecord, 'request'>, tenantDefault: string | null): string | null {
  return job.request.webhook_url ?? tenantDefault;
}

/**
 * The `webhook-id` of an event: the same for every attempt and every redelivery, so
 * it is the receiver's dedupe key. A job starts once per attempt, and each start is an
 * event of its own.
 */
export function webhookDeliveryId(jobId: string, type: ServiceEventType, jobAttempt: number): string {
  return type === 'job.started' ? `${jobId}.${type}.${jobAttempt}` : `${jobId}.${type}`;
}
