/**
 * Configurations that would expose the service, refused at start by the real processes
 * (configured by env alone): /metrics on a listener off loopback without METRICS_TOKEN
 * (the API's HOST, a worker's METRICS_HOST), and board logins with short passwords. The
 * process exits before it listens, with an error naming the variable and never a secret.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { freePort } from '../support/redisServer.js';
import { startApiProcess, startWorkerProcess, type AppProcess } from '../support/workerProcess.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

let env: TestEnv;
const started: AppProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await env?.cleanup();
});

/** Starts the process and returns why it exited before it started (its stderr). */
async function refusal(start: () => AppProcess): Promise<string> {
  const process = start();
  started.push(process);
  const err = await process.ready.then(
    () => null,
    (e: Error) => e,
  );
  expect(err, 'the process started').toBeInstanceOf(Error);
  expect(err!.message).toMatch(/exited with 1 before starting/);
  return err!.message;
}

it('refuses an API on every interface without METRICS_TOKEN, and serves /metrics there only for the token', async () => {
  const port = String(await freePort());
  const message = await refusal(() => startApiProcess(env.processEnv({ HOST: '0.0.0.0', PORT: port })));
  expect(message).toContain('METRICS_TOKEN: is required when HOST (0.0.0.0) is not loopback');

  const api = startApiProcess(env.processEnv({ HOST: '0.0.0.0', PORT: port, METRICS_TOKEN }));
  started.push(api);
  await api.ready;
  expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
  expect((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
  expect(await api.stop('SIGTERM')).toBe(0);
});

it("refuses a worker whose metrics port listens off loopback without METRICS_TOKEN", async () => {
  const port = String(await freePort());
  const message = await refusal(() => startWorkerProcess(env.processEnv({ METRICS_PORT: port, METRICS_HOST: '0.0.0.0' })));
  expect(message).toContain('METRICS_TOKEN: is required when METRICS_HOST (0.0.0.0) is not loopback');
});

it('refuses board logins with short passwords, naming the login and never the password', async () => {
  const message = await refusal(() => startApiProcess(env.processEnv({ PORT: String(0), BOARD_USERS: 'erin:a-long-enough-one:rw,frank:x:ro' })));
  expect(message).toContain('BOARD_USERS: the password of frank must be at least 12 characters');
  expect(message).not.toContain('a-long-enough-one');
  expect(message).not.toMatch(/frank:x/);
});
