/**
 * The queue board at /admin/queues (Bull Board), over HTTP: its Basic login, read-only
 * logins, the same-origin rule for its writes, what job data it shows, and its retry and
 * remove acting on the job records as the API's own actions do. A worker with the fake
 * CLI (test/support/fake-claude.mjs) runs the jobs. The page in a browser: boardBrowser.test.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog, createLogger, loadApiConfig, type JobView } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { ADMIN_TOKEN, createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));
const SECRETS_KEY = randomBytes(32).toString('base64');
const TENANT_CREDENTIAL = `sk-ant-tenant-${randomBytes(12).toString('hex')}`;

interface Login {
  user: string;
  password: string;
}
const ALICE: Login = { user: 'alice', password: 'alice:has-a-colon' };
const BOB: Login = { user: 'bob', password: 'bob-reads-only' };

let env: TestEnv;
let api: TestApi;
let worker: ClaudeWorker;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(
    env.apiConfig({ SECRETS_KEY, BOARD_USERS: `${ALICE.user}:${ALICE.password}:rw, ${BOB.user}:${BOB.password}:ro` }),
  );
  worker = createClaudeWorker({
    // A retryable failure waits a minute in BullMQ's delayed set: long enough to remove it.
    config: env.workerConfig({ CLAUDE_BIN: FAKE_CLAUDE, WORKER_CONCURRENCY: '4', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '60000', SECRETS_KEY }),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH },
  });
  await worker.ready;
  tenant = await api.createTenant('board');
  const res = await api.request('PATCH', `/v1/admin/tenants/${tenant.id}`, {
    key: ADMIN_TOKEN,
    body: { credentials: { anthropic_api_key: TENANT_CREDENTIAL } },
  });
  expect(res.status).toBe(200);
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await env?.cleanup();
});

const basic = (login: Login) => `Basic ${Buffer.from(`${login.user}:${login.password}`).toString('base64')}`;

/** A request to the board; writes look like the board's own UI (same origin) unless told otherwise. */
async function board(method: string, path: string, options: { login?: Login; headers?: Record<string, string>; body?: unknown; on?: TestApi } = {}) {
  const target = options.on ?? api;
  const headers: Record<string, string> = { ...options.headers };
  if (options.login) headers.authorization = basic(options.login);
  if (method !== 'GET' && !options.headers) headers['sec-fetch-site'] = 'same-origin';
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${target.url}/admin/queues${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // HTML or empty
  }
  return { status: res.status, headers: res.headers, text, body };
}

const getJob = async (id: string): Promise<JobView> => (await api.request('GET', `/v1/jobs/${id}`, { key: tenant.api_key })).body;

async function waitForState(id: string, state: string): Promise<void> {
  await waitFor(async () => ((await api.ctx.queue.getJobState(id)) === state ? true : undefined), 15_000, `job ${id} to be ${state} in BullMQ`);
}

async function failedJob(prompt = 'FAKE:api:401'): Promise<JobView> {
  const job = await submitJob(api, tenant.api_key, { prompt });
  const done = await waitForFinal(api, tenant.api_key, job.id);
  expect(done).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'auth_failed' } });
  // The record is final a moment before BullMQ has moved the job to its failed set.
  await waitForState(job.id, 'failed');
  return done;
}

