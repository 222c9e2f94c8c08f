/**
 * What one tenant may take of what all share, tried through the API as a tenant would:
 * the storage its job records hold (max_stored_bytes), and its model spend
 * (budget_usd), with the fake CLI (each run reports $0.001) and a webhook receiver for
 * `tenant.budget_reached`. Records expire after 1.8 s here (JOB_RETENTION_HOURS).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, waitFor } from '../support/env.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { startStack, type Stack } from '../support/stack.js';

const RETENTION = { JOB_RETENTION_HOURS: '0.0005', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_MS: '200' };

let stack: Stack;
let receiver: Server;
let receiverUrl: string;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  stack = await startStack({ cli: 'fake', api: RETENTION, worker: RETENTION });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
}, 60_000);

afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
  await stack?.close();
});

const admin = (method: string, path: string, body?: unknown) => stack.api.request(method, path, { key: ADMIN_TOKEN, body });

async function tenantWith(name: string, limits: Record<string, unknown>): Promise<{ id: string; api_key: string; webhook_secret: string }> {
  const res = await admin('POST', '/v1/admin/tenants', { name, limits });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const usage = async (key: string) => (await stack.api.request('GET', '/v1/usage', { key })).body;

it('refuses a submit past max_stored_bytes (429 storage_full, nothing enqueued) until finished jobs expire', async () => {
  // One start a day: the first job takes it, so the large ones stay queued and hold only what they were submitted with.
  const t = await tenantWith('hoarder', { max_stored_bytes: 200_000, rate: { max: 1, per_seconds: 86_400 } });
  await waitForFinal(stack.api, t.api_key, (await submitJob(stack.api, t.api_key, { prompt: 'the one start' })).id);
  const big = { prompt: 'x'.repeat(60_000), metadata: { note: 'y'.repeat(1000) } };
  const accepted: string[] = [];
  let refused: { status: number; headers: Headers; body: any } | undefined;
  for (let i = 0; i < 10 && !refused; i++) {
    const res = await stack.api.request('POST', '/v1/jobs', { key: t.api_key, body: big });
    if (res.status === 202) accepted.push(res.body.id);
    else refused = res;
  }
  // 200,000 bytes hold three 61 KB records beside the first job's, not four.
  expect(accepted).toHaveLength(3);
  expect(refused!.status).toBe(429);
  expect(refused!.body).toMatchObject({ code: 'storage_full', detail: expect.stringContaining('max_stored_bytes: 200000') });
  expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await stack.api.ctx.scheduler.queued(t.id)).toBe(3);
  const standing = await usage(t.api_key);
  expect(standing.max_stored_bytes).toBe(200_000);
  expect(standing.stored_bytes).toBeGreaterThan(3 * 61_000);
  expect(standing.stored_bytes).toBeLessThanOrEqual(200_000);

  // A batch is all or nothing against the same room.
  const batch = await stack.api.request('POST', '/v1/batches', { key: t.api_key, body: { requests: [{ custom_id: 'a', prompt: 'small' }, { custom_id: 'b', ...big }] } });
  expect(batch.status).toBe(429);
  expect(batch.body.code).toBe('storage_full');
  expect((await stack.api.request('GET', '/v1/batches', { key: t.api_key })).body.data).toEqual([]);

  // Canceled records still hold their bytes until they expire: canceling is no way around the quota.
  for (const id of accepted) expect((await stack.api.request('POST', `/v1/jobs/${id}/cancel`, { key: t.api_key })).status).toBe(200);
  expect((await stack.api.request('POST', '/v1/jobs', { key: t.api_key, body: big })).status).toBe(429);
  // Once they expired, the room is back.
  await waitFor(async () => ((await stack.api.request('POST', '/v1/jobs', { key: t.api_key, body: big })).status === 202 ? true : undefined), 15_000, 'room after expiry');
  // Every canceled record's bytes are released once it expired: what is left is the new job (and the first one's small record, until it expires too).
  await waitFor(async () => ((await usage(t.api_key)).stored_bytes < 64_000 ? true : undefined), 15_000, 'every canceled record released');
}, 60_000);

it('holds a tenant at its budget: no new submits, no starts of queued jobs, one tenant.budget_reached; a raise frees it', async () => {
  const t = await tenantWith('spender', { budget_usd: { amount: 0.0025, per: 'day' }, max_concurrency: 1 });
  expect((await admin('PATCH', `/v1/admin/tenants/${t.id}`, { webhook_url: receiverUrl })).status).toBe(200);
  for (const prompt of ['one', 'two']) await waitForFinal(stack.api, t.api_key, (await submitJob(stack.api, t.api_key, { prompt })).id);
  // The third run reaches the budget; the fourth, queued behind it, must not start.
  const third = await submitJob(stack.api, t.api_key, { prompt: 'FAKE:sleep:800 three' });
  const fourth = await submitJob(stack.api, t.api_key, { prompt: 'four' });
  expect((await waitForFinal(stack.api, t.api_key, third.id)).status).toBe('succeeded');

  const refused = await stack.api.request('POST', '/v1/jobs', { key: t.api_key, body: { prompt: 'five' } });
  expect(refused.status).toBe(429);
  expect(refused.body.code).toBe('budget_exhausted');
  const midnight = new Date();
  midnight.setUTCHours(24, 0, 0, 0);
  const retryAfter = Number(refused.headers.get('retry-after'));
  expect(Math.abs(retryAfter - (midnight.getTime() - Date.now()) / 1000)).toBeLessThan(5);
  expect((await usage(t.api_key)).budget).toMatchObject({
    amount: 0.0025,
    per: 'day',
    period: new Date().toISOString().slice(0, 10),
    left_usd: 0,
    held: true,
    resets_at: midnight.toISOString(),
  });
  expect((await usage(t.api_key)).budget.spent_usd).toBeCloseTo(0.003, 6);

  // One delivery, signed with the tenant's secret like any webhook (its jobs' own go to the same URL).
  const reached = () => received.filter((r) => String(r.headers['webhook-id']).includes('.tenant.budget_reached.'));
  await waitFor(() => (reached().length >= 1 ? true : undefined), 15_000, 'tenant.budget_reached');
  const payload = new Webhook(t.webhook_secret).verify(reached()[0]!.body, reached()[0]!.headers as Record<string, string>) as any;
  expect(payload).toMatchObject({ type: 'tenant.budget_reached', data: { tenant_id: t.id, period: new Date().toISOString().slice(0, 10), budget: { amount: 0.0025, per: 'day' } } });
  expect(payload.data.spent_usd).toBeCloseTo(0.003, 6);
  expect(reached()[0]!.headers['webhook-id']).toBe(`${t.id}.tenant.budget_reached.${payload.data.period}`);
  // The fourth job was accepted before the budget ran out: it waits, queued, for the next period.
  expect((await stack.api.request('GET', `/v1/jobs/${fourth.id}`, { key: t.api_key })).body.status).toBe('queued');

  // An operator raises the budget: the hold ends at once, and the waiting job runs.
  expect((await admin('PATCH', `/v1/admin/tenants/${t.id}`, { limits: { budget_usd: { amount: 0.0045, per: 'day' }, max_concurrency: 1 } })).status).toBe(200);
  expect((await waitForFinal(stack.api, t.api_key, fourth.id)).status).toBe('succeeded');
  const fifth = await submitJob(stack.api, t.api_key, { prompt: 'five' });
  await waitForFinal(stack.api, t.api_key, fifth.id);
  // Reached again in the same day: held again, but announced once a period.
  expect((await stack.api.request('POST', '/v1/jobs', { key: t.api_key, body: { prompt: 'six' } })).body.code).toBe('budget_exhausted');
  await new Promise((r) => setTimeout(r, 1000));
  expect(reached()).toHaveLength(1);
}, 60_000);
