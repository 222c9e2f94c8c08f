/**
 * /v1/batches: many prompts in one request, each an ordinary job (GET /v1/jobs/{id},
 * its events) carrying its batch's id and its own `custom_id`. Submitted in one step
 * (BatchStore.submit: one script, one round trip), or not at all: every invalid request
 * is named by its index and field, and nothing of an invalid batch is enqueued.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import {
  BATCH_WEBHOOK_EVENT_TYPES,
  FINAL_STATUSES,
  JOB_SERVICE_EVENT_TYPES,
  jsonDepthExceeds,
  MAX_JSON_DEPTH,
  type BatchItem,
  type BatchOptions,
  type JobRecord,
  type JobServiceEventType,
} from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { idempotencyKeyOf } from '../idempotency.js';
import { checkWebhookUrl, usageProblem } from '../jobs/submitJob.js';
import { isPathId } from '../pathId.js';
import { HttpProblem } from '../problem.js';

/** A request's `custom_id`: the caller's own key for it, unique within its batch. */
export const CUSTOM_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export const batchListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^\d{1,9}$/, 'must be a next_cursor from an earlier page').optional(),
});

/** Records read per round trip while streaming results or canceling. */
const CHUNK = 200;

/**
 * A batch's body around its requests, which are checked one by one after it (each as a
 * job request: `ctx.jobRequestSchema`); the OpenAPI document's BatchRequest is this.
 */
export function batchBodySchema(ctx: Pick<ApiContext, 'config' | 'jobRequestSchema'>) {
  const max = ctx.config.BATCH_MAX_REQUESTS;
  return z.strictObject({
    requests: z.array(z.unknown()).min(1, 'must hold at least one request').max(max, `must hold at most ${max} requests (BATCH_MAX_REQUESTS)`),
    metadata: z.record(z.string(), z.unknown()).optional(),
    webhook_url: ctx.jobRequestSchema.shape.webhook_url,
    /** Default ['batch.ended']; job events listed here are sent for each request too. */
    webhook_events: z.array(z.enum(BATCH_WEBHOOK_EVENT_TYPES)).min(1).max(BATCH_WEBHOOK_EVENT_TYPES.length).optional(),
  });
}

interface FieldError {
  field: string;
  message: string;
}

