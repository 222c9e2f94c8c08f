/**
 * Conversations follow their caller to any worker: three turns of one conversation on
 * three workers that share nothing but Redis (each its own DATA_DIR, as on three
 * machines), with the real CLI. Turn 1 writes a file, turn 2 reads it back, turn 3 sees
 * the whole conversation. Turn 1 runs on a warm (pooled) process, the others cold.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, type JobView } from '@claude-queue/shared';
import { createClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from '../support/apiServer.js';
import { createTestEnv, waitFor, type TestEnv } from '../support/env.js';
import { startFakeAnthropic, type FakeAnthropic, type FakeReply } from '../support/fakeAnthropic.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { startWorkerProcess, type WorkerProcess } from '../support/workerProcess.js';

const JOB_TIMEOUT_MS = 60_000;
/** Several worker starts, real CLI runs and (once) a dead worker's recovery per test, on a busy machine. */
const TEST_TIMEOUT_MS = 150_000;
let env: TestEnv;
let model: FakeAnthropic;
let api: TestApi;
let tenant: { id: string; api_key: string };
const dataDirs: string[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  model = await startFakeAnthropic();
  api = await startTestApi(env.apiConfig());
  tenant = await api.createTenant('portable');
});

afterAll(async () => {
  await api?.close();
  await model?.close();
  await env?.cleanup();
  await Promise.all(dataDirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A worker on a machine of its own: its own DATA_DIR, nothing shared but Redis. Closed after `work`. */
async function onNewWorker<T>(work: () => Promise<T>, config: Record<string, string> = {}): Promise<T> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-machine-'));
  dataDirs.push(dataDir);
  const worker = createClaudeWorker({
    config: env.workerConfig({ DATA_DIR: dataDir, WORKER_CONCURRENCY: '1', ...config }),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'sk-ant-test-deployment' },
  });
  await worker.ready;
  try {
    return await work();
  } finally {
    await worker.close(1000);
  }
}

const write = (file_path: string, content: string): FakeReply => ({ kind: 'tool', name: 'Write', input: { file_path, content } });
const read = (file_path: string): FakeReply => ({ kind: 'tool', name: 'Read', input: { file_path } });

async function turn(prompt: string, replies: FakeReply[], body: Record<string, unknown> = {}): Promise<JobView> {
  model.script(prompt, replies);
  const job = await submitJob(api, tenant.api_key, { prompt, allowed_tools: ['Read', 'Write'], permission_mode: 'acceptEdits', ...body });
  return waitForFinal(api, tenant.api_key, job.id, JOB_TIMEOUT_MS);
}

const lastToolResults = (prompt: string) => model.callsFor(prompt).at(-1)?.toolResults.map((r) => r.content).join('\n') ?? '';

it('continues a conversation on three workers with separate DATA_DIRs, its files and context with it', async () => {
  const secret = `remember ${randomBytes(6).toString('hex')}`;
  const first = await onNewWorker(() => turn('turn one: write the note', [write('/workspace/note.txt', secret)]));
  expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
  const session_id = first.result!.session_id;

  const second = await onNewWorker(() => turn('turn two: read the note', [read('/workspace/note.txt')], { session_id }));
  expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
  expect(second.result!.session_id).toBe(session_id);
  // The file turn one wrote, on another machine, read back by turn two.
  expect(lastToolResults('turn two: read the note')).toContain(secret);

  const third = await onNewWorker(() => turn('turn three: what happened', [], { session_id }));
  expect(third.status, JSON.stringify(third.error)).toBe('succeeded');
  // The model saw the whole conversation: both earlier turns, then this one.
  const texts = model.callsFor('turn three: what happened')[0]!.userTexts;
  expect(texts[0]).toBe('turn one: write the note');
  expect(texts).toContain('turn two: read the note');
  expect(texts.at(-1)).toBe('turn three: what happened');
}, TEST_TIMEOUT_MS);

it('fails a turn that makes the conversation larger than SESSION_MAX_BYTES, and keeps its last good state', async () => {
  const small = { SESSION_MAX_BYTES: String(256 * 1024) };
  const first = await onNewWorker(() => turn('big one: start', [write('/workspace/small.txt', 'small')]), small);
  expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
  const session_id = first.result!.session_id;

  const big = 'x'.repeat(300 * 1024);
  const tooBig = await onNewWorker(() => turn('big one: grow', [write('/workspace/big.txt', big)], { session_id }), small);
  expect(tooBig.status).toBe('failed');
  expect(tooBig.error).toMatchObject({ code: 'session_too_large', retryable: false });
  expect(tooBig.error!.message).toContain('SESSION_MAX_BYTES (262144)');

  // The next turn, on yet another machine, continues from before the oversized one.
  const after = await onNewWorker(() => turn('big one: after', [read('/workspace/big.txt'), read('/workspace/small.txt')], { session_id }), small);
  expect(after.status, JSON.stringify(after.error)).toBe('succeeded');
  const results = lastToolResults('big one: after');
  expect(results).not.toContain('xxxxxxxxxx');
  expect(results).toContain('small');
  expect(model.callsFor('big one: after')[0]!.userTexts).not.toContain('big one: grow');
}, TEST_TIMEOUT_MS);

it('forks a conversation: a new session from that point, and both branches go on independently', async () => {
  const first = await onNewWorker(() => turn('fork base: write', [write('/workspace/base.txt', 'base state')]));
  expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
  const trunk = first.result!.session_id;

  const branch = await onNewWorker(() => turn('fork: branch turn', [write('/workspace/branch.txt', 'branch only'), read('/workspace/base.txt')], { session_id: trunk, fork: true }));
  expect(branch.status, JSON.stringify(branch.error)).toBe('succeeded');
  const forked = branch.result!.session_id;
  expect(forked).not.toBe(trunk);
  expect(lastToolResults('fork: branch turn')).toContain('base state');

  // The trunk goes on without the branch's turn or file; the branch with both.
  const onTrunk = await onNewWorker(() => turn('fork: trunk again', [read('/workspace/branch.txt')], { session_id: trunk }));
  expect(onTrunk.status, JSON.stringify(onTrunk.error)).toBe('succeeded');
  expect(onTrunk.result!.session_id).toBe(trunk);
  expect(model.callsFor('fork: trunk again')[0]!.userTexts).not.toContain('fork: branch turn');
  expect(lastToolResults('fork: trunk again')).not.toContain('branch only');

  const onBranch = await onNewWorker(() => turn('fork: branch again', [read('/workspace/branch.txt')], { session_id: forked }));
  expect(onBranch.status, JSON.stringify(onBranch.error)).toBe('succeeded');
  expect(onBranch.result!.session_id).toBe(forked);
  const texts = model.callsFor('fork: branch again')[0]!.userTexts;
  expect(texts).toContain('fork: branch turn');
  expect(texts).not.toContain('fork: trunk again');
  expect(lastToolResults('fork: branch again')).toContain('branch only');
}, TEST_TIMEOUT_MS);

it('refuses fork without session_id, naming the field', async () => {
  const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'x', fork: true } });
  expect(res.status).toBe(400);
  expect(res.body.errors).toEqual([{ field: 'fork', message: 'needs session_id: the conversation to branch from' }]);
}, TEST_TIMEOUT_MS);

