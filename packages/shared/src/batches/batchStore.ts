/**
 * Batches: many prompts submitted in one request (POST /v1/batches), each an ordinary
 * job with its batch's id and its own `custom_id`. The batch's hash keeps counts per job
 * status, moved by the jobs' own moves (jobLife/scripts.ts count_batch), so a batch's
 * counts and its end follow its jobs without anyone reconciling them.
 */
import type { Redis } from 'ioredis';
import { uuidv7 } from '../ids.js';
import { JOB_EVENTS_CAP, type BatchWebhookEventType, type JobStatusEvent } from '../jobEvents.js';
import type { JobRequest } from '../jobRequest.js';
import { newRecordFields } from '../jobLife/jobLife.js';
import { serializeRecord } from '../jobStore.js';
import type { Keys } from '../keys.js';
import { runScript } from '../redisScript.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { DEFAULT_BATCH_WEBHOOK_EVENTS } from '../webhooks/webhookTarget.js';
import { usageRefusal, type SubmitRefusal } from '../usage/tenantUsage.js';
import { SUBMIT_BATCH } from './scripts.js';

export type BatchStatus = 'in_progress' | 'canceling' | 'ended';

export interface BatchCounts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  canceled: number;
}

export interface BatchView {
  id: string;
  status: BatchStatus;
  request_counts: BatchCounts;
  total: number;
  created_at: string;
  ended_at: string | null;
  /** When the batch and its results are removed (JOB_RETENTION_HOURS after it ended; while it runs, after its creation). */
  expires_at: string;
  metadata: Record<string, unknown> | null;
  /** Where its webhooks go (else the tenant's default URL), and which: `batch.ended`, and its requests' own events if asked. */
  webhook_url: string | null;
  webhook_events: BatchWebhookEventType[];
}

/** A batch's own settings, beside its requests. */
export interface BatchOptions {
  metadata?: Record<string, unknown>;
  webhook_url?: string;
  webhook_events?: BatchWebhookEventType[];
}

export interface BatchItem {
  custom_id: string;
  request: JobRequest;
}

export type BatchSubmitOutcome =
  | { ok: true; batch: BatchView; jobIds: string[] }
  | { ok: false; reason: 'queue_full'; queued: number; maxQueued: number }
  | SubmitRefusal
  | { ok: false; reason: 'tenant_disabled' | 'tenant_not_found' };

/** Within its tenant, a batch's jobs wait behind the tenant's ordinary ones (priority 50 by default). */
export const BATCH_PRIORITY = 90;

export interface BatchPage {
  data: BatchView[];
  next_cursor: string | null;
}

