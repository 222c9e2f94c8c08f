/** /v1/jobs: submit, read, list and cancel a tenant's jobs. Every lookup is scoped by the key's tenant. */
import { Router } from 'express';
import { describeJobStatus, jsonDepthExceeds, MAX_JSON_DEPTH, FINAL_STATUSES, toView } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { idempotencyKeyOf } from '../idempotency.js';
import { jobListQuery } from '../jobListQuery.js';
import { findTenantJob } from '../jobs/findJob.js';
import { awaitFinal, holdWaitLease } from '../jobs/longPoll.js';
import { submitJob } from '../jobs/submitJob.js';
import { preferredWait } from '../prefer.js';
import { HttpProblem } from '../problem.js';
import { streamJobEvents } from './jobEvents.js';

export function jobsRouter(ctx: ApiContext): Router {
  const router = Router();
  const findJob = (req: Parameters<typeof findTenantJob>[1]) => findTenantJob(ctx, req);

  router.post('/', async (req, res) => {
    const tenant = req.tenant!;
    if (req.body === undefined) {
      throw new HttpProblem(400, 'invalid_request', 'a JSON body is required', { errors: [{ field: 'prompt', message: 'is required' }] });
    }
    // Before anything walks the body recursively (validation, hashing, storing).
    if (jsonDepthExceeds(req.body)) {
      throw new HttpProblem(400, 'invalid_request', `the body nests deeper than ${MAX_JSON_DEPTH} levels`, {
        errors: [{ field: '(body)', message: 'nested too deeply' }],
      });
    }
    const request = ctx.jobRequestSchema.parse(req.body);
    const idempotencyKey = idempotencyKeyOf(req);

    const wait = preferredWait(req.get('prefer'));
    await holdWaitLease(ctx, tenant.id, wait, res);
    const { record, replayed } = await submitJob(ctx, tenant.id, request, idempotencyKey);
    if (replayed) res.set('Idempotent-Replayed', 'true');
    else req.log.info({ job_id: record.id, tenant_id: tenant.id }, 'job enqueued');
    let answered = record;
    let status = replayed ? 200 : 202;
    if (wait !== null) {
      res.set('Preference-Applied', `wait=${wait}`);
      answered = await awaitFinal(ctx, record, wait, res);
      // Final within the wait: the answer is the finished job.
      if (status === 202 && FINAL_STATUSES.includes(answered.status)) status = 200;
    }
    res.status(status).location(`/v1/jobs/${answered.id}`).json(toView(answered));
  });

  router.get('/', async (req, res) => {
    const query = jobListQuery.parse(req.query);
    res.json(await ctx.jobs.list(req.tenant!.id, query));
  });

  router.get('/:id', async (req, res) => {
    let job = await findJob(req);
    const wait = preferredWait(req.get('prefer'));
    await holdWaitLease(ctx, job.tenant_id, wait, res, job);
    if (wait !== null) {
      res.set('Preference-Applied', `wait=${wait}`);
      job = await awaitFinal(ctx, job, wait, res);
    }
    res.json(toView(job));
  });

  router.get('/:id/events', streamJobEvents(ctx, findJob));

  router.post('/:id/cancel', async (req, res) => {
    const job = await findJob(req);
    const outcome = await ctx.life.cancel({ id: job.id, tenantId: job.tenant_id }, 'caller');
    if (!outcome.moved) throw new HttpProblem(409, 'job_already_final', `the job ${describeJobStatus(outcome.status, { already: true })}`);
    req.log.info({ job_id: job.id, tenant_id: job.tenant_id }, 'job canceled');
    res.json(toView(await findJob(req)));
  });

  return router;
}
