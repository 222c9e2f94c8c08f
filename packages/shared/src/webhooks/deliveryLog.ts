/**
 * Every attempt to deliver a job's events (GET /v1/jobs/{id}/deliveries), a batch's
 * (GET /v1/batches/{id}/deliveries) or a tenant's own (its budget reached): a Redis list
 * per job, batch or tenant, oldest first, kept JOB_RETENTION_HOURS after the last.
 * Entries hold the URL and the outcome, never the body or a secret.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import type { ServiceEventType } from '../jobEvents.js';

/** What a delivery log belongs to. */
export interface WebhookSubject {
  kind: 'job' | 'batch' | 'tenant';
  id: string;
}

export const DELIVERY_OUTCOMES = ['delivered', 'failed', 'exhausted', 'blocked', 'disabled'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export interface DeliveryAttempt {
  /** The delivery id, sent as `webhook-id`: the same for every attempt at one event. */
  id: string;
  type: ServiceEventType;
  url: string;
  /** 1 for the first attempt of a delivery (a redelivery starts again at 1). */
  attempt: number;
  at: string;
  /** The receiver's HTTP status; null when none came back. */
  status_code: number | null;
  /** Why there was no usable answer: a network error code, `timeout`, or the reason it was blocked or disabled. */
  error: string | null;
  duration_ms: number;
  /** `failed`: another attempt follows; `exhausted`: it was the last one. */
  outcome: DeliveryOutcome;
}

/** Attempts kept per job or batch: 8 per event with the default schedule, and room for redeliveries. */
const MAX_ATTEMPTS_KEPT = 500;

export class DeliveryLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly retentionSeconds: number,
  ) {}

  async append(subject: WebhookSubject, attempt: DeliveryAttempt): Promise<void> {
    const key = this.keys.webhookDeliveries(subject.kind, subject.id);
    await this.redis
      .multi()
      .rpush(key, JSON.stringify(attempt))
      .ltrim(key, -MAX_ATTEMPTS_KEPT, -1)
      .expire(key, this.retentionSeconds)
      .exec();
  }

  /** A job's (or batch's) attempts, oldest first. */
  async list(subject: WebhookSubject): Promise<DeliveryAttempt[]> {
    const entries = await this.redis.lrange(this.keys.webhookDeliveries(subject.kind, subject.id), 0, -1);
    return entries.map((e) => JSON.parse(e) as DeliveryAttempt);
  }
}