describe('login', () => {
  it.each([
    ['no Authorization header', undefined],
    ['a wrong password', `Basic ${Buffer.from(`${ALICE.user}:nope`).toString('base64')}`],
    ["another user's password", `Basic ${Buffer.from(`${ALICE.user}:${BOB.password}`).toString('base64')}`],
    ['admin with ADMIN_TOKEN once BOARD_USERS is set', `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`],
    ['the admin token as a Bearer', `Bearer ${ADMIN_TOKEN}`],
    ['malformed Basic', 'Basic !!!'],
  ])('answers 401 asking for Basic to %s', async (_name, authorization) => {
    for (const [method, path] of [['GET', '/'], ['GET', '/api/queues'], ['GET', '/static/favicon-32x32.png'], ['PUT', `/api/queues/claude/${randomUUID()}/retry`]] as const) {
      const res = await board(method, path, { headers: authorization ? { authorization } : {} });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="claude-queue"');
      expect(res.body.code).toBe('unauthorized');
    }
  });

  it('shows every queue of the catalog to a read-write and a read-only login', async () => {
    for (const [login, readOnly] of [[ALICE, false], [BOB, true]] as const) {
      const page = await board('GET', '/', { login });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.text).toContain('<base href="/admin/queues/"');
      // Nothing from elsewhere (bull-board links Google Fonts): operators' browsers may have no internet.
      expect(page.text).not.toMatch(/(?:href|src)="(?:https?:)?\/\//);

      const res = await board('GET', '/api/queues', { login });
      expect(res.status).toBe(200);
      const queues = res.body.queues as Array<{ name: string; readOnlyMode: boolean }>;
      expect(queues.map((q) => q.name).sort()).toEqual(Object.values(catalog).map((s) => s.queue).sort());
      for (const q of queues) expect(q.readOnlyMode).toBe(readOnly);
    }
  });

  it('is off when BOARD_USERS is unset: admin with ADMIN_TOKEN (the old login) gets 404, the token is no board password', async () => {
    const other = await startTestApi(env.apiConfig());
    try {
      for (const path of ['/', '/api/queues']) {
        const res = await board('GET', path, { login: { user: 'admin', password: ADMIN_TOKEN }, on: other });
        expect(res.status, path).toBe(404);
        expect(res.headers.get('www-authenticate')).toBeNull();
        expect(res.body).toMatchObject({ code: 'not_found', detail: 'the queue board is off: BOARD_USERS turns it on' });
      }
    } finally {
      await other.close();
    }
  });

  it('reads BOARD_USERS as user:password:rw|ro, passwords with colons, and refuses bad lists', () => {
    const parse = (BOARD_USERS: string) => loadApiConfig({ ADMIN_TOKEN, BOARD_USERS }).BOARD_USERS;
    expect(parse('alice:a-long-secret:rw,bob:bob-password-2:ro')).toEqual([
      { user: 'alice', password: 'a-long-secret', access: 'rw' },
      { user: 'bob', password: 'bob-password-2', access: 'ro' },
    ]);
    expect(parse('carol:a:b:c:twelve-chars:ro')).toEqual([{ user: 'carol', password: 'a:b:c:twelve-chars', access: 'ro' }]);
    // A short password is refused naming its login, never the password.
    expect(() => parse('alice:short-pw:rw')).toThrow('BOARD_USERS: the password of alice must be at least 12 characters');
    expect(() => parse('alice:short-pw:rw')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('short-pw') }));
    for (const bad of ['alice:rw', 'alice:pw:admin', ':pw:rw', 'alice:x:rw,alice:y:ro', ',', 'alice:eleven-char:rw', `alice:${'x'.repeat(40)}:rw,bob:p:ro`]) {
      expect(() => parse(bad), bad).toThrow(/BOARD_USERS/);
    }
    // The error names the variable, never the password.
    expect(() => parse('alice:topsecret:admin')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('topsecret') }));
  });
});