export class BatchStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly scheduler: Scheduler,
    /** JOB_RETENTION_HOURS in seconds: batches expire with their jobs. */
    private readonly retentionSeconds: number,
  ) {}

  /** Writes the batch and all its jobs in one step (one script, one round trip), or nothing. */
  async submit(tenantId: string, items: readonly BatchItem[], options: BatchOptions & { now?: Date } = {}): Promise<BatchSubmitOutcome> {
    const now = options.now ?? new Date();
    const id = uuidv7(now.getTime());
    const k = this.keys;
    const jobIds: string[] = [];
    const rest: string[] = [];
    // What every record has alike, once; then each job's own fields (see SUBMIT_BATCH).
    const common = serializeRecord({ ...newRecordFields(tenantId, now), batch_id: id });
    for (const item of items) {
      const jobId = uuidv7(now.getTime());
      jobIds.push(jobId);
      const { metadata, ...requestView } = item.request;
      const own = serializeRecord({ request: requestView, metadata: metadata ?? null });
      rest.push(jobId, item.custom_id, own.request!, own.metadata!);
    }
    const [kind, queued, max] = await runScript<string, string, [string, number?, number?]>(
      this.redis,
      SUBMIT_BATCH,
      {
        batch: k.batch(id),
        batch_jobs: k.batchJobs(id),
        tenant_batches: k.tenantBatches(tenantId),
        tenant: k.tenant(tenantId),
        intake: k.intake(tenantId),
        tenant_jobs: k.tenantJobs(tenantId),
        sched_tenants: k.schedTenants(),
        sched_lastv: k.schedLastVtime(),
        sched_vnow: k.schedVnow(),
        sched_seq: k.schedSeq(),
        stored: k.tenantStored(tenantId),
        stored_until: k.tenantStoredUntil(tenantId),
      },
      {
        batch_id: id,
        tenant_id: tenantId,
        jobs: items.length,
        priority: BATCH_PRIORITY,
        defaults: this.scheduler.defaultsJson,
        retention: this.retentionSeconds,
        status_event: JSON.stringify({ status: 'queued' } satisfies JobStatusEvent),
        job_cap: JOB_EVENTS_CAP,
        record_pattern: k.job('{job}'),
        events_pattern: k.jobEvents('{job}'),
        created_ms: now.getTime(),
        batch_fields: JSON.stringify({
          id,
          tenant_id: tenantId,
          status: 'in_progress',
          created_at: now.toISOString(),
          metadata: JSON.stringify(options.metadata ?? null),
          ...(options.webhook_url ? { webhook_url: options.webhook_url } : {}),
          webhook_events: JSON.stringify(options.webhook_events ?? DEFAULT_BATCH_WEBHOOK_EVENTS),
        }),
        common_fields: JSON.stringify(common),
      },
      rest,
    );
    if (kind === 'full') return { ok: false, reason: 'queue_full', queued: queued!, maxQueued: max! };
    const refusal = usageRefusal(kind, queued, max);
    if (refusal) return refusal;
    if (kind === 'disabled') return { ok: false, reason: 'tenant_disabled' };
    if (kind === 'no_tenant') return { ok: false, reason: 'tenant_not_found' };
    void this.scheduler.nudge().catch(() => undefined);
    return { ok: true, batch: (await this.getForTenant(id, tenantId))!, jobIds };
  }

  async getForTenant(id: string, tenantId: string): Promise<BatchView | null> {
    const h = await this.redis.hgetall(this.keys.batch(id));
    if (!h.id || h.tenant_id !== tenantId) return null;
    return this.viewOf(h);
  }

  /** Marks a batch canceling (its jobs are then canceled one by one); false when it had ended. */
  async markCanceling(id: string): Promise<boolean> {
    const key = this.keys.batch(id);
    const status = await this.redis.hget(key, 'status');
    if (status !== 'in_progress') return false;
    await this.redis.hset(key, 'status', 'canceling');
    return true;
  }

  /** The batch's job ids in submission order, `count` from `start`. */
  async jobIds(id: string, start = 0, count = -1): Promise<string[]> {
    return this.redis.lrange(this.keys.batchJobs(id), start, count < 0 ? -1 : start + count - 1);
  }

  /** A tenant's batches, newest first; the cursor is an offset. */
  async list(tenantId: string, options: { limit: number; cursor?: string }): Promise<BatchPage> {
    const index = this.keys.tenantBatches(tenantId);
    const offset = Number(options.cursor ?? 0);
    const ids = await this.redis.zrevrange(index, offset, offset + options.limit - 1);
    const found = await Promise.all(ids.map((id) => this.getForTenant(id, tenantId)));
    const data = found.filter((b): b is BatchView => b !== null);
    const more = (await this.redis.zcard(index)) > offset + ids.length;
    return { data, next_cursor: more ? String(offset + ids.length) : null };
  }

  private viewOf(h: Record<string, string>): BatchView {
    const n = (k: keyof BatchCounts) => Number(h[k] ?? 0);
    const endedAt = h.ended_at ?? null;
    const from = Date.parse(endedAt ?? h.created_at!);
    return {
      id: h.id!,
      status: h.status as BatchStatus,
      request_counts: { queued: n('queued'), running: n('running'), succeeded: n('succeeded'), failed: n('failed'), canceled: n('canceled') },
      total: Number(h.total ?? 0),
      created_at: h.created_at!,
      ended_at: endedAt,
      expires_at: new Date(from + this.retentionSeconds * 1000).toISOString(),
      metadata: h.metadata ? (JSON.parse(h.metadata) as Record<string, unknown> | null) : null,
      webhook_url: h.webhook_url ?? null,
      webhook_events: h.webhook_events ? (JSON.parse(h.webhook_events) as BatchWebhookEventType[]) : [...DEFAULT_BATCH_WEBHOOK_EVENTS],
    };
  }
}


