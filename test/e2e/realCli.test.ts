/**
 * End to end with the real `claude` from node_modules, talking to a fake Anthropic
 * Messages API on loopback: API → Redis → worker → CLI → model and back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../support/apiServer.js';
import type { FakeAnthropic } from '../support/fakeAnthropic.js';
import { startStack, type Stack } from '../support/stack.js';
import { submitJob, waitForFinal } from '../support/jobs.js';

let stack: Stack;
let api: TestApi;
let model: FakeAnthropic;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  stack = await startStack({ cli: 'real', worker: { JOB_BACKOFF_MS: '50', JOB_ATTEMPTS: '3' }, tenantName: 'e2e' });
  ({ api, tenant } = stack);
  model = stack.model!;
});

afterAll(async () => {
  await stack?.close();
});

describe('the real CLI against a fake model API', () => {
  it('runs a prompt to succeeded with the text, session id and cost', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'what is two plus two', metadata: { ticket: 42 } });
    const done = await waitForFinal(api, tenant.api_key, job.id, 60_000);
    expect(done).toMatchObject({ status: 'succeeded', error: null, metadata: { ticket: 42 } });
    // One attempt, unless a loaded machine made the first fail in a way the queue retries
    // (the retry tests below pin the count); then the history says why, each retryable.
    expect(done.attempts, JSON.stringify(done.attempt_history)).toBe(done.attempt_history.length + 1);
    for (const a of done.attempt_history) expect(['overloaded', 'api_error', 'timeout', 'cli_crashed', 'worker_lost'], JSON.stringify(a)).toContain(a.code);
    expect(done.result?.text).toBe('echo: what is two plus two');
    expect(done.result?.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(done.result?.num_turns).toBe(1);
    expect(done.result?.total_cost_usd).toBeGreaterThan(0);
    expect(done.result?.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
    const calls = model.callsFor('what is two plus two');
    expect(calls, JSON.stringify(done.attempt_history)).toHaveLength(done.attempts);
    expect(calls[0]!.apiKey).toBe('sk-ant-test-deployment');
  });

  it('continues a conversation: the second job sees the first turn', async () => {
    const first = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'my name is Ada' })).id, 60_000);
    expect(first.status).toBe('succeeded');
    const second = await submitJob(api, tenant.api_key, { prompt: 'what is my name', session_id: first.result!.session_id });
    const done = await waitForFinal(api, tenant.api_key, second.id, 60_000);
    expect(done.status).toBe('succeeded');
    expect(done.result?.session_id).toBe(first.result!.session_id);
    // The model saw the earlier turn in the same conversation.
    expect(model.callsFor('what is my name')[0]!.userTexts).toEqual(['my name is Ada', 'what is my name']);
    expect(done.result?.text).toBe('echo: what is my name | earlier: my name is Ada');
  });

  it('keeps tenants apart: another tenant cannot continue the session, nor read the job', async () => {
    const first = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'private turn' })).id, 60_000);
    const other = await api.createTenant('other');
    const res = await api.request('POST', '/v1/jobs', { key: other.api_key, body: { prompt: 'steal', session_id: first.result!.session_id } });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('session_not_found');
    expect((await api.request('GET', `/v1/jobs/${first.id}`, { key: other.api_key })).status).toBe(404);
  });

  it('retries a job whose model API answers 529 twice, and it ends succeeded with attempts: 3', async () => {
    const prompt = 'overloaded twice then fine';
    model.script(prompt, [
      { kind: 'error', status: 529, type: 'overloaded_error' },
      { kind: 'error', status: 529, type: 'overloaded_error' },
    ]);
    const done = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt })).id, 60_000);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 3, error: null, result: { text: `echo: ${prompt}` } });
    expect(done.attempt_history.map((a) => [a.attempt, a.code])).toEqual([
      [1, 'overloaded'],
      [2, 'overloaded'],
    ]);
    // The CLI made no retries of its own (CLAUDE_CODE_MAX_RETRIES=0): one call per attempt.
    expect(model.callsFor(prompt)).toHaveLength(3);
    // Three cold runs and two backoffs: on a loaded machine, more than the default 30 s.
  }, 90_000);

  it('fails a job whose model API answers 401 with auth_failed after exactly one attempt', async () => {
    const prompt = 'bad credentials';
    model.script(prompt, [{ kind: 'error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }]);
    const done = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt })).id, 60_000);
    expect(done).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'auth_failed', retryable: false } });
    expect(model.callsFor(prompt)).toHaveLength(1);
  });

  it.each([
    [429, 'rate_limited'],
    [500, 'api_error'],
  ])('an API answer of %i on every attempt fails the job with %s after JOB_ATTEMPTS', async (status, code) => {
    const prompt = `always ${status}`;
    model.script(prompt, Array.from({ length: 3 }, () => ({ kind: 'error' as const, status, message: `fake ${status}` })));
    const done = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt })).id, 60_000);
    expect(done).toMatchObject({ status: 'failed', attempts: 3, error: { code, retryable: true } });
    expect(done.attempt_history).toHaveLength(3);
    expect(model.callsFor(prompt)).toHaveLength(3);
  });

  it('fails a resume of a session the CLI has no transcript for with session_not_found', async () => {
    const sessionId = '4f1d2c3b-1111-4222-8333-444455556666';
    // Known to the store (so the API accepts it) but never written by the CLI.
    await api.ctx.sessions.record(sessionId, tenant.id, 'no-such-workspace');
    const done = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'resume nothing', session_id: sessionId })).id, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'session_not_found', retryable: false });
  });
});
