/** The producer side of the webhooks queue: the worker's event consumer and the API's redeliver. */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { catalog } from '../catalog.js';
import type { Keys } from '../keys.js';
import type { JobServiceEventType } from '../jobEvents.js';
import { webhookDeliveryId } from './webhookTarget.js';

/** What a delivery job carries: ids and times only. The URL, the secret and the job or batch are read at each attempt. */
export type WebhookDeliveryPayload = JobDeliveryPayload | BatchDeliveryPayload | TenantDeliveryPayload;

export interface JobDeliveryPayload {
  tenantId: string;
  jobId: string;
  type: JobServiceEventType;
  /** The job's attempt the event belongs to (job.started: the one that started). */
  jobAttempt: number;
  /** When the event happened, ms since the epoch: the body's `timestamp`. */
  eventAt: number;
}

export interface BatchDeliveryPayload {
  tenantId: string;
  batchId: string;
  type: 'batch.ended';
  /** Which end of the batch: 1, then one more each time a retry ends it again. */
  ending: number;
  eventAt: number;
}

/** A tenant's own event: its budget reached in a period (sent to the tenant's webhook_url). */
export interface TenantDeliveryPayload {
  tenantId: string;
  type: 'tenant.budget_reached';
  /** The budget's UTC day (YYYY-MM-DD) or month (YYYY-MM). */
  period: string;
  eventAt: number;
}

/** The delivery id (the `webhook-id`) of what a payload delivers. */
export function deliveryIdOf(payload: WebhookDeliveryPayload): string {
  if (payload.type === 'tenant.budget_reached') return `${payload.tenantId}.${payload.type}.${payload.period}`;
  return payload.type === 'batch.ended'
    ? webhookDeliveryId(payload.batchId, payload.type, payload.ending)
    : webhookDeliveryId(payload.jobId, payload.type, payload.jobAttempt);
}

export type WebhookQueue = Queue<WebhookDeliveryPayload, unknown, typeof catalog.webhooks.jobName>;

export function createWebhookQueue(connection: Redis, keys: Keys): WebhookQueue {
  return new Queue(catalog.webhooks.queue, {
    connection,
    prefix: keys.bullPrefix,
    defaultJobOptions: catalog.webhooks.defaultJobOptions,
  });
}

export interface EnqueueWebhookOptions {
  /** WEBHOOK_RETRY_SCHEDULE_MS: one attempt, then one retry per delay. */
  retryScheduleMs: readonly number[];
  /**
   * Set for a redelivery (a fresh BullMQ job for the same event); unset, the BullMQ id
   * is the delivery id, so an event read twice is enqueued once.
   */
  redelivery?: string;
}

/** The BullMQ id of a payload's delivery job: its delivery id, and for a redelivery that redelivery's id too. */
export function webhookJobIdOf(payload: WebhookDeliveryPayload, redelivery?: string): string {
  const deliveryId = deliveryIdOf(payload);
  return redelivery ? `${deliveryId}.r${redelivery}` : deliveryId;
}

/** Enqueues one event's delivery; returns its delivery id (the `webhook-id`). */
export async function enqueueWebhookDelivery(queue: WebhookQueue, payload: WebhookDeliveryPayload, options: EnqueueWebhookOptions): Promise<string> {
  const jobId = webhookJobIdOf(payload, options.redelivery);
  await queue.add(catalog.webhooks.jobName, payload, { jobId, attempts: options.retryScheduleMs.length + 1 });
  return deliveryIdOf(payload);
}
