/** The API as its own process: configured by env alone, and stopped cleanly by SIGTERM. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../support/env.js';
import { freePort } from '../support/redisServer.js';
import { startApiProcess, type AppProcess } from '../support/workerProcess.js';

let env: TestEnv;
let api: AppProcess | undefined;

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  await api?.stop('SIGKILL');
  await env?.cleanup();
});

it('serves from env alone, and on SIGTERM stops accepting and exits 0', async () => {
  const port = await freePort();
  api = startApiProcess(env.processEnv({ PORT: String(port), HOST: '127.0.0.1' }));
  await api.ready;
  const url = `http://127.0.0.1:${port}`;
  const created = await fetch(`${url}/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'process' }),
  });
  expect(created.status).toBe(201);
  const submitted = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${((await created.json()) as { api_key: string }).api_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'from a separate API process' }),
  });
  expect(submitted.status).toBe(202);

  expect(await api.stop('SIGTERM')).toBe(0);
  expect(api.output()).toContain('"stopped"');
  await expect(fetch(`${url}/healthz`)).rejects.toThrow();
});
