/**
 * A worker started without any model credential says what to set: at start, on /readyz,
 * and in the error of a job that ran without one (classifyOutcome.test.ts).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '@claude-queue/shared';
import { createClaudeWorker } from '../src/createWorker.js';
import { hasDeploymentCredential } from '../src/sandbox/modelCredentials.js';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { freePort } from '../../../test/support/redisServer.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.cleanup();
});

/** Starts a worker with this environment; returns its warnings and its /readyz answer. */
async function startWith(workerEnv: NodeJS.ProcessEnv) {
  const port = await freePort();
  const lines: string[] = [];
  const worker = createClaudeWorker({
    config: env.workerConfig({ SANDBOX: 'off', WARM_POOL: 'off', CLAUDE_BIN: FAKE_CLAUDE, METRICS_PORT: String(port) }),
    logger: createLogger('worker', 'warn', { destination: { write: (line: string) => lines.push(line) } }),
    env: workerEnv,
  });
  try {
    await worker.ready;
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    return { warnings: lines.map((l) => JSON.parse(l) as Record<string, unknown>), status: res.status, readyz: (await res.json()) as Record<string, unknown> };
  } finally {
    await worker.close();
  }
}

it('without a credential: warns at start naming the variables, and /readyz says so while ready (tenants may bring their own)', async () => {
  const { warnings, status, readyz } = await startWith({ PATH: process.env.PATH });
  const warning = warnings.find((w) => String(w.msg).startsWith('no model credential'));
  expect(warning).toMatchObject({ variables: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] });
  expect(warning!.msg).toMatch(/set ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_OAUTH_TOKEN/);
  expect(status).toBe(200);
  expect(readyz).toMatchObject({ status: 'ready', model_credentials: 'none', credentials_warning: warning!.msg });
});

it('with one: no warning, and /readyz says the deployment has one', async () => {
  const { warnings, readyz } = await startWith({ PATH: process.env.PATH, ANTHROPIC_API_KEY: 'sk-ant-test' });
  expect(warnings.filter((w) => String(w.msg).startsWith('no model credential'))).toEqual([]);
  expect(readyz).toMatchObject({ status: 'ready', model_credentials: 'deployment' });
  expect(readyz).not.toHaveProperty('credentials_warning');
});

it.each([
  [{}, false],
  [{ ANTHROPIC_API_KEY: 'k' }, true],
  [{ CLAUDE_CODE_OAUTH_TOKEN: 't' }, true],
  [{ ANTHROPIC_CUSTOM_HEADERS: 'x-api-key: k' }, true],
  [{ CLAUDE_CODE_USE_BEDROCK: '1' }, true],
  [{ ANTHROPIC_API_KEY: '' }, false],
])('hasDeploymentCredential(%j) is %s', (e, expected) => {
  expect(hasDeploymentCredential(e)).toBe(expected);
});
