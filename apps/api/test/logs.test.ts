/** The API's logs: a request id on every request line, and never a prompt, result or key. */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';

const lines: Array<Record<string, any>> = [];
let env: TestEnv;
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnv();
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  api = await startTestApi(env.apiConfig(), { logger: createLogger('api', 'debug', { destination }) });
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

it('logs every request with its request id, and no prompt, metadata or key', async () => {
  const tenant = await api.createTenant('logged');
  const res = await api.request('POST', '/v1/jobs', {
    key: tenant.api_key,
    body: { prompt: 'TOP SECRET PROMPT', metadata: { note: 'SECRET METADATA' } },
    headers: { 'x-request-id': 'req-logs-1' },
  });
  expect(res.status).toBe(202);
  await api.request('GET', '/v1/jobs/not-a-job', { key: tenant.api_key, headers: { 'x-request-id': 'req-logs-2' } });

  const text = JSON.stringify(lines);
  for (const secret of ['TOP SECRET PROMPT', 'SECRET METADATA', tenant.api_key, ADMIN_TOKEN]) expect(text).not.toContain(secret);
  const ofRequest = lines.filter((l) => l.req?.id === 'req-logs-1');
  expect(ofRequest.map((l) => l.msg)).toEqual(expect.arrayContaining(['job enqueued', 'request completed']));
  expect(ofRequest.find((l) => l.msg === 'job enqueued')).toMatchObject({ job_id: res.body.id, tenant_id: tenant.id });
  expect(lines.some((l) => l.req?.id === 'req-logs-2' && l.res?.statusCode === 404)).toBe(true);
});
