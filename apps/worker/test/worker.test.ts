/**
 * The worker against real Redis with the fake `claude` (test/support/fake-claude.mjs),
 * for what the real CLI won't do on cue: crash, hang, print garbage. The real CLI's
 * path is covered end to end in test/e2e.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationPaths, createLogger } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '../src/createWorker.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { processesWithMarker } from '../../../test/support/processes.js';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));

interface FakeCall {
  argv: string[];
  env: Record<string, string>;
  /** In its command line and its grandchild's: how the test finds them from outside the sandbox. */
  marker: string;
  prompt: string;
}

let env: TestEnv;
let api: TestApi;
let worker: ClaudeWorker;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  worker = createClaudeWorker({
    config: env.workerConfig({
      CLAUDE_BIN: FAKE_CLAUDE,
      WORKER_CONCURRENCY: '4',
      WORKER_KILL_GRACE_MS: '300',
      JOB_ATTEMPTS: '3',
      JOB_BACKOFF_MS: '20',
    }),
    logger: createLogger('worker', 'silent'),
    env: {
      PATH: process.env.PATH,
      ANTHROPIC_API_KEY: 'sk-deployment-key',
      ADMIN_TOKEN: 'must-not-reach-the-cli',
      REDIS_URL: 'redis://must-not-reach-the-cli',
      SOME_SECRET: 'nope',
    },
  });
  await worker.ready;
  tenant = await api.createTenant('fake-cli');
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await env?.cleanup();
});

function workspaceOf(tenantId: string, workspaceId: string): string {
  return conversationPaths(env.dataDir, tenantId, workspaceId).workspace;
}

async function fakeCall(tenantId: string, workspaceId: string): Promise<FakeCall> {
  return JSON.parse(await readFile(path.join(workspaceOf(tenantId, workspaceId), 'fake-claude-call.json'), 'utf8'));
}


