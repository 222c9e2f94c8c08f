/** /v1/jobs: submit, read, list and cancel a tenant's jobs. Every lookup is scoped by the key's tenant. */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import {
  checkPublicUrl,
  DEFAULT_PRIORITY,
  jsonDepthExceeds,
  MAX_JSON_DEPTH,
  FINAL_STATUSES,
  JOB_STATUSES,
  publishCancel,
  toView,
  type JobRecord,
  type JobRequest,
  type SubmitOutcome,
} from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { preferredWait } from '../prefer.js';
import { HttpProblem, notFound } from '../problem.js';
import { streamJobEvents } from './jobEvents.js';

const listQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.uuid({ error: 'must be a next_cursor from an earlier page' }).optional(),
});

const jobIdParam = z.uuid();

/** A full queue drains at the tenant's pace, unknown here: a few seconds is a fair first guess. */
const QUEUE_FULL_RETRY_SECONDS = 5;

/** Printable ASCII, as the IETF Idempotency-Key draft's examples; 255 is plenty for a uuid or a hash. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function jobsRouter(ctx: ApiContext): Router {
  const router = Router();

  async function findJob(req: Request): Promise<JobRecord> {
    const id = jobIdParam.safeParse(req.params.id);
    const job = id.success ? await ctx.jobs.getForTenant(id.data, req.tenant!.id) : null;
    if (job) return job;
    if (id.success && (await ctx.jobs.wasTenantJob(id.data, req.tenant!.id))) {
      throw new HttpProblem(404, 'expired', `the job finished more than JOB_RETENTION_HOURS (${ctx.config.JOB_RETENTION_HOURS}) ago and was removed`);
    }
    throw notFound('job');
  }

  /**
   * Long-poll (`Prefer: wait=N`): the job as soon as it is final, or as it stands after
   * N seconds. Woken by the process's one job-events subscription, not by polling.
   */
  async function awaitFinal(job: JobRecord, waitSeconds: number, res: Response): Promise<JobRecord> {
    if (waitSeconds === 0 || FINAL_STATUSES.includes(job.status)) return job;
    return new Promise<JobRecord>((resolve) => {
      let done = false;
      let unwatch: (() => void) | undefined;
      const finish = (record: JobRecord | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unwatch?.();
        res.off('close', onClose);
        resolve(record ?? job);
      };
      const check = async () => {
        const now = await ctx.jobs.get(job.id).catch(() => null);
        if (!now || FINAL_STATUSES.includes(now.status)) finish(now);
      };
      // The response's close, not the request's: a request "closes" once its body is read.
      const onClose = () => finish(null);
      const timer = setTimeout(() => void ctx.jobs.get(job.id).then(finish, () => finish(null)), waitSeconds * 1000);
      res.on('close', onClose);
      void ctx.watcher.watch(job.id, () => void check()).then((stop) => {
        unwatch = stop;
        if (done) stop();
        // It may have ended before we were watching.
        else void check();
      });
    });
  }

  /**
   * Writes the record, then hands the job to the scheduler, which refuses it past the
   * tenant's max_queued. Refused or failed, the record goes too: nothing half-done.
   */
  async function createJob(tenantId: string, request: JobRequest): Promise<JobRecord> {
    const record = await ctx.jobs.create(tenantId, request);
    let outcome: SubmitOutcome;
    try {
      outcome = await ctx.scheduler.submit(tenantId, record.id, request.priority ?? DEFAULT_PRIORITY);
    } catch (err) {
      await ctx.jobs.delete(record).catch(() => undefined);
      throw err;
    }
    if (!outcome.accepted) {
      await ctx.jobs.delete(record);
      throw new HttpProblem(429, 'queue_full', `this tenant already has ${outcome.queued} jobs waiting (max_queued: ${outcome.maxQueued})`, {
        headers: {
          'Retry-After': String(QUEUE_FULL_RETRY_SECONDS),
          'RateLimit-Policy': `"queued";q=${outcome.maxQueued}`,
          RateLimit: `"queued";r=0;t=${QUEUE_FULL_RETRY_SECONDS}`,
        },
      });
    }
    // Idle workers dispatch at once instead of at their next tick.
    void ctx.scheduler.nudge().catch(() => undefined);
    return record;
  }

  /** What a new job must pass besides its schema: checks that read the network or Redis. */
  async function checkReferences(tenantId: string, request: JobRequest): Promise<void> {
    if (request.webhook_url) {
      // Refused now when it can be known (an IP literal, or a name with only blocked
      // addresses); the delivery checks the address it connects to again.
      const check = await checkPublicUrl(request.webhook_url, { allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE });
      if (!check.ok) {
        throw new HttpProblem(400, 'invalid_request', `webhook_url: ${check.reason}`, { errors: [{ field: 'webhook_url', message: check.reason }] });
      }
    }
    // The schema refused IP literals and localhost; a name that resolves only to
    // non-public addresses is refused here, and the sandbox's proxy checks the address
    // each connection goes to.
    for (const [name, server] of Object.entries(request.mcp_config?.mcpServers ?? {})) {
      if (typeof server.url !== 'string') continue;
      const check = await checkPublicUrl(server.url, { allowPrivate: ctx.config.MCP_ALLOW_PRIVATE, purpose: 'MCP servers' });
      if (!check.ok) {
        const field = `mcp_config.mcpServers.${name}.url`;
        throw new HttpProblem(400, 'invalid_request', `${field}: ${check.reason}`, { errors: [{ field, message: check.reason }] });
      }
    }
    if (request.session_id && !(await ctx.sessions.getForTenant(request.session_id, tenantId))) {
      throw new HttpProblem(404, 'session_not_found', 'no session with this session_id for this tenant', {
        errors: [{ field: 'session_id', message: 'not found' }],
      });
    }
  }

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
    const idempotencyKey = req.get('idempotency-key');
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new HttpProblem(400, 'invalid_request', 'Idempotency-Key must be 1 to 255 printable ASCII characters', {
        errors: [{ field: 'Idempotency-Key', message: 'invalid' }],
      });
    }

    const wait = preferredWait(req.get('prefer'));
    const answer = async (record: JobRecord, status: number) => {
      if (wait !== null) {
        res.set('Preference-Applied', `wait=${wait}`);
        record = await awaitFinal(record, wait, res);
        // Final within the wait: the answer is the finished job.
        if (status === 202 && FINAL_STATUSES.includes(record.status)) status = 200;
      }
      res.status(status).location(`/v1/jobs/${record.id}`).json(toView(record));
    };

    if (idempotencyKey === undefined) {
      await checkReferences(tenant.id, request);
      const record = await createJob(tenant.id, request);
      req.log.info({ job_id: record.id, tenant_id: tenant.id }, 'job enqueued');
      return answer(record, 202);
    }

    // A replay answers with the original job, whatever has changed since (an expired
    // session, say): the key is looked up before the request is checked again.
    const claim = await ctx.idempotency.claim(tenant.id, idempotencyKey, request);
    if (claim.kind === 'mismatch') {
      throw new HttpProblem(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request');
    }
    if (claim.kind === 'in_progress') {
      throw new HttpProblem(409, 'idempotency_key_in_progress', 'a request with this Idempotency-Key is still being handled', {
        headers: { 'Retry-After': '1' },
      });
    }
    if (claim.kind === 'replay') {
      const original = await ctx.jobs.getForTenant(claim.jobId, tenant.id);
      if (!original) throw new HttpProblem(410, 'expired', 'the job this Idempotency-Key created has expired');
      res.set('Idempotent-Replayed', 'true');
      return answer(original, 200);
    }
    let record: JobRecord;
    try {
      await checkReferences(tenant.id, request);
      record = await createJob(tenant.id, request);
    } catch (err) {
      await claim.abandon().catch(() => undefined);
      throw err;
    }
    await claim.complete(record.id);
    req.log.info({ job_id: record.id, tenant_id: tenant.id }, 'job enqueued');
    return answer(record, 202);
  });

  router.get('/', async (req, res) => {
    const query = listQuery.parse(req.query);
    res.json(await ctx.jobs.list(req.tenant!.id, query));
  });

  router.get('/:id', async (req, res) => {
    let job = await findJob(req);
    const wait = preferredWait(req.get('prefer'));
    if (wait !== null) {
      res.set('Preference-Applied', `wait=${wait}`);
      job = await awaitFinal(job, wait, res);
    }
    res.json(toView(job));
  });

  router.get('/:id/events', streamJobEvents(ctx, findJob));

  router.post('/:id/cancel', async (req, res) => {
    const job = await findJob(req);
    const alreadyFinal = () => new HttpProblem(409, 'job_already_final', `the job is already ${job.status}`);
    if (FINAL_STATUSES.includes(job.status)) throw alreadyFinal();
    // The record turns canceled first, so a worker that finishes the run now can no
    // longer record a result over it (JobStore.transition is a check-and-set).
    const canceled = await ctx.jobs.transition(job.id, ['queued', 'running'], 'canceled', {
      finished_at: new Date().toISOString(),
      error: { code: 'canceled', message: 'canceled by the caller', retryable: false },
      next_attempt_at: null,
    });
    if (!canceled) {
      const now = await findJob(req);
      throw new HttpProblem(409, 'job_already_final', `the job is already ${now.status}`);
    }
    // Whichever worker runs it stops it; a job that has not started leaves the intake
    // or the queue (a running one is locked and stays until its worker lets go).
    await ctx.scheduler.withdraw(job.tenant_id, job.id);
    await publishCancel(ctx.redis, ctx.keys, job.id);
    await ctx.queue.remove(job.id).catch(() => 0);
    req.log.info({ job_id: job.id, tenant_id: job.tenant_id }, 'job canceled');
    res.json(toView(await findJob(req)));
  });

  return router;
}
