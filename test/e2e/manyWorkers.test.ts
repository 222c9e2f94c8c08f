/**
 * One API and three worker processes on one Redis, the real CLI in each: 30 jobs all
 * succeed and every prompt reaches the model exactly once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/apiServer.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fakeAnthropic.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { startWorkerProcess, type WorkerProcess } from '../support/workerProcess.js';

let env: TestEnv;
let api: TestApi;
let model: FakeAnthropic;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  model = await startFakeAnthropic();
  api = await startTestApi(env.apiConfig());
  workers = [1, 2, 3].map(() =>
    startWorkerProcess(env.processEnv({ ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'sk-ant-e2e', WORKER_CONCURRENCY: '2' })),
  );
  await Promise.all(workers.map((w) => w.ready));
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await api?.close();
  await model?.close();
  await env?.cleanup();
});

it('30 jobs over 3 worker processes all succeed, each prompt reaching the model once', async () => {
  const tenant = await api.createTenant('many');
  const prompts = Array.from({ length: 30 }, (_, i) => `job number ${i} of thirty`);
  const jobs = await Promise.all(prompts.map((prompt) => submitJob(api, tenant.api_key, { prompt })));
  const done = await Promise.all(jobs.map((j) => waitForFinal(api, tenant.api_key, j.id, 120_000)));

  expect(done.map((d) => d.status)).toEqual(prompts.map(() => 'succeeded'));
  expect(done.map((d) => d.result?.text)).toEqual(prompts.map((p) => `echo: ${p}`));
  for (const prompt of prompts) expect(model.calls.filter((c) => c.prompt === prompt)).toHaveLength(1);
  expect(done.every((d) => d.attempts === 1)).toBe(true);
}, 150_000);

it('the workers stop cleanly on SIGTERM', async () => {
  const codes = await Promise.all(workers.map((w) => w.stop('SIGTERM')));
  expect(codes).toEqual([0, 0, 0]);
});
