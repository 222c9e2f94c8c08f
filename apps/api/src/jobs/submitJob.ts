/**
 * Submitting a job: its references checked (webhook and MCP URLs, the session it
 * continues), then one atomic step (JobLife.submit: the record and its place in the
 * tenant's intake, or neither), under an optional Idempotency-Key.
 */
import { checkPublicUrl, jobRequestConflict, type JobRecord, type JobRequest, type SubmitRefusal } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { HttpProblem } from '../problem.js';

/** A full queue drains at the tenant's pace, unknown here: a few seconds is a fair first guess. */
const QUEUE_FULL_RETRY_SECONDS = 5;

export interface Submitted {
  record: JobRecord;
  /** The Idempotency-Key had created this job before: the original is answered. */
  replayed: boolean;
}

export async function submitJob(ctx: ApiContext, tenantId: string, request: JobRequest, idempotencyKey?: string): Promise<Submitted> {
  if (idempotencyKey === undefined) {
    await checkReferences(ctx, tenantId, request);
    return { record: await submit(ctx, tenantId, request), replayed: false };
  }
  // A replay answers with the original job, whatever has changed since (an expired
  // session, say): the key is looked up before the request is checked again.
  const claim = await ctx.idempotency.claim(tenantId, idempotencyKey, request);
  if (claim.kind === 'mismatch') {
    throw new HttpProblem(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request');
  }
  if (claim.kind === 'in_progress') {
    throw new HttpProblem(409, 'idempotency_key_in_progress', 'a request with this Idempotency-Key is still being handled', {
      headers: { 'Retry-After': '1' },
    });
  }
  if (claim.kind === 'replay') {
    const original = await ctx.jobs.getForTenant(claim.jobId, tenantId);
    if (!original) throw new HttpProblem(410, 'expired', 'the job this Idempotency-Key created has expired');
    return { record: original, replayed: true };
  }
  let record: JobRecord;
  try {
    await checkReferences(ctx, tenantId, request);
    record = await submit(ctx, tenantId, request);
  } catch (err) {
    await claim.abandon().catch(() => undefined);
    throw err;
  }
  await claim.complete(record.id);
  return { record, replayed: false };
}

async function submit(ctx: ApiContext, tenantId: string, request: JobRequest): Promise<JobRecord> {
  const outcome = await ctx.life.submit(tenantId, request);
  if (outcome.ok) return outcome.record;
  if (outcome.reason === 'queue_full') {
    throw new HttpProblem(429, 'queue_full', `this tenant already has ${outcome.queued} jobs waiting (max_queued: ${outcome.maxQueued})`, {
      headers: {
        'Retry-After': String(QUEUE_FULL_RETRY_SECONDS),
        'RateLimit-Policy': `"queued";q=${outcome.maxQueued}`,
        RateLimit: `"queued";r=0;t=${QUEUE_FULL_RETRY_SECONDS}`,
      },
    });
  }
  if (outcome.reason === 'budget_exhausted' || outcome.reason === 'storage_full') throw usageProblem(outcome);
  // Disabled or deleted between authentication and now: as authentication would answer.
  throw new HttpProblem(401, 'unauthorized', 'this tenant is disabled');
}

/** Seconds a tenant out of storage is told to wait: records expire continuously, so room comes back by and by. */
const STORAGE_FULL_RETRY_SECONDS = 60;

/** A submit (a job's or a batch's) refused by the tenant's usage: its budget, or the room its records take. */
export function usageProblem(refusal: SubmitRefusal, what = 'this job'): HttpProblem {
  if (refusal.reason === 'budget_exhausted') {
    const seconds = Math.max(1, Math.ceil((refusal.untilMs - Date.now()) / 1000));
    return new HttpProblem(
      429,
      'budget_exhausted',
      `this tenant has spent its budget_usd for the period: new jobs are accepted again from ${new Date(refusal.untilMs).toISOString()}`,
      { headers: { 'Retry-After': String(seconds) } },
    );
  }
  return new HttpProblem(
    429,
    'storage_full',
    `this tenant's jobs hold ${refusal.stored} bytes in storage (max_stored_bytes: ${refusal.maxStored}), with no room for ${what}: finished jobs free theirs when they expire (JOB_RETENTION_HOURS)`,
    { headers: { 'Retry-After': String(STORAGE_FULL_RETRY_SECONDS) } },
  );
}

/**
 * A job's or a batch's `webhook_url`: refused now when it can be known (an IP literal,
 * or a name with only blocked addresses); the delivery checks the address it connects to again.
 */
export async function checkWebhookUrl(ctx: ApiContext, url: string): Promise<void> {
  const check = await checkPublicUrl(url, { allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE });
  if (!check.ok) throw new HttpProblem(400, 'invalid_request', `webhook_url: ${check.reason}`, { errors: [{ field: 'webhook_url', message: check.reason }] });
}

/** What a new job must pass besides its schema: checks that read the network or Redis. */
async function checkReferences(ctx: ApiContext, tenantId: string, request: JobRequest): Promise<void> {
  const conflict = jobRequestConflict(request);
  if (conflict) throw new HttpProblem(400, 'invalid_request', `${conflict.field}: ${conflict.message}`, { errors: [conflict] });
  if (request.webhook_url) await checkWebhookUrl(ctx, request.webhook_url);
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
