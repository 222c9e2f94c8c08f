/** A worker whose CLI does not run takes no jobs: they wait for a worker that can run them. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { submitJob } from '../../../test/support/jobs.js';
import { startStack, type Stack } from '../../../test/support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ cli: 'fake', worker: { CLAUDE_BIN: '/nonexistent/claude' }, tenantName: 'no-cli' });
});

afterAll(async () => {
  await stack?.close();
});

it('leaves jobs waiting instead of failing them with cli_error', async () => {
  const { api, tenant } = stack;
  const job = await submitJob(api, tenant.api_key, { prompt: 'nobody can run me here' });
  // Several dispatch ticks (250 ms) pass with the job in reach.
  await new Promise((r) => setTimeout(r, 1500));
  const now = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key });
  expect(now.body).toMatchObject({ status: 'queued', attempts: 0 });
  expect(await api.ctx.scheduler.queued(tenant.id)).toBe(1);
});
