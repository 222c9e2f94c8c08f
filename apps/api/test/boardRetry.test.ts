/**
 * A failed job retried from the board runs again and can succeed, end to end: the real
 * `claude` CLI against the fake model API, which refuses the first call (401: a failure
 * no automatic retry touches) and answers the next.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startFakeAnthropic, type FakeAnthropic } from '../../../test/support/fakeAnthropic.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';

const LOGIN = 'Basic ' + Buffer.from('dana:dana-board-password').toString('base64');

let env: TestEnv;
let api: TestApi;
let model: FakeAnthropic;
let worker: ClaudeWorker;

beforeAll(async () => {
  env = await createTestEnv();
  model = await startFakeAnthropic();
  api = await startTestApi(env.apiConfig({ BOARD_USERS: 'dana:dana-board-password:rw' }));
  worker = createClaudeWorker({
    config: env.workerConfig(),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'sk-ant-board-e2e' },
  });
  await worker.ready;
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await model?.close();
  await env?.cleanup();
});

it('runs a failed job again when retried from the board, and it ends succeeded', async () => {
  const tenant = await api.createTenant('board-e2e');
  const prompt = 'refused once, then answered';
  model.script(prompt, [{ kind: 'error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }]);
  const failed = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt })).id, 60_000);
  expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'auth_failed' } });

  const res = await fetch(`${api.url}/admin/queues/api/queues/claude/${failed.id}/retry`, {
    method: 'PUT',
    headers: { authorization: LOGIN, origin: api.url },
  });
  expect(res.status).toBe(204);
  // Queued again at once: the board reopened the record before BullMQ moved the job, so
  // the caller never sees the old failure as the answer once the board has said yes.
  const reopened = (await api.request('GET', `/v1/jobs/${failed.id}`, { key: tenant.api_key })).body;
  expect(reopened.status).not.toBe('failed');

  const done = await waitForFinal(api, tenant.api_key, failed.id, 60_000);
  expect(done).toMatchObject({ status: 'succeeded', attempts: 2, error: null, result: { text: `echo: ${prompt}` } });
  expect(done.attempt_history).toEqual([expect.objectContaining({ attempt: 1, code: 'auth_failed' })]);
  expect(model.callsFor(prompt)).toHaveLength(2);
});
