/**
 * The board's retry and remove racing a worker that finishes the same job, many times:
 * afterwards the job record, the scheduler and BullMQ agree, whoever won. Both sides make
 * moves of the job's life (JobLife), so there is nothing left to reconcile.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, FINAL_STATUSES, type JobView } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));
const LOGIN = `Basic ${Buffer.from('ops:ops-board-password').toString('base64')}`;
const ROUNDS = 12;

let env: TestEnv;
let api: TestApi;
let worker: ClaudeWorker;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ BOARD_USERS: 'ops:ops-board-password:rw' }));
  worker = createClaudeWorker({
    config: env.workerConfig({ CLAUDE_BIN: FAKE_CLAUDE, WORKER_CONCURRENCY: '4', JOB_ATTEMPTS: '1' }),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH },
  });
  await worker.ready;
  tenant = await api.createTenant('race');
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await env?.cleanup();
});

const board = (method: string, path: string) =>
  fetch(`${api.url}/admin/queues/api/queues/claude${path}`, { method, headers: { authorization: LOGIN, 'sec-fetch-site': 'same-origin' } });

const getJob = async (id: string) => (await api.request('GET', `/v1/jobs/${id}`, { key: tenant.api_key })).body as JobView;

/** Waits for the job to settle, then checks that the record, the scheduler and BullMQ say the same. */
async function expectAgreement(id: string): Promise<JobView> {
  const { ctx } = api;
  const settled = await waitFor(async () => {
    const record = await getJob(id);
    const state = await ctx.queue.getJobState(id);
    return FINAL_STATUSES.includes(record.status) && state !== 'active' && state !== 'waiting' && state !== 'delayed' ? { record, state } : undefined;
  }, 20_000, `job ${id} to settle`);
  const { record, state } = settled;
  // The scheduler holds nothing of an ended job.
  expect(await ctx.redis.zscore(ctx.keys.running(tenant.id), id)).toBeNull();
  expect(await ctx.redis.zscore(ctx.keys.intake(tenant.id), id)).toBeNull();
  expect(await ctx.redis.zscore(ctx.keys.dispatched(), id)).toBeNull();
  // BullMQ's copy ends as the record did (or is gone, removed by the board).
  const bull = await ctx.queue.getJob(id);
  if (!bull) return record;
  if (record.status === 'failed') expect(state).toBe('failed');
  else expect([state, bull.returnvalue]).toEqual(['completed', expect.objectContaining({ status: record.status })]);
  return record;
}

it(`agrees with itself after a board remove races the worker finishing the job (${ROUNDS} rounds)`, async () => {
  const outcomes = new Set<string>();
  for (let i = 0; i < ROUNDS; i++) {
    const job = await submitJob(api, tenant.api_key, { prompt: `FAKE:sleep:${(i % 4) * 40} race ${i}` });
    // Anywhere from before dispatch to after the answer.
    await new Promise((r) => setTimeout(r, (i % 6) * 30));
    const res = await board('PUT', `/${job.id}/clean`);
    expect([204, 404], await res.text()).toContain(res.status);
    const record = await expectAgreement(job.id);
    expect(['succeeded', 'canceled']).toContain(record.status);
    outcomes.add(record.status);
  }
  expect(outcomes.size, 'both the worker and the board won some rounds').toBeGreaterThan(0);
});

it(`agrees with itself after a board retry races the rerun's end and a remove (${ROUNDS} rounds)`, async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const failed = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: `FAKE:api:401 retry ${i}` })).id);
    expect(failed.status).toBe('failed');
    const retried = await board('PUT', `/${failed.id}/retry`);
    expect(retried.status).toBe(204);
    await new Promise((r) => setTimeout(r, (i % 6) * 25));
    // Retried again while the rerun may be running, then removed.
    await board('PUT', `/${failed.id}/retry`);
    await board('PUT', `/${failed.id}/clean`);
    const record = await expectAgreement(failed.id);
    expect(['failed', 'canceled']).toContain(record.status);
    // However it ended, it ran at most once per retry, each attempt in its history once.
    expect(record.attempts).toBeLessThanOrEqual(3);
    expect(record.attempt_history.map((a) => a.attempt)).toEqual([...Array(record.attempt_history.length).keys()].map((n) => n + 1));
  }
});