describe('writes', () => {
  const missingJob = () => `/api/queues/claude/${randomUUID()}/retry`;

  it('refuses cross-origin writes with 403 and lets the same origin and non-browsers through', async () => {
    const host = new URL(api.url).host;
    const refused: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site', origin: api.url },
      { origin: 'http://evil.example' },
      { origin: `http://${host}.evil.example` },
      { origin: 'null' },
    ];
    for (const headers of refused) {
      const res = await board('PUT', missingJob(), { login: ALICE, headers });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.body.code).toBe('forbidden');
    }
    // Past the rule, the board itself answers: no such job.
    const allowed: Record<string, string>[] = [{ 'sec-fetch-site': 'same-origin' }, { origin: api.url }, {}];
    for (const headers of allowed) {
      const res = await board('PUT', missingJob(), { login: ALICE, headers });
      expect(res.status, JSON.stringify(headers)).toBe(404);
      expect(res.body.error).toEqual({ key: 'ERRORS.JOB_NOT_FOUND' });
    }
    // Reads need no such rule (another origin can't read the answer).
    expect((await board('GET', '/api/queues', { login: ALICE, headers: { authorization: basic(ALICE), 'sec-fetch-site': 'cross-site' } })).status).toBe(200);
  });

  it('refuses every write of a read-only login', async () => {
    const job = await failedJob();
    for (const [method, path] of [
      ['PUT', `/api/queues/claude/${job.id}/retry`],
      ['PUT', `/api/queues/claude/${job.id}/clean`],
      ['PUT', '/api/queues/claude/pause'],
      ['PUT', '/api/queues/pause'],
      ['POST', '/api/queues/claude/add'],
    ] as const) {
      const res = await board(method, path, { login: BOB, body: method === 'POST' ? { name: 'run', data: {} } : undefined });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.detail).toBe('this board login is read-only');
    }
    expect(await getJob(job.id)).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('refuses actions that would leave callers without an answer, or change job data', async () => {
    const job = await failedJob();
    const refused: Array<[string, string, unknown?]> = [
      ['POST', '/api/queues/claude/add', { name: 'run', data: { tenantId: tenant.id } }],
      ['POST', '/api/queues/webhooks/add', { name: 'deliver', data: {} }],
      ['PATCH', `/api/queues/claude/${job.id}/update-data`, { jobData: { tenantId: randomUUID() } }],
      ['PUT', '/api/queues/claude/empty'],
      ['PUT', '/api/queues/claude/obliterate', {}],
      ['PUT', '/api/queues/claude/clean/waiting'],
      ['PUT', '/api/queues/claude/clean/delayed'],
      ['PUT', '/api/queues/claude/retry/completed'],
    ];
    for (const [method, path, body] of refused) {
      const res = await board(method, path, { login: ALICE, body });
      expect([403, 409], `${method} ${path}: ${res.text}`).toContain(res.status);
      expect(res.body.message, `${method} ${path}`).toEqual(expect.any(String));
    }
    const shown = await board('GET', `/api/queues/claude/${job.id}`, { login: ALICE });
    expect(shown.body.job.data).toEqual({ tenantId: tenant.id });
  });
});

describe('job data on the board', () => {
  it("shows ids only: no prompt, key or credential in a job's JSON", async () => {
    const prompt = `FAKE:api:401 private prompt ${randomUUID()}`;
    const job = await failedJob(prompt);
    const secrets = [TENANT_CREDENTIAL, tenant.api_key, ADMIN_TOKEN, SECRETS_KEY, ALICE.password, BOB.password, prompt, 'private prompt'];
    for (const path of [`/api/queues/claude/${job.id}`, '/api/queues?activeQueue=claude&status=failed&page=1&jobsPerPage=50']) {
      const res = await board('GET', path, { login: ALICE });
      expect(res.status).toBe(200);
      for (const secret of secrets) expect(res.text, path).not.toContain(secret);
    }
    const res = await board('GET', `/api/queues/claude/${job.id}`, { login: ALICE });
    expect(res.body.job).toMatchObject({ id: job.id, data: { tenantId: tenant.id }, failedReason: expect.stringContaining('auth_failed') });
    expect(Object.keys(res.body.job.data)).toEqual(['tenantId']);
  });

  it("shows no model output: a result's or an error's text reaches no board answer, for either login", async () => {
    const marker = `model-output-${randomUUID()}`;
    // The fake CLI answers "fake: <prompt>", and FAKE:subtype:<s> fails with the error text "fake <s>".
    const succeeded = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: `say ${marker}` })).id);
    expect(succeeded).toMatchObject({ status: 'succeeded', result: { text: expect.stringContaining(marker) } });
    const failed = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: `FAKE:subtype:${marker}` })).id);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'cli_error', message: expect.stringContaining(marker) } });
    await waitForState(succeeded.id, 'completed');
    await waitForState(failed.id, 'failed');

    const paths = [
      ...['latest', 'completed', 'failed'].map((status) => `/api/queues?activeQueue=claude&status=${status}&page=1&jobsPerPage=50`),
      ...[succeeded, failed].flatMap((job) => [`/api/queues/claude/${job.id}`, `/api/queues/claude/${job.id}/logs`]),
    ];
    for (const login of [ALICE, BOB]) {
      for (const path of paths) {
        const res = await board('GET', path, { login });
        expect(res.status, path).toBe(200);
        expect(res.text, path).not.toContain(marker);
      }
    }
    // What the board keeps of a failure: its code and the job's id, no stack of the worker's code.
    const shown = await board('GET', `/api/queues/claude/${failed.id}`, { login: BOB });
    expect(shown.body.job).toMatchObject({ id: failed.id, failedReason: 'cli_error', stacktrace: [] });
  });
});

