/**
 * Usage per day (tenant and admin views), and isolation: every tenant route takes the
 * tenant from the key, so tenant B never sees, changes or counts tenant A's jobs.
 * Jobs end here through the moves a worker makes (JobLife); no worker runs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobLife, type JobResult } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { startJob } from '../../../test/support/jobMoves.js';
import { submitJob } from '../../../test/support/jobs.js';
import { expectProblem } from './expectProblem.js';

const DAY_MS = 86_400_000;
const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);

let env: TestEnv;
let api: TestApi;
let tenantA: { id: string; api_key: string };
let tenantB: { id: string; api_key: string };
let today: string;
let yesterday: string;
/** A's job that stays queued, and the session it started. */
let queuedA: string;
const sessionA = randomUUID();

function result(cost: number, usage: Record<string, number>): JobResult {
  return { text: 'ok', session_id: randomUUID(), num_turns: 1, duration_ms: 10, total_cost_usd: cost, usage, structured_output: null };
}

/** Submits a job for A and ends it as a worker would, on the given day. */
async function finishJob(status: 'succeeded' | 'failed', day: string, jobResult: JobResult | null): Promise<void> {
  const job = await submitJob(api, tenantA.api_key, { prompt: `${status} on ${day}` });
  await startJob(api.ctx, job.id);
  // The same moves a worker makes, stamped on that day.
  const life = new JobLife(api.ctx.redis, api.ctx.keys, api.ctx.scheduler, { retentionSeconds: 3600, queue: api.ctx.queue, clock: () => Date.parse(`${day}T12:00:00.000Z`) });
  const ref = { id: job.id, tenantId: tenantA.id };
  if (status === 'succeeded') await life.succeed(ref, jobResult!);
  // It throws what BullMQ is told (UnrecoverableError).
  else await expect(life.fail(ref, { code: 'cli_error', message: 'failed', retryable: false }, undefined, jobResult ?? undefined)).rejects.toThrow('cli_error');
}

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  tenantA = await api.createTenant('a');
  tenantB = await api.createTenant('b');
  today = dayOf(Date.now());
  yesterday = dayOf(Date.now() - DAY_MS);

  await finishJob('succeeded', yesterday, result(0.1, { input_tokens: 10, output_tokens: 20, cache_read_input_tokens: 5, cache_creation_input_tokens: 1 }));
  // A failed run still costs what it spent.
  await finishJob('failed', yesterday, result(0.2, { input_tokens: 1, output_tokens: 2 }));
  await finishJob('succeeded', today, result(0.3, { input_tokens: 100, output_tokens: 200, cache_read_input_tokens: 50, cache_creation_input_tokens: 10 }));
  const canceled = await submitJob(api, tenantA.api_key, { prompt: 'canceled today' });
  expect((await api.request('POST', `/v1/jobs/${canceled.id}/cancel`, { key: tenantA.api_key })).status).toBe(200);

  queuedA = (await submitJob(api, tenantA.api_key, { prompt: "A's secret prompt" })).id;
  await api.ctx.sessions.record(sessionA, tenantA.id, 'ws-a');
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

const EXPECTED_A = {
  days: [
    {
      date: 'yesterday',
      jobs: { succeeded: 1, failed: 1, canceled: 0 },
      cost_usd: 0.3,
      tokens: { input: 11, output: 22, cache_read: 5, cache_creation: 1 },
    },
    {
      date: 'today',
      jobs: { succeeded: 1, failed: 0, canceled: 1 },
      cost_usd: 0.3,
      tokens: { input: 100, output: 200, cache_read: 50, cache_creation: 10 },
    },
  ],
  totals: { jobs: { succeeded: 2, failed: 1, canceled: 1 }, cost_usd: 0.6, tokens: { input: 111, output: 222, cache_read: 55, cache_creation: 11 } },
};

const expectedA = (from: string, to: string) => ({
  from,
  to,
  days: EXPECTED_A.days.map((d) => ({ ...d, date: d.date === 'today' ? today : yesterday })),
  totals: EXPECTED_A.totals,
  // Where the tenant stands now: its records' bytes, the deployment's default quota, no budget.
  stored_bytes: expect.any(Number),
  max_stored_bytes: 1024 ** 3,
  budget: null,
});

const EMPTY_TOTALS = { jobs: { succeeded: 0, failed: 0, canceled: 0 }, cost_usd: 0, tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 } };

