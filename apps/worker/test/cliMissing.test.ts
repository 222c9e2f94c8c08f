/** A worker whose CLI does not run takes no jobs: they wait for a worker that can run them. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '../src/createWorker.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { submitJob } from '../../../test/support/jobs.js';

let env: TestEnv;
let api: TestApi;
let worker: ClaudeWorker;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  worker = createClaudeWorker({
    config: env.workerConfig({ CLAUDE_BIN: '/nonexistent/claude' }),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH },
  });
  await worker.ready;
});

afterAll(async () => {
  await worker?.close(1000);
  await api?.close();
  await env?.cleanup();
});

it('leaves jobs waiting instead of failing them with cli_error', async () => {
  const tenant = await api.createTenant('no-cli');
  const job = await submitJob(api, tenant.api_key, { prompt: 'nobody can run me here' });
  // Several dispatch ticks (250 ms) pass with the job in reach.
  await new Promise((r) => setTimeout(r, 1500));
  const now = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key });
  expect(now.body).toMatchObject({ status: 'queued', attempts: 0 });
  expect(await api.ctx.scheduler.queued(tenant.id)).toBe(1);
});