describe('worker with the fake CLI', () => {
  it('runs a job in its own workspace, prompt on stdin, and records the result', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'hello from stdin', model: 'sonnet', max_turns: 2 });
    const done = await waitForFinal(api, tenant.api_key, job.id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, error: null, result: { text: 'fake: hello from stdin', num_turns: 1 } });
    expect(done.started_at).not.toBeNull();
    expect(done.finished_at).not.toBeNull();

    const call = await fakeCall(tenant.id, job.id);
    expect(call.prompt).toBe('hello from stdin');
    expect(call.argv.join(' ')).not.toContain('hello from stdin');
    // A new conversation runs on a pooled process (WARM_POOL=reuse): one user message per line.
    expect(call.argv).toEqual([
      '--print',
      '--output-format',
      'stream-json',
      '--verbose',
      '--input-format',
      'stream-json',
      '--model',
      'sonnet',
      '--max-turns',
      '2',
    ]);
  });

  it('gives the CLI only the allowlisted environment, its own HOME and config dir, and no credential', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'env check' });
    await waitForFinal(api, tenant.api_key, job.id);
    const call = await fakeCall(tenant.id, job.id);
    // The sandbox's fixed paths, bound to this conversation's folders.
    expect(call.env.HOME).toBe('/home/claude');
    expect(call.env.CLAUDE_CONFIG_DIR).toBe('/home/claude/.claude');
    expect(call.env.ANTHROPIC_BASE_URL).toBe('http://127.0.0.1:3128');
    expect(call.env.CLAUDE_CODE_MAX_RETRIES).toBe('0');
    for (const name of ['ADMIN_TOKEN', 'REDIS_URL', 'SOME_SECRET']) expect(call.env).not.toHaveProperty(name);
    expect(JSON.stringify(call.env)).not.toContain('sk-deployment-key');
  });

  // Transient errors use all JOB_ATTEMPTS (3 here); permanent ones fail after one.
  it.each([
    ['FAKE:crash', 'cli_crashed', /killed by SIGKILL/, 3],
    ['FAKE:exit:3', 'cli_crashed', /exited with code 3 without a result: fake failure/, 3],
    ['FAKE:api:529', 'overloaded', /API Error: 529/, 3],
    ['FAKE:api:500', 'api_error', /API Error: 500/, 3],
    ['FAKE:api:429', 'rate_limited', /API Error: 429/, 3],
    ['FAKE:garbled', 'cli_error', /not a result/, 1],
    ['FAKE:api:401', 'auth_failed', /API Error: 401/, 1],
    ['FAKE:api:400', 'invalid_request', /API Error: 400/, 1],
    ['FAKE:subtype:error_max_turns', 'max_turns', /error_max_turns/, 1],
    ['FAKE:subtype:error_max_budget_usd', 'budget_exceeded', /error_max_budget_usd/, 1],
  ])('%s fails the job with %s and the CLI\'s message, after JOB_ATTEMPTS if transient', async (prompt, code, message, attempts) => {
    const job = await submitJob(api, tenant.api_key, { prompt });
    const done = await waitForFinal(api, tenant.api_key, job.id);
    expect(done.status).toBe('failed');
    expect(done.result).toBeNull();
    expect(done.error?.code).toBe(code);
    expect(done.error?.message).toMatch(message);
    expect(done.attempts).toBe(attempts);
    expect(done.next_attempt_at).toBeNull();
    expect(done.attempt_history.map((a) => [a.attempt, a.code])).toEqual(Array.from({ length: attempts }, (_, i) => [i + 1, code]));
  });

  it('ends a run past timeout_ms with code timeout, and leaves no process of its group behind', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:hang', timeout_ms: 1000 });
    const done = await waitForFinal(api, tenant.api_key, job.id);
    expect(done.status).toBe('failed');
    // A run that timed out once likely will again: no retry unless the request asks.
    expect(done.error).toMatchObject({ code: 'timeout', retryable: false });
    expect(done.attempts).toBe(1);
    const call = await fakeCall(tenant.id, job.id);
    // The fake ignores SIGTERM: only the SIGKILL after the grace period ends it and its child.
    expect(processesWithMarker(call.marker)).toEqual([]);
  });

  it('retries a timed-out run when the request sets retry_on_timeout', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:sleep:3000 slow', timeout_ms: 1000, retry_on_timeout: true });
    const done = await waitForFinal(api, tenant.api_key, job.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'timeout', retryable: true });
    expect(done.attempts).toBe(3);
  });

  it('continues a conversation in the workspace where it began, with --resume', async () => {
    const first = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'turn one' })).id);
    const sessionId = first.result!.session_id;
    const second = await submitJob(api, tenant.api_key, { prompt: 'turn two', session_id: sessionId });
    const done = await waitForFinal(api, tenant.api_key, second.id);
    expect(done).toMatchObject({ status: 'succeeded', result: { session_id: sessionId } });
    // The follow-up ran in the first job's workspace (its call file was overwritten there).
    const call = await fakeCall(tenant.id, first.id);
    expect(call.prompt).toBe('turn two');
    expect(call.argv).toContain('--resume');
    expect(call.argv[call.argv.indexOf('--resume') + 1]).toBe(sessionId);
  });

  it('runs two jobs of one conversation one after the other, never at once', async () => {
    const first = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'start' })).id);
    const sessionId = first.result!.session_id;
    const a = await submitJob(api, tenant.api_key, { prompt: 'FAKE:sleep:400 a', session_id: sessionId });
    const b = await submitJob(api, tenant.api_key, { prompt: 'FAKE:sleep:400 b', session_id: sessionId });
    const [doneA, doneB] = await Promise.all([waitForFinal(api, tenant.api_key, a.id), waitForFinal(api, tenant.api_key, b.id)]);
    expect(doneA.status).toBe('succeeded');
    expect(doneB.status).toBe('succeeded');
    const [earlier, later] = [doneA, doneB].sort((x, y) => Date.parse(x.started_at!) - Date.parse(y.started_at!));
    expect(Date.parse(later!.started_at!)).toBeGreaterThanOrEqual(Date.parse(earlier!.finished_at!));
    expect(doneA.attempts).toBe(1);
    expect(doneB.attempts).toBe(1);
  });

  it('runs jobs of different conversations in different workspaces at once', async () => {
    const jobs = await Promise.all([1, 2, 3].map((i) => submitJob(api, tenant.api_key, { prompt: `FAKE:sleep:1000 parallel ${i}` })));
    const done = await Promise.all(jobs.map((j) => waitForFinal(api, tenant.api_key, j.id)));
    expect(done.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // Each job's own workspace holds its own call: no two shared a cwd.
    for (const [i, j] of jobs.entries()) expect((await fakeCall(tenant.id, j.id)).prompt).toBe(`FAKE:sleep:1000 parallel ${i + 1}`);
    // And they did run at once (concurrency 4).
    const lastStart = Math.max(...done.map((d) => Date.parse(d.started_at!)));
    const firstEnd = Math.min(...done.map((d) => Date.parse(d.finished_at!)));
    expect(lastStart).toBeLessThan(firstEnd);
  });
});