describe('GET /v1/usage', () => {
  it('sums per day and in total, leaving out days without usage', async () => {
    const from = dayOf(Date.now() - 5 * DAY_MS);
    const res = await api.request('GET', `/v1/usage?from=${from}&to=${today}`, { key: tenantA.api_key });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(expectedA(from, today));
  });

  it('defaults to the last 30 days up to today (UTC)', async () => {
    const res = await api.request('GET', '/v1/usage', { key: tenantA.api_key });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(expectedA(dayOf(Date.parse(today) - 29 * DAY_MS), today));
  });

  it('counts only the days asked for', async () => {
    const res = await api.request('GET', `/v1/usage?from=${today}&to=${today}`, { key: tenantA.api_key });
    expect(res.body.days.map((d: { date: string }) => d.date)).toEqual([today]);
    const { date: _date, ...todayTotals } = EXPECTED_A.days[1]!;
    expect(res.body.totals).toEqual(todayTotals);
  });

  it('accepts a range of 366 days', async () => {
    const from = dayOf(Date.parse(today) - 365 * DAY_MS);
    expect((await api.request('GET', `/v1/usage?from=${from}&to=${today}`, { key: tenantA.api_key })).status).toBe(200);
  });

  it.each([
    ['a date that is not YYYY-MM-DD', '?from=2025-1-01', 'from'],
    ['a day that does not exist', '?from=2025-02-30&to=2025-03-01', 'from'],
    ['a month that does not exist', '?to=2025-13-01', 'to'],
    ['from after to', '?from=2025-03-02&to=2025-03-01', 'from'],
    ['a range over 366 days', '?from=2024-01-01&to=2025-01-02', 'from'],
    ['an unknown parameter', '?tenant_id=x', 'tenant_id'],
  ])('refuses %s with 400 naming the field', async (_name, query, field) => {
    expectProblem(await api.request('GET', `/v1/usage${query}`, { key: tenantA.api_key }), { status: 400, code: 'invalid_request', field });
  });
});

describe('GET /v1/admin/tenants/{id}/usage', () => {
  it("shows a tenant's usage to the admin", async () => {
    const res = await api.request('GET', `/v1/admin/tenants/${tenantA.id}/usage?from=${yesterday}&to=${today}`, { key: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(expectedA(yesterday, today));
  });

  it('validates the range as the tenant endpoint does', async () => {
    const res = await api.request('GET', `/v1/admin/tenants/${tenantA.id}/usage?to=yesterday`, { key: ADMIN_TOKEN });
    expectProblem(res, { status: 400, code: 'invalid_request', field: 'to' });
  });

  it('is refused to a tenant key', async () => {
    const res = await api.request('GET', `/v1/admin/tenants/${tenantA.id}/usage`, { key: tenantA.api_key });
    expectProblem(res, { status: 401, code: 'unauthorized' });
  });
});

describe("tenant B with tenant A's ids", () => {
  const asB = (method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) =>
    api.request(method, path, { key: tenantB.api_key, ...options });

  it.each([
    { route: 'GET /v1/jobs/{id}', call: () => asB('GET', `/v1/jobs/${queuedA}`), status: 404, code: 'not_found' },
    { route: 'POST /v1/jobs/{id}/cancel', call: () => asB('POST', `/v1/jobs/${queuedA}/cancel`), status: 404, code: 'not_found' },
    {
      route: 'POST /v1/jobs with session_id',
      call: () => asB('POST', '/v1/jobs', { body: { prompt: 'resume', session_id: sessionA } }),
      status: 404,
      code: 'session_not_found',
    },
    {
      route: 'POST /v1/jobs naming a tenant',
      call: () => asB('POST', '/v1/jobs', { body: { prompt: 'as a', tenant_id: tenantA.id } }),
      status: 400,
      code: 'invalid_request',
    },
    { route: 'GET /v1/usage naming a tenant', call: () => asB('GET', `/v1/usage?tenant_id=${tenantA.id}`), status: 400, code: 'invalid_request' },
    { route: 'GET /v1/admin/tenants/{id}', call: () => asB('GET', `/v1/admin/tenants/${tenantA.id}`), status: 401, code: 'unauthorized' },
  ])('$route answers $status', async ({ call, status, code }) => {
    const res = await call();
    expectProblem(res, { status, code });
    expect(JSON.stringify(res.body)).not.toContain("A's secret prompt");
  });

  it("leaves A's job as it was", async () => {
    const own = await api.request('GET', `/v1/jobs/${queuedA}`, { key: tenantA.api_key });
    expect(own.body).toMatchObject({ id: queuedA, status: 'queued' });
  });

  it("never lists A's jobs, whatever the cursor", async () => {
    for (const query of ['?limit=100', `?cursor=${queuedA}`, '?status=queued', '?status=succeeded']) {
      const res = await asB('GET', `/v1/jobs${query}`);
      expect(res.status).toBe(200);
      expect(res.body.data, query).toEqual([]);
    }
  });

  it("replays A's Idempotency-Key only to A", async () => {
    const first = await api.request('POST', '/v1/jobs', { key: tenantA.api_key, body: { prompt: 'same' }, headers: { 'idempotency-key': 'shared-key' } });
    const other = await asB('POST', '/v1/jobs', { body: { prompt: 'same' }, headers: { 'idempotency-key': 'shared-key' } });
    expect(first.status).toBe(202);
    expect(other.status).toBe(202);
    expect(other.body.id).not.toBe(first.body.id);
  });

  it("never counts A's usage in B's", async () => {
    const own = await asB('GET', `/v1/usage?from=${yesterday}&to=${today}`);
    expect(own.body).toEqual({ from: yesterday, to: today, days: [], totals: EMPTY_TOTALS, stored_bytes: expect.any(Number), max_stored_bytes: 1024 ** 3, budget: null });
    const admin = await api.request('GET', `/v1/admin/tenants/${tenantB.id}/usage?from=${yesterday}&to=${today}`, { key: ADMIN_TOKEN });
    expect(admin.body.totals).toEqual(EMPTY_TOTALS);
  });
});
