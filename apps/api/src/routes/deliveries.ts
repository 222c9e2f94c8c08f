/**
 * /v1/jobs/{id}/deliveries: a job's webhook delivery attempts, and sending its events
 * again. Mounted on that path in app.ts (the router reads `:id` with mergeParams), so
 * the jobs router needs no route of its own for it.
 */
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import {
  enqueueWebhookDelivery,
  FINAL_STATUSES,
  retentionSeconds,
  wantsWebhookEvent,
  webhookJobIdOf,
  webhookUrlFor,
  type JobRecord,
  type JobServiceEventType,
  type JobDeliveryPayload,
} from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { findTenantJob } from '../jobs/findJob.js';
import { REDELIVERIES_PER_MINUTE, Redeliveries } from '../jobs/redeliveries.js';
import { HttpProblem } from '../problem.js';

export function deliveriesRouter(ctx: ApiContext): Router {
  const router = Router({ mergeParams: true });
  const redeliveries = new Redeliveries(ctx.redis, ctx.keys, ctx.webhookQueue, { markerTtlSeconds: retentionSeconds(ctx.config) });

  const findJob = (req: Request) => findTenantJob(ctx, req);

  router.get('/', async (req, res) => {
    const job = await findJob(req);
    res.json({ data: await ctx.deliveries.list({ kind: 'job', id: job.id }) });
  });

  /**
   * Sends the job's events again: each with its original webhook-id (receivers dedupe
   * on it) as a new delivery with attempts of its own. The events are those already
   * attempted and those the job has had so far (its latest start, its ending) that
   * it asks for; 409 when there is nowhere to send them, or while the previous
   * redelivery to that URL is still under way; 429 past the tenant's rate
   * (jobs/redeliveries.ts).
   */
  router.post('/redeliver', async (req, res) => {
    const job = await findJob(req);
    const tenant = await ctx.tenants.get(job.tenant_id);
    const url = webhookUrlFor(job.request.webhook_url, tenant?.webhook_url ?? null);
    if (!url) throw new HttpProblem(409, 'webhook_not_configured', 'neither the job nor its tenant has a webhook_url');
    const redelivery = randomUUID();
    const events = await eventsOf(job);
    const claim = await redeliveries.claim(job.tenant_id, job.id, url, redelivery, events.map((e) => webhookJobIdOf(e, redelivery)));
    if (claim.kind === 'in_progress') {
      throw new HttpProblem(409, 'redelivery_in_progress', 'the previous redelivery of this job to its webhook_url still has deliveries waiting or running; see GET /v1/jobs/{id}/deliveries');
    }
    if (claim.kind === 'rate_limited') {
      throw new HttpProblem(429, 'too_many_redeliveries', `more than ${REDELIVERIES_PER_MINUTE} redeliveries per minute for this tenant; retry in ${claim.retryAfterSeconds} s`, {
        headers: { 'Retry-After': String(claim.retryAfterSeconds) },
      });
    }
    const sent: Array<{ id: string; type: JobServiceEventType }> = [];
    for (const event of events) {
      const id = await enqueueWebhookDelivery(ctx.webhookQueue, event, { retryScheduleMs: ctx.config.WEBHOOK_RETRY_SCHEDULE_MS, redelivery });
      sent.push({ id, type: event.type });
    }
    req.log.info({ job_id: job.id, tenant_id: job.tenant_id, events: sent.length }, 'webhook redelivery requested');
    res.status(202).json({ data: sent });
  });

  /** The job's events worth sending again, one per delivery id, oldest first. */
  async function eventsOf(job: JobRecord): Promise<JobDeliveryPayload[]> {
    const events = new Map<string, JobDeliveryPayload>();
    const add = (type: JobServiceEventType, jobAttempt: number, at: string | null) => {
      const key = type === 'job.started' ? `${type}.${jobAttempt}` : type;
      if (!events.has(key)) events.set(key, { tenantId: job.tenant_id, jobId: job.id, type, jobAttempt, eventAt: at ? Date.parse(at) : Date.now() });
    };
    if (job.started_at && job.attempts > 0 && wantsWebhookEvent(job, 'job.started')) add('job.started', job.attempts, job.started_at);
    const final = FINAL_STATUSES.includes(job.status) ? (`job.${job.status}` as JobServiceEventType) : null;
    if (final && wantsWebhookEvent(job, final)) add(final, job.attempts, job.finished_at);
    // Earlier starts (a retried job) are known from their deliveries only; their first
    // attempt's time stands in for the event's.
    for (const attempt of await ctx.deliveries.list({ kind: 'job', id: job.id })) {
      // A delivery id is `<job>.<type>` or `<job>.job.started.<attempt>` (webhookTarget.ts).
      const jobAttempt = attempt.type === 'job.started' ? Number(attempt.id.split('.').pop()) : job.attempts;
      add(attempt.type as JobServiceEventType, jobAttempt, attempt.at);
    }
    return [...events.values()].sort((a, b) => a.eventAt - b.eventAt);
  }

  return router;
}
