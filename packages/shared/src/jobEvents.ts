/**
 * A job's events, as callers watch them (GET /v1/jobs/{id}/events): `status` changes
 * and `text` as the CLI produces it. Each job has a capped Redis stream of them (ids
 * increase per job, so a reconnect with Last-Event-ID replays what it missed) and
 * every append is announced on one pub/sub channel with the job id, so an API process
 * serves any number of watchers and long-polls from one subscription.
 *
 * Status changes are appended by a move of the job's life (JobLife) in the same script as the
 * change itself; text by the worker that runs the job. The service-wide stream
 * (`keys.events()`) carries job.started and final events for webhook delivery.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import type { JobError, JobStatus } from './job.js';

/** Entries kept per job: a long answer streams in a few hundred chunks. */
export const JOB_EVENTS_CAP = 2000;
/** Entries kept in the service-wide stream that feeds webhook delivery. */
export const SERVICE_EVENTS_CAP = 100_000;

export type JobStatusEvent = {
  status: JobStatus | 'retrying';
  attempt?: number;
  next_attempt_at?: string | null;
  error?: JobError | null;
};

export interface JobEvent {
  /** The stream entry id: increases per job. */
  id: string;
  type: 'status' | 'text';
  data: unknown;
}

/** A job's events on the service-wide stream, which webhooks deliver (a job asks for them in `webhook_events`). */
export const JOB_SERVICE_EVENT_TYPES = ['job.started', 'job.succeeded', 'job.failed', 'job.canceled'] as const;
/** A batch's events a batch asks for in `webhook_events`: its requests', and its end (again after a retry ends it again). */
export const BATCH_WEBHOOK_EVENT_TYPES = [...JOB_SERVICE_EVENT_TYPES, 'batch.ended'] as const;
/** Every event on the service-wide stream: a job's, a batch's end, a tenant reaching its budget (once a period). */
export const SERVICE_EVENT_TYPES = [...BATCH_WEBHOOK_EVENT_TYPES, 'tenant.budget_reached'] as const;

export type JobServiceEventType = (typeof JOB_SERVICE_EVENT_TYPES)[number];
export type BatchWebhookEventType = (typeof BATCH_WEBHOOK_EVENT_TYPES)[number];
export type ServiceEventType = (typeof SERVICE_EVENT_TYPES)[number];

/**
 * One entry of the service-wide stream. `attempt`: the job's attempt, or which ending of
 * the batch (1 first); `period`: the budget's UTC day (YYYY-MM-DD) or month (YYYY-MM).
 */
export type ServiceEvent =
  | { id: string; type: JobServiceEventType; job_id: string; tenant_id: string; attempt: number }
  | { id: string; type: 'batch.ended'; batch_id: string; tenant_id: string; attempt: number }
  | { id: string; type: 'tenant.budget_reached'; tenant_id: string; period: string };

export class JobEventLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly retentionSeconds: number,
  ) {}

  /** Appends text the CLI produced; returns the entry id. */
  async appendText(jobId: string, text: string): Promise<string> {
    const key = this.keys.jobEvents(jobId);
    const [[, id]] = (await this.redis
      .multi()
      .xadd(key, 'MAXLEN', '~', JOB_EVENTS_CAP, '*', 'type', 'text', 'data', JSON.stringify({ text }))
      .expire(key, this.retentionSeconds)
      .publish(this.keys.jobEventsChannel(), jobId)
      .exec()) as [[Error | null, string]];
    return id;
  }

  /** Events after `afterId` (exclusive; '0' for all), oldest first. */
  async read(jobId: string, afterId = '0', count = 500): Promise<JobEvent[]> {
    const start = afterId === '0' ? '-' : `(${afterId}`;
    const entries = await this.redis.xrange(this.keys.jobEvents(jobId), start, '+', 'COUNT', count);
    return entries.map(([id, fields]) => {
      const f = fieldsOf(fields);
      return { id, type: f.type as JobEvent['type'], data: JSON.parse(f.data ?? 'null') };
    });
  }
}

export function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** A job event's id (a Redis stream id, `ms-seq`), as a client sends it back in Last-Event-ID. */
export const EVENT_ID = /^\d{1,20}-\d{1,20}$/;

/** A valid stream id to resume after (Last-Event-ID), or null. */
export function parseEventId(value: string | undefined): string | null {
  return value && EVENT_ID.test(value) ? value : null;
}
