/**
 * Cancel of jobs no worker holds, and idempotent submits. No worker runs here: jobs
 * stay queued (cancel of running jobs across workers: apps/worker/test/reliability.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { submitJob } from '../../../test/support/jobs.js';
import { expectProblem } from './expectProblem.js';

let env: TestEnv;
let api: TestApi;
let tenant: { id: string; api_key: string };
let other: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  tenant = await api.createTenant('canceler');
  other = await api.createTenant('other');
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

const cancel = (id: string, key = tenant.api_key) => api.request('POST', `/v1/jobs/${id}/cancel`, { key });

describe('POST /v1/jobs/{id}/cancel', () => {
  it('cancels a queued job and takes it out of the queue', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'never mind' });
    // No worker runs here: the job waits in its tenant's intake for a dispatcher.
    const waiting = await api.ctx.scheduler.queued(tenant.id);
    const res = await cancel(job.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: job.id,
      status: 'canceled',
      finished_at: expect.any(String),
      error: { code: 'canceled', message: expect.any(String), retryable: false },
    });
    expect(await api.ctx.scheduler.queued(tenant.id)).toBe(waiting - 1);
    expect(await api.ctx.queue.getJob(job.id)).toBeUndefined();
    expect((await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key })).body.status).toBe('canceled');
  });

  it('answers 409 for a job that is already final', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'twice' });
    await cancel(job.id);
    expectProblem(await cancel(job.id), { status: 409, code: 'job_already_final' });
  });

  it("answers 404 for another tenant's job and leaves it alone", async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'mine' });
    expectProblem(await cancel(job.id, other.api_key), { status: 404, code: 'not_found' });
    expect((await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key })).body.status).toBe('queued');
  });
});

describe('Idempotency-Key', () => {
  const post = (key: string, body: unknown, idempotencyKey: string) =>
    api.request('POST', '/v1/jobs', { key, body, headers: { 'idempotency-key': idempotencyKey } });

  it('returns the original job for the same key and body, not a second job', async () => {
    const first = await post(tenant.api_key, { prompt: 'once', metadata: { a: 1, b: 2 } }, 'key-same');
    expect(first.status).toBe(202);
    // The same request with its object keys in another order is the same request.
    const again = await post(tenant.api_key, { metadata: { b: 2, a: 1 }, prompt: 'once' }, 'key-same');
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    const list = await api.request('GET', '/v1/jobs?limit=100', { key: tenant.api_key });
    expect(list.body.data.filter((j: { request: { prompt: string } }) => j.request.prompt === 'once')).toHaveLength(1);
  });

  it('answers 422 for the same key with a different body, and enqueues nothing', async () => {
    await post(tenant.api_key, { prompt: 'first body' }, 'key-reused');
    const before = await api.ctx.scheduler.queued(tenant.id);
    expectProblem(await post(tenant.api_key, { prompt: 'second body' }, 'key-reused'), { status: 422, code: 'idempotency_key_reused' });
    expect(await api.ctx.scheduler.queued(tenant.id)).toBe(before);
  });

  it('scopes keys by tenant', async () => {
    const mine = await post(tenant.api_key, { prompt: 'scoped' }, 'key-scoped');
    const theirs = await post(other.api_key, { prompt: 'scoped' }, 'key-scoped');
    expect(mine.status).toBe(202);
    expect(theirs.status).toBe(202);
    expect(theirs.body.id).not.toBe(mine.body.id);
  });

  it('creates exactly one job from 20 concurrent submits with one key', async () => {
    const before = await api.ctx.scheduler.queued(tenant.id);
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(tenant.api_key, { prompt: 'stampede' }, 'key-stampede')));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    // The rest saw the first one in progress (409) or done (200, the same job).
    expect(statuses.every((s) => s === 202 || s === 200 || s === 409)).toBe(true);
    const ids = new Set(answers.filter((a) => a.status < 300).map((a) => a.body.id));
    expect(ids.size).toBe(1);
    for (const a of answers.filter((x) => x.status === 409)) {
      expectProblem(a, { status: 409, code: 'idempotency_key_in_progress' });
    }
    expect(await api.ctx.scheduler.queued(tenant.id)).toBe(before + 1);
    // Once the first is done, the key replays it.
    const later = await post(tenant.api_key, { prompt: 'stampede' }, 'key-stampede');
    expect(later.status).toBe(200);
    expect(ids.has(later.body.id)).toBe(true);
  });

  it('refuses a malformed key', async () => {
    expectProblem(await post(tenant.api_key, { prompt: 'x' }, 'has space'), { status: 400, code: 'invalid_request', field: 'Idempotency-Key' });
  });
});
