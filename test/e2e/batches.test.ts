/**
 * Batches through the whole service with the fake CLI: 500 prompts across three
 * workers, every result once; an invalid request named by its index with nothing
 * enqueued; cancel midway; another tenant's job not held back by a large batch.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, type JobView } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { waitFor } from '../support/env.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { FAKE_CLAUDE, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
const moreWorkers: ClaudeWorker[] = [];

beforeAll(async () => {
  stack = await startStack({ cli: 'fake', worker: { WORKER_CONCURRENCY: '4' } });
  for (let i = 0; i < 2; i++) {
    const worker = createClaudeWorker({
      config: stack.env.workerConfig({ CLAUDE_BIN: FAKE_CLAUDE, WORKER_CONCURRENCY: '4' }),
      logger: createLogger('worker', 'silent'),
      env: { PATH: process.env.PATH },
    });
    await worker.ready;
    moreWorkers.push(worker);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(moreWorkers.map((w) => w.close(1000)));
  await stack?.close();
});

interface Batch {
  id: string;
  status: string;
  total: number;
  request_counts: Record<'queued' | 'running' | 'succeeded' | 'failed' | 'canceled', number>;
}

const post = (key: string, body: unknown) => stack.api.request('POST', '/v1/batches', { key, body });
const getBatch = async (key: string, id: string) => (await stack.api.request('GET', `/v1/batches/${id}`, { key })).body as Batch;
const ended = (key: string, id: string, timeoutMs = 90_000) =>
  waitFor(async () => {
    const b = await getBatch(key, id);
    return b.status === 'ended' ? b : undefined;
  }, timeoutMs, `batch ${id} to end`);

async function results(key: string, id: string): Promise<Array<{ custom_id: string; job_id: string; status: string; result: { text: string } | null }>> {
  const res = await fetch(`${stack.api.url}/v1/batches/${id}/results`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  return (await res.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

it('runs 500 prompts across three workers: every custom_id in the results exactly once', async () => {
  const key = stack.tenant.api_key;
  const requests = Array.from({ length: 500 }, (_, i) => ({ custom_id: `item-${i}`, prompt: `batch prompt ${i}` }));
  const res = await post(key, { requests, metadata: { run: 'first' } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body).toMatchObject({ status: 'in_progress', total: 500, request_counts: { queued: 500, running: 0, succeeded: 0 }, metadata: { run: 'first' } });
  const done = await ended(key, res.body.id);
  expect(done.request_counts).toEqual({ queued: 0, running: 0, succeeded: 500, failed: 0, canceled: 0 });

  const lines = await results(key, res.body.id);
  expect(lines.map((l) => l.custom_id).sort()).toEqual(requests.map((r) => r.custom_id).sort());
  // In submission order, each with its own answer.
  expect(lines.map((l) => l.custom_id)).toEqual(requests.map((r) => r.custom_id));
  expect(lines[7]).toMatchObject({ status: 'succeeded', result: { text: expect.stringContaining('batch prompt 7') } });
  // Each an ordinary job too, carrying its batch and custom_id.
  const job = (await stack.api.request('GET', `/v1/jobs/${lines[7]!.job_id}`, { key })).body as JobView;
  expect(job).toMatchObject({ batch_id: res.body.id, custom_id: 'item-7', status: 'succeeded' });
  const list = await stack.api.request('GET', '/v1/batches', { key });
  expect(list.body.data.map((b: Batch) => b.id)).toContain(res.body.id);
}, 120_000);

it('names an invalid request by its index and field, all of them, and enqueues nothing', async () => {
  const key = stack.tenant.api_key;
  const queuedBefore = await stack.api.ctx.scheduler.queued(stack.tenant.id);
  const batchesBefore = (await stack.api.request('GET', '/v1/batches?limit=100', { key })).body.data.length;
  const requests = Array.from({ length: 300 }, (_, i) => ({ custom_id: `bad-${i}`, prompt: `p ${i}` }));
  requests[137] = { custom_id: 'bad-137', prompt: '' };
  requests[200] = { custom_id: 'bad-5', prompt: 'p' };
  const res = await post(key, { requests });
  expect(res.status).toBe(400);
  expect(res.body.code).toBe('invalid_request');
  expect(res.body.errors).toEqual([
    { field: 'requests[137].prompt', message: 'must not be empty' },
    { field: 'requests[200].custom_id', message: 'repeats requests[5].custom_id: each must be unique in the batch' },
  ]);
  expect(await stack.api.ctx.scheduler.queued(stack.tenant.id)).toBe(queuedBefore);
  expect((await stack.api.request('GET', '/v1/batches?limit=100', { key })).body.data).toHaveLength(batchesBefore);
});

it('cancels midway: nothing left running or queued, and the counts add up', async () => {
  const key = stack.tenant.api_key;
  const requests = Array.from({ length: 120 }, (_, i) => ({ custom_id: `c-${i}`, prompt: `FAKE:sleep:200 cancel ${i}` }));
  const res = await post(key, { requests });
  expect(res.status).toBe(202);
  await waitFor(async () => ((await getBatch(key, res.body.id)).request_counts.succeeded >= 12 ? true : undefined), 60_000, 'some requests to finish');
  const canceled = await stack.api.request('POST', `/v1/batches/${res.body.id}/cancel`, { key });
  expect(canceled.status).toBe(200);
  expect(['canceling', 'ended']).toContain(canceled.body.status);
  const done = await ended(key, res.body.id);
  const c = done.request_counts;
  expect(c.queued + c.running).toBe(0);
  expect(c.succeeded + c.failed + c.canceled).toBe(120);
  expect(c.canceled).toBeGreaterThan(0);
  expect(c.succeeded).toBeGreaterThanOrEqual(12);
  const lines = await results(key, res.body.id);
  expect(lines).toHaveLength(120);
  expect(new Set(lines.map((l) => l.status))).toEqual(new Set(c.failed ? ['succeeded', 'canceled', 'failed'] : ['succeeded', 'canceled']));
  // Canceled again: it has ended.
  expect((await stack.api.request('POST', `/v1/batches/${res.body.id}/cancel`, { key })).status).toBe(409);
}, 120_000);

it("does not hold back another tenant's single job behind a large batch, nor the tenant's own ordinary one", async () => {
  const key = stack.tenant.api_key;
  const requests = Array.from({ length: 240 }, (_, i) => ({ custom_id: `big-${i}`, prompt: `FAKE:sleep:150 big ${i}` }));
  const res = await post(key, { requests });
  expect(res.status).toBe(202);
  await waitFor(async () => ((await getBatch(key, res.body.id)).request_counts.running > 0 ? true : undefined), 30_000, 'the batch to run');
  const other = await stack.api.createTenant('other-batch');
  const single = await submitJob(stack.api, other.api_key, { prompt: 'just me' });
  const done = await waitForFinal(stack.api, other.api_key, single.id, 60_000);
  expect(done.status).toBe('succeeded');
  // It finished while most of the batch was still waiting.
  const batch = await getBatch(key, res.body.id);
  expect(batch.request_counts.queued).toBeGreaterThan(120);
  // Nor is the tenant's own ordinary job starved by its batch: it queues ahead of the batch's (priority 50 against 90).
  const own = await submitJob(stack.api, key, { prompt: 'mine, interactive' });
  expect((await waitForFinal(stack.api, key, own.id, 60_000)).status).toBe('succeeded');
  expect((await getBatch(key, res.body.id)).request_counts.queued).toBeGreaterThan(90);
  await stack.api.request('POST', `/v1/batches/${res.body.id}/cancel`, { key });
  await ended(key, res.body.id);
}, 120_000);

it('retries only the failed requests, keeping their custom_ids, until they succeed', async () => {
  const key = stack.tenant.api_key;
  // The fake CLI fails `FAKE:api:401` (auth_failed, not retryable); the model answers otherwise.
  const requests = [
    { custom_id: 'ok-1', prompt: 'fine one' },
    { custom_id: 'bad-1', prompt: 'FAKE:api:401 fails' },
    { custom_id: 'ok-2', prompt: 'fine two' },
  ];
  const res = await post(key, { requests });
  const first = await ended(key, res.body.id);
  expect(first.request_counts).toMatchObject({ succeeded: 2, failed: 1 });
  const lines = await results(key, res.body.id);
  const failedJob = lines.find((l) => l.custom_id === 'bad-1')!;
  expect(failedJob.status).toBe('failed');

  const retried = await stack.api.request('POST', `/v1/batches/${res.body.id}/retry`, { key });
  expect(retried.status).toBe(200);
  expect(retried.body).toMatchObject({ retried: 1, status: 'in_progress', request_counts: { queued: 1, failed: 0, succeeded: 2 } });
  const again = await ended(key, res.body.id);
  // It fails again (the same prompt): one more attempt on the same job, the others untouched.
  expect(again.request_counts).toMatchObject({ succeeded: 2, failed: 1, queued: 0 });
  const job = (await stack.api.request('GET', `/v1/jobs/${failedJob.job_id}`, { key })).body as JobView;
  expect(job).toMatchObject({ custom_id: 'bad-1', attempts: 2 });
  expect(job.attempt_history.map((a) => a.code)).toEqual(['auth_failed', 'auth_failed']);
}, 120_000);

it('takes the same requests as JSON lines, naming a bad one by its line; Idempotency-Key answers the first batch again', async () => {
  const key = stack.tenant.api_key;
  const send = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${stack.api.url}/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson', ...headers }, body });
  const bad = await send(['{"custom_id":"l1","prompt":"one"}', '', '{"custom_id":"l3","prompt":""}'].join('\n'));
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { errors: unknown }).errors).toEqual([{ field: 'line 3.prompt', message: 'must not be empty' }]);
  const garbled = await send('{"custom_id":"x","prompt":"ok"}\n{not json\n');
  expect(garbled.status).toBe(400);
  expect(await garbled.json()).toMatchObject({ code: 'invalid_json', errors: [{ field: 'line 2' }] });

  const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ custom_id: `nd-${i}`, prompt: `line prompt ${i} é` })).join('\n');
  const first = await send(lines, { 'idempotency-key': 'nd-batch-1' });
  expect(first.status).toBe(202);
  const batch = (await first.json()) as Batch;
  const again = await send(lines, { 'idempotency-key': 'nd-batch-1' });
  expect(again.status).toBe(200);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(((await again.json()) as Batch).id).toBe(batch.id);
  await ended(key, batch.id);
  const out = await results(key, batch.id);
  expect(out.map((l) => l.custom_id)).toEqual(Array.from({ length: 20 }, (_, i) => `nd-${i}`));
  expect(out[3]!.result!.text).toContain('line prompt 3 é');
}, 120_000);

it("answers another tenant's batch as missing: no view, results, deliveries, cancel or retry, and not in its list", async () => {
  const key = stack.tenant.api_key;
  const res = await post(key, { requests: [{ custom_id: 'secret-1', prompt: 'mine alone' }] });
  expect(res.status).toBe(202);
  const done = await ended(key, res.body.id);
  const intruder = await stack.api.createTenant('batch-intruder');
  for (const [method, path] of [
    ['GET', `/v1/batches/${done.id}`],
    ['GET', `/v1/batches/${done.id}/results`],
    ['GET', `/v1/batches/${done.id}/deliveries`],
    ['POST', `/v1/batches/${done.id}/cancel`],
    ['POST', `/v1/batches/${done.id}/retry`],
    // An id that would name another key of the batch's in Redis.
    ['GET', `/v1/batches/${done.id}:jobs`],
  ] as const) {
    const answer = await stack.api.request(method, path, { key: intruder.api_key });
    expect(answer.status, `${method} ${path}`).toBe(404);
    expect(JSON.stringify(answer.body)).not.toContain('mine alone');
  }
  expect((await stack.api.request('GET', '/v1/batches', { key: intruder.api_key })).body.data).toEqual([]);
  // Untouched for its owner.
  expect(await getBatch(key, done.id)).toMatchObject({ status: 'ended', request_counts: { succeeded: 1 } });
  expect((await results(key, done.id)).map((l) => l.custom_id)).toEqual(['secret-1']);
});
