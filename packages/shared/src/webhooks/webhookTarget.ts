/**
 * Which events are delivered, and where: decided the same way by the event consumer
 * (whether to enqueue), the delivery (where to send, at each attempt) and the
 * redeliver endpoint.
 */
import type { JobRecord } from '../jobStore.js';
import type { BatchWebhookEventType, JobServiceEventType, ServiceEventType } from '../jobEvents.js';

/** Without `webhook_events`, a job's final event only. */
export const DEFAULT_WEBHOOK_EVENTS: readonly JobServiceEventType[] = ['job.succeeded', 'job.failed', 'job.canceled'];

/** Without `webhook_events`, a batch sends its end only: none of its requests' own events. */
export const DEFAULT_BATCH_WEBHOOK_EVENTS: readonly BatchWebhookEventType[] = ['batch.ended'];

/**
 * A job's own `webhook_events`, else the default: the final events for an ordinary job,
 * none for a batch's (the batch asks for its requests' events; see routes/batches.ts).
 */
export function wantsWebhookEvent(job: Pick<JobRecord, 'request' | 'batch_id'>, type: JobServiceEventType): boolean {
  return (job.request.webhook_events ?? (job.batch_id ? [] : DEFAULT_WEBHOOK_EVENTS)).includes(type);
}

/** The job's (or batch's) own `webhook_url`, else the tenant's default; null when there is neither. */
export function webhookUrlFor(own: string | null | undefined, tenantDefault: string | null): string | null {
  return own ?? tenantDefault;
}

/**
 * The `webhook-id` of an event: the same for every attempt and every redelivery, so
 * it is the receiver's dedupe key. A job starts once per attempt, and each start is an
 * event of its own; a batch ends again after a retry, and each end after the first is
 * one of its own. `subjectId`: the job's or the batch's id.
 */
export function webhookDeliveryId(subjectId: string, type: Exclude<ServiceEventType, 'tenant.budget_reached'>, attempt: number): string {
  if (type === 'job.started') return `${subjectId}.${type}.${attempt}`;
  if (type === 'batch.ended' && attempt > 1) return `${subjectId}.${type}.${attempt}`;
  return `${subjectId}.${type}`;
}