describe('retry and remove act on the job record', () => {
  it('retries a failed job: it runs again, queued then running then final, keeping attempt_history', async () => {
    const job = await failedJob();
    const res = await board('PUT', `/api/queues/claude/${job.id}/retry`, { login: ALICE });
    expect(res.status, res.text).toBe(204);

    const rerun = await waitFor(
      async () => {
        const now = await getJob(job.id);
        return now.attempts === 2 && now.status === 'failed' ? now : undefined;
      },
      20_000,
      'the retried job to run again',
    );
    expect(rerun.error).toMatchObject({ code: 'auth_failed' });
    expect(rerun.attempt_history.map((a) => [a.attempt, a.code])).toEqual([
      [1, 'auth_failed'],
      [2, 'auth_failed'],
    ]);
    expect(Date.parse(rerun.finished_at!)).toBeGreaterThan(Date.parse(job.finished_at!));
    const statuses = (await api.ctx.events.read(job.id)).filter((e) => e.type === 'status').map((e) => (e.data as { status: string }).status);
    expect(statuses).toEqual(['queued', 'running', 'failed', 'retrying', 'running', 'failed']);
    // Failed again in BullMQ too, where it can be retried once more.
    await waitForState(job.id, 'failed');
  });

  it('retries every failed job of the queue, each keeping its history', async () => {
    const jobs = await Promise.all([failedJob(), failedJob()]);
    const res = await board('PUT', '/api/queues/claude/retry/failed', { login: ALICE });
    expect(res.status, res.text).toBe(200);
    for (const job of jobs) {
      const rerun = await waitFor(async () => {
        const now = await getJob(job.id);
        return now.attempts === 2 && now.status === 'failed' ? now : undefined;
      });
      expect(rerun.attempt_history).toHaveLength(2);
    }
  });

  it('refuses to retry a job its caller canceled, or one that succeeded', async () => {
    const running = await submitJob(api, tenant.api_key, { prompt: 'FAKE:sleep:30000' });
    await waitFor(async () => ((await getJob(running.id)).status === 'running' ? true : undefined));
    expect((await api.request('POST', `/v1/jobs/${running.id}/cancel`, { key: tenant.api_key })).status).toBe(200);
    // Canceled is no failure: BullMQ completes it, and the board names it canceled.
    await waitForState(running.id, 'completed');
    const shown = await board('GET', `/api/queues/claude/${running.id}`, { login: ALICE });
    expect(shown.body.job).toMatchObject({ name: 'run · canceled', returnValue: { status: 'canceled' }, stacktrace: [] });

    const succeeded = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'hello' })).id);
    expect(succeeded.status).toBe('succeeded');
    await waitForState(succeeded.id, 'completed');

    for (const [job, status] of [[running, 'canceled'], [succeeded, 'succeeded']] as const) {
      const res = await board('PUT', `/api/queues/claude/${job.id}/retry`, { login: ALICE });
      expect(res.status, res.text).toBe(409);
      expect(await getJob(job.id)).toMatchObject({ status, attempts: 1 });
    }
  });

  it('removes a job waiting to retry: the caller reads it as canceled, and the scheduler lets it go', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:api:529' });
    // Overloaded is retryable: the job waits in BullMQ's delayed set (JOB_BACKOFF_MS is a minute).
    await waitFor(async () => ((await api.ctx.queue.getJobState(job.id)) === 'delayed' ? true : undefined));
    expect(await getJob(job.id)).toMatchObject({ status: 'queued', next_attempt_at: expect.any(String) });

    const res = await board('PUT', `/api/queues/claude/${job.id}/clean`, { login: ALICE });
    expect(res.status, res.text).toBe(204);
    // Canceled by the time the board answers.
    const removed = await getJob(job.id);
    expect(removed).toMatchObject({
      status: 'canceled',
      finished_at: expect.any(String),
      next_attempt_at: null,
      error: { code: 'canceled', message: 'removed by an operator', retryable: false },
    });
    expect(removed.attempt_history).toEqual([expect.objectContaining({ attempt: 1, code: 'overloaded' })]);
    expect(await api.ctx.queue.getJob(job.id)).toBeUndefined();
    expect(await api.ctx.redis.zscore(api.ctx.keys.running(tenant.id), job.id)).toBeNull();
    expect(await api.ctx.redis.zscore(api.ctx.keys.dispatched(), job.id)).toBeNull();
    // The API's own cancel agrees: it has ended.
    expect((await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key })).status).toBe(409);
  });
});
