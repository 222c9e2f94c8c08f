/** /v1/jobs: submit, read and list a tenant's jobs. Every lookup is scoped by the key's tenant. */
import { Router } from 'express';
import { z } from 'zod';
import { enqueueClaudeJob, JOB_STATUSES, toView } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { HttpProblem, notFound } from '../problem.js';

const listQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.uuid({ error: 'must be a next_cursor from an earlier page' }).optional(),
});

const jobIdParam = z.uuid();

export function jobsRouter(ctx: ApiContext): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const tenant = req.tenant!;
    if (req.body === undefined) throw new HttpProblem(400, 'invalid_request', 'a JSON body is required', { errors: [{ field: 'prompt', message: 'is required' }] });
    const request = ctx.jobRequestSchema.parse(req.body);
    if (request.session_id && !(await ctx.sessions.getForTenant(request.session_id, tenant.id))) {
      throw new HttpProblem(404, 'session_not_found', 'no session with this session_id for this tenant', {
        errors: [{ field: 'session_id', message: 'not found' }],
      });
    }
    const record = await ctx.jobs.create(tenant.id, request);
    try {
      await enqueueClaudeJob(ctx.queue, record.id, { tenantId: tenant.id });
    } catch (err) {
      // Nothing half-done: a job that isn't in the queue has no record either.
      await ctx.jobs.delete(record).catch(() => undefined);
      throw err;
    }
    req.log.info({ job_id: record.id, tenant_id: tenant.id }, 'job enqueued');
    res.status(202).location(`/v1/jobs/${record.id}`).json(toView(record));
  });

  router.get('/', async (req, res) => {
    const query = listQuery.parse(req.query);
    res.json(await ctx.jobs.list(req.tenant!.id, query));
  });

  router.get('/:id', async (req, res) => {
    const id = jobIdParam.safeParse(req.params.id);
    const job = id.success ? await ctx.jobs.getForTenant(id.data, req.tenant!.id) : null;
    if (!job) throw notFound('job');
    res.json(toView(job));
  });

  return router;
}
