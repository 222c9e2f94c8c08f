/**
 * Tenant limits held across three worker processes (4 slots each), measured from the
 * jobs' own start and end times; and credentials that reach only their tenant's CLI.
 * The workers run the fake `claude` (test/support/fake-claude.mjs).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationPaths, type JobView } from '@claude-queue/shared';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';
import { startWorkerProcess, type WorkerProcess } from '../../../test/support/workerProcess.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));
const SECRETS_KEY = randomBytes(32).toString('base64');

let env: TestEnv;
let api: TestApi;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ SECRETS_KEY }));
  workers = [1, 2, 3].map(() =>
    startWorkerProcess(
      env.processEnv({
        CLAUDE_BIN: FAKE_CLAUDE,
        WORKER_CONCURRENCY: '4',
        SECRETS_KEY,
        ANTHROPIC_API_KEY: 'sk-deployment',
        WORKER_LOCK_DURATION_MS: '2000',
        WORKER_STALLED_INTERVAL_MS: '1000',
      }),
    ),
  );
  await Promise.all(workers.map((w) => w.ready));
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await api?.close();
  await env?.cleanup();
});

async function tenantWith(body: Record<string, unknown>): Promise<{ id: string; api_key: string }> {
  const tenant = await api.createTenant('limited');
  const res = await api.request('PATCH', `/v1/admin/tenants/${tenant.id}`, { key: ADMIN_TOKEN, body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return tenant;
}

/** The most jobs that were running at one moment, from their start and end times. */
function peakConcurrency(jobs: JobView[]): number {
  const events = jobs.flatMap((j) => [
    [Date.parse(j.started_at!), 1],
    [Date.parse(j.finished_at!), -1],
  ]);
  // Ends sort before starts at the same millisecond: a slot freed and taken again.
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let running = 0;
  let peak = 0;
  for (const [, delta] of events) peak = Math.max(peak, (running += delta!));
  return peak;
}

describe('limits across 3 workers x 4 slots', () => {
  it('max_concurrency 2: 20 jobs, never more than 2 at once, all succeed with one attempt each', async () => {
    const tenant = await tenantWith({ limits: { max_concurrency: 2 } });
    const jobs = await Promise.all(Array.from({ length: 20 }, (_, i) => submitJob(api, tenant.api_key, { prompt: `FAKE:sleep:150 c${i}` })));
    const done = await Promise.all(jobs.map((j) => waitForFinal(api, tenant.api_key, j.id, 60_000)));
    expect(done.every((d) => d.status === 'succeeded' && d.attempts === 1)).toBe(true);
    expect(peakConcurrency(done)).toBe(2);
  }, 90_000);

  it('rate 5 per 10 s: 15 jobs start in three waves at least 10 s apart', async () => {
    const tenant = await tenantWith({ limits: { rate: { max: 5, per_seconds: 10 } } });
    const jobs = await Promise.all(Array.from({ length: 15 }, (_, i) => submitJob(api, tenant.api_key, { prompt: `rated ${i}` })));
    const done = await Promise.all(jobs.map((j) => waitForFinal(api, tenant.api_key, j.id, 60_000)));
    expect(done.every((d) => d.status === 'succeeded' && d.attempts === 1)).toBe(true);
    const starts = done.map((d) => Date.parse(d.started_at!)).sort((a, b) => a - b);
    const waves = [starts.slice(0, 5), starts.slice(5, 10), starts.slice(10)];
    // Within the rolling window no sixth job may start: each job starts ≥ 10 s after the one five before it.
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 5]!).toBeGreaterThanOrEqual(10_000);
    expect(Math.min(...waves[1]!) - Math.max(...waves[0]!)).toBeGreaterThan(5_000);
    expect(Math.min(...waves[2]!) - Math.max(...waves[1]!)).toBeGreaterThan(5_000);
  }, 60_000);

  it("frees a SIGKILLed worker's slot: the tenant's next job still runs", async () => {
    const tenant = await tenantWith({ limits: { max_concurrency: 1 } });
    const first = await submitJob(api, tenant.api_key, { prompt: 'FAKE:sleep:3000 holds the only slot' });
    const second = await submitJob(api, tenant.api_key, { prompt: 'waits for the slot' });
    // Find and kill the worker that runs the first job.
    const holder = await waitForHolder(first.id);
    await holder.stop('SIGKILL');
    const done = await Promise.all([waitForFinal(api, tenant.api_key, first.id, 30_000), waitForFinal(api, tenant.api_key, second.id, 30_000)]);
    expect(done.map((d) => d.status)).toEqual(['succeeded', 'succeeded']);
    expect(done[0]!.attempt_history.map((a) => a.code)).toEqual(['worker_lost']);
    expect(Date.parse(done[1]!.started_at!)).toBeGreaterThanOrEqual(Date.parse(done[0]!.finished_at!));
  }, 60_000);
});

describe('credentials per tenant', () => {
  // That each key reaches the model API is proven with the real CLI (test/e2e/sandbox.test.ts).
  it("keeps both the tenant's own API key and the deployment's out of the run's environment", async () => {
    const own = await tenantWith({ credentials: { anthropic_api_key: 'sk-tenant-own-key' } });
    const plain = await api.createTenant('plain');
    const [ownJob, plainJob] = await Promise.all([
      submitJob(api, own.api_key, { prompt: 'with my key' }),
      submitJob(api, plain.api_key, { prompt: 'with the deployment key' }),
    ]);
    await Promise.all([waitForFinal(api, own.api_key, ownJob.id), waitForFinal(api, plain.api_key, plainJob.id)]);
    const envOf = async (tenantId: string, jobId: string) =>
      (JSON.parse(await readFile(path.join(conversationPaths(env.dataDir, tenantId, jobId).workspace, 'fake-claude-call.json'), 'utf8')) as {
        env: Record<string, string>;
      }).env;
    const [ownEnv, plainEnv] = [await envOf(own.id, ownJob.id), await envOf(plain.id, plainJob.id)];
    // A placeholder the sandbox's proxy replaces on the way to the model API.
    expect(ownEnv.ANTHROPIC_API_KEY).toMatch(/placeholder/);
    expect(plainEnv.ANTHROPIC_API_KEY).toMatch(/placeholder/);
    expect(JSON.stringify([ownEnv, plainEnv])).not.toMatch(/sk-tenant-own-key|sk-deployment/);
    // Nor is it anywhere in the job or its BullMQ copy.
    const stored = JSON.stringify([await api.ctx.jobs.get(ownJob.id), (await api.ctx.queue.getJob(ownJob.id))?.asJSON()]);
    expect(stored).not.toContain('sk-tenant-own-key');
  });
});

/** The worker process whose log says it is running the job. */
async function waitForHolder(jobId: string): Promise<WorkerProcess> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const holder = workers.find((w) => w.output().includes(jobId));
    if (holder) return holder;
    if (Date.now() > deadline) throw new Error(`no worker picked up ${jobId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