export function batchesRouter(ctx: ApiContext): Router {
  const router = Router();
  const notFound = () => new HttpProblem(404, 'not_found', 'no batch with this id for this tenant');

  async function findBatch(req: Request) {
    const id = req.params.id;
    const batch = isPathId(id) ? await ctx.batches.getForTenant(id, req.tenant!.id) : null;
    if (!batch) throw notFound();
    return batch;
  }

  /** Every request checked; all errors named `requests[i].field` (`line n.field` for JSON lines). */
  function parseBatch(body: unknown, lines?: number[]): { items: BatchItem[]; options: BatchOptions } {
    const shape = batchBodySchema(ctx).safeParse(body);
    if (!shape.success) {
      const errors = shape.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
      throw new HttpProblem(400, 'invalid_request', `${errors[0]!.field}: ${errors[0]!.message}`, { errors });
    }
    const { metadata, webhook_url, webhook_events } = shape.data;
    // Each request sends the job events the batch asks for (none by default), where the batch's go.
    const jobEvents = (webhook_events ?? []).filter((e): e is JobServiceEventType => (JOB_SERVICE_EVENT_TYPES as readonly string[]).includes(e));
    const jobWebhooks = { ...(webhook_url ? { webhook_url } : {}), ...(jobEvents.length ? { webhook_events: jobEvents } : {}) };
    const errors: FieldError[] = [];
    const items: BatchItem[] = [];
    const seen = new Map<string, number>();
    shape.data.requests.forEach((raw, i) => {
      const at = lines ? `line ${lines[i]}` : `requests[${i}]`;
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return void errors.push({ field: at, message: 'must be an object' });
      const { custom_id, ...fields } = raw as Record<string, unknown>;
      if (typeof custom_id !== 'string' || !CUSTOM_ID.test(custom_id)) {
        errors.push({ field: `${at}.custom_id`, message: 'is required: 1 to 64 letters, digits, _ . : or -' });
      } else if (seen.has(custom_id)) {
        const first = seen.get(custom_id)!;
        errors.push({ field: `${at}.custom_id`, message: `repeats ${lines ? `line ${lines[first]}` : `requests[${first}]`}.custom_id: each must be unique in the batch` });
      } else {
        seen.set(custom_id, i);
      }
      // A batch's requests begin conversations of their own, queue at the batch's
      // priority and send the webhooks the batch asks for.
      for (const name of ['session_id', 'fork', 'priority', 'webhook_url', 'webhook_events'] as const) {
        if (name in fields) errors.push({ field: `${at}.${name}`, message: name.startsWith('webhook') ? 'is set on the batch, not on its requests' : 'is not allowed in a batch request' });
      }
      const parsed = ctx.jobRequestSchema.safeParse(fields);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) errors.push({ field: [at, ...issue.path].join('.'), message: issue.message });
        return;
      }
      if (typeof custom_id === 'string') items.push({ custom_id, request: { ...parsed.data, ...jobWebhooks } });
    });
    if (errors.length > 0) {
      throw new HttpProblem(400, 'invalid_request', `${errors.length} error(s); first: ${errors[0]!.field}: ${errors[0]!.message}`, { errors });
    }
    return { items, options: { ...(metadata ? { metadata } : {}), ...(webhook_url ? { webhook_url } : {}), ...(webhook_events ? { webhook_events } : {}) } };
  }

  router.post('/', async (req, res) => {
    if (req.body === undefined) throw new HttpProblem(400, 'invalid_request', 'a JSON body is required', { errors: [{ field: 'requests', message: 'is required' }] });
    if (jsonDepthExceeds(req.body)) {
      throw new HttpProblem(400, 'invalid_request', `the body nests deeper than ${MAX_JSON_DEPTH} levels`, { errors: [{ field: '(body)', message: 'nested too deeply' }] });
    }
    const idempotencyKey = idempotencyKeyOf(req);
    const { items, options } = parseBatch(req.body, req.batchLines);
    if (options.webhook_url) await checkWebhookUrl(ctx, options.webhook_url);
    const tenantId = req.tenant!.id;
    // As for jobs (jobs/submitJob.ts): the key remembers the batch it created.
    const claim = idempotencyKey === undefined ? null : await ctx.idempotency.claim(tenantId, idempotencyKey, { batch: req.body });
    if (claim?.kind === 'mismatch') throw new HttpProblem(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request');
    if (claim?.kind === 'in_progress') {
      throw new HttpProblem(409, 'idempotency_key_in_progress', 'a request with this Idempotency-Key is still being handled', { headers: { 'Retry-After': '1' } });
    }
    if (claim?.kind === 'replay') {
      const original = await ctx.batches.getForTenant(claim.jobId, tenantId);
      if (!original) throw new HttpProblem(410, 'expired', 'the batch this Idempotency-Key created has expired');
      res.set('Idempotent-Replayed', 'true');
      return void res.status(200).location(`/v1/batches/${original.id}`).json(original);
    }
    // Refused or failed: the key is free again, as for a job.
    const abandon = async () => {
      if (claim?.kind === 'new') await claim.abandon().catch(() => undefined);
    };
    const outcome = await ctx.batches.submit(tenantId, items, options).catch(async (err: unknown) => {
      await abandon();
      throw err;
    });
    if (!outcome.ok) await abandon();
    if (!outcome.ok) {
      if (outcome.reason === 'queue_full') {
        throw new HttpProblem(429, 'queue_full', `the batch's ${items.length} requests don't fit: ${outcome.queued} jobs waiting (max_queued: ${outcome.maxQueued})`, {
          headers: { 'Retry-After': '5' },
        });
      }
      if (outcome.reason === 'budget_exhausted' || outcome.reason === 'storage_full') throw usageProblem(outcome, "the batch's requests");
      throw new HttpProblem(401, 'unauthorized', 'this tenant is disabled');
    }
    if (claim?.kind === 'new') await claim.complete(outcome.batch.id);
    req.log.info({ tenant_id: tenantId, batch_id: outcome.batch.id, requests: items.length }, 'batch submitted');
    res.status(202).location(`/v1/batches/${outcome.batch.id}`).json(outcome.batch);
  });

  router.get('/', async (req, res) => {
    res.json(await ctx.batches.list(req.tenant!.id, batchListQuery.parse(req.query)));
  });

  router.get('/:id', async (req, res) => {
    res.json(await findBatch(req));
  });

  /**
   * The results of the requests that have finished, as JSON lines, in submission order;
   * usable while the batch runs (the requests not finished yet are left out).
   */
  router.get('/:id/results', async (req, res) => {
    const batch = await findBatch(req);
    res.status(200).type('application/x-ndjson');
    for (let start = 0; start < batch.total; start += CHUNK) {
      const ids = await ctx.batches.jobIds(batch.id, start, CHUNK);
      const records = await Promise.all(ids.map((id) => ctx.jobs.get(id)));
      const lines = records
        .filter((r): r is JobRecord => r !== null && FINAL_STATUSES.includes(r.status))
        .map((r) => `${JSON.stringify({ custom_id: r.custom_id, job_id: r.id, status: r.status, result: r.result, error: r.error })}\n`);
      if (lines.length && !res.write(lines.join(''))) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  });

  /** The attempts to deliver the batch's own webhook (batch.ended); its requests' are on each job. */
  router.get('/:id/deliveries', async (req, res) => {
    const batch = await findBatch(req);
    res.json({ data: await ctx.deliveries.list({ kind: 'batch', id: batch.id }) });
  });

  /** Queued requests are canceled without starting; running ones are stopped. The batch ends once they all have. */
  router.post('/:id/cancel', async (req, res) => {
    const batch = await findBatch(req);
    if (!(await ctx.batches.markCanceling(batch.id))) throw new HttpProblem(409, 'job_already_final', `the batch is ${batch.status}`);
    for (let start = 0; start < batch.total; start += CHUNK) {
      const ids = await ctx.batches.jobIds(batch.id, start, CHUNK);
      await Promise.all(ids.map((id) => ctx.life.cancel({ id, tenantId: req.tenant!.id }, 'caller')));
    }
    req.log.info({ tenant_id: req.tenant!.id, batch_id: batch.id }, 'batch canceled');
    res.json(await findBatch(req));
  });

  /**
   * Runs again only the requests that failed, keeping their custom_ids and job ids (each
   * job is reopened, its attempt history kept); the batch is in progress until they end.
   */
  router.post('/:id/retry', async (req, res) => {
    const batch = await findBatch(req);
    if (batch.status !== 'ended') throw new HttpProblem(409, 'job_already_final', 'the batch has not ended: retry its failed requests once it has');
    let retried = 0;
    for (let start = 0; start < batch.total; start += CHUNK) {
      const ids = await ctx.batches.jobIds(batch.id, start, CHUNK);
      const records = await Promise.all(ids.map((id) => ctx.jobs.get(id)));
      const failed = records.filter((r): r is JobRecord => r?.status === 'failed');
      const outcomes = await Promise.all(failed.map((r) => ctx.life.reopen({ id: r.id, tenantId: r.tenant_id })));
      retried += outcomes.filter((o) => o.moved).length;
    }
    req.log.info({ tenant_id: req.tenant!.id, batch_id: batch.id, retried }, 'batch failures retried');
    res.json({ ...(await findBatch(req)), retried });
  });

  return router;
}