it('runs two follow-ups submitted together one after the other, in order: the second sees the first', async () => {
  const first = await onNewWorker(() => turn('order: start', []));
  const session_id = first.result!.session_id;
  const [a, b] = await onNewWorker(async () => {
    model.script('order: A', []);
    model.script('order: B', []);
    const jobA = await submitJob(api, tenant.api_key, { prompt: 'order: A', session_id });
    const jobB = await submitJob(api, tenant.api_key, { prompt: 'order: B', session_id });
    return Promise.all([waitForFinal(api, tenant.api_key, jobA.id, JOB_TIMEOUT_MS), waitForFinal(api, tenant.api_key, jobB.id, JOB_TIMEOUT_MS)]);
  }, { WORKER_CONCURRENCY: '2' });
  expect([a.status, b.status]).toEqual(['succeeded', 'succeeded']);
  expect(Date.parse(b.started_at!)).toBeGreaterThanOrEqual(Date.parse(a.finished_at!));
  expect(model.callsFor('order: B')[0]!.userTexts).toEqual(['order: start', 'order: A', 'order: B']);

  // The session's view: its turns in order, its size and limit, its expiry.
  const view = await api.request('GET', `/v1/sessions/${session_id}`, { key: tenant.api_key });
  expect(view.status).toBe(200);
  expect(view.body).toMatchObject({ id: session_id, turns: [first.id, a.id, b.id], forked_from: null, max_bytes: 20 * 1024 * 1024 });
  expect(view.body.size_bytes).toBeGreaterThan(0);
  expect(Date.parse(view.body.expires_at) - Date.parse(view.body.last_used_at)).toBe(30 * 86_400_000);
  const list = await api.request('GET', '/v1/sessions?limit=100', { key: tenant.api_key });
  expect(list.body.data.map((s: { id: string }) => s.id)).toContain(session_id);
}, TEST_TIMEOUT_MS);

it("keeps sessions to their tenant, and a deleted session can't be continued anywhere", async () => {
  const first = await onNewWorker(() => turn('delete me: start', []));
  const session_id = first.result!.session_id;
  const other = await api.createTenant('other-portable');
  for (const [method, path] of [['GET', `/v1/sessions/${session_id}`], ['DELETE', `/v1/sessions/${session_id}`]] as const) {
    const res = await api.request(method, path, { key: other.api_key });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('session_not_found');
  }
  expect((await api.request('GET', '/v1/sessions', { key: other.api_key })).body.data).toEqual([]);
  const stolen = await api.request('POST', '/v1/jobs', { key: other.api_key, body: { prompt: 'steal', session_id } });
  expect(stolen.body.code).toBe('session_not_found');

  expect((await api.request('DELETE', `/v1/sessions/${session_id}`, { key: tenant.api_key })).status).toBe(204);
  expect((await api.request('GET', `/v1/sessions/${session_id}`, { key: tenant.api_key })).status).toBe(404);
  const after = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'after delete', session_id } });
  expect(after.status).toBe(404);
  expect(after.body.code).toBe('session_not_found');
  // Its stored state is gone from Redis too.
  expect(await api.ctx.redis.keys(`${api.ctx.keys.prefix}:tenant:${tenant.id}:conversation:${first.id}`)).toEqual([]);
}, TEST_TIMEOUT_MS);

it('continues a conversation whose worker was SIGKILLed mid-turn, on another machine, from its last good turn', async () => {
  const first = await onNewWorker(() => turn('killed: start', [write('/workspace/note.txt', 'kept')]));
  expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
  const session_id = first.result!.session_id;

  // Worker processes with short locks, so a dead one is noticed within seconds; each its own DATA_DIR.
  const processEnv = async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-machine-'));
    dataDirs.push(dataDir);
    return env.processEnv({
      DATA_DIR: dataDir,
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-deployment',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
    });
  };
  const doomed = startWorkerProcess(await processEnv());
  let survivor: WorkerProcess | undefined;
  try {
    await doomed.ready;
    // The turn writes a file, then its model hangs: the worker dies there.
    model.script('killed: turn two', [write('/workspace/partial.txt', 'never saved'), { kind: 'hang' }]);
    const job = await submitJob(api, tenant.api_key, { prompt: 'killed: turn two', session_id, allowed_tools: ['Read', 'Write'], permission_mode: 'acceptEdits' });
    await waitFor(() => (model.callsFor('killed: turn two').length >= 2 ? true : undefined), 30_000, 'the turn to reach its hang');
    await doomed.stop('SIGKILL');
    survivor = startWorkerProcess(await processEnv());
    await survivor.ready;
    const done = await waitForFinal(api, tenant.api_key, job.id, JOB_TIMEOUT_MS);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result!.session_id).toBe(session_id);
    expect(done.attempt_history.map((a) => a.code)).toEqual(['worker_lost']);

    // The next turn sees turn one's file, not what the killed run wrote before it died.
    const third = await turn('killed: turn three', [read('/workspace/note.txt'), read('/workspace/partial.txt')], { session_id });
    expect(third.status, JSON.stringify(third.error)).toBe('succeeded');
    const results = lastToolResults('killed: turn three');
    expect(results).toContain('kept');
    expect(results).not.toContain('never saved');
  } finally {
    await doomed.stop('SIGKILL');
    await survivor?.stop('SIGKILL');
  }
}, TEST_TIMEOUT_MS);
