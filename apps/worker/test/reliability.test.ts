/**
 * No job lost or run twice by accident: cancel across processes, a worker SIGKILLed
 * mid-job, graceful shutdown, a lost lock. Worker processes run the fake `claude`
 * (test/support/fake-claude.mjs) in the sandbox, which can hang on cue and marks its
 * processes so the test can see from outside that none is left.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findFakeCall } from '../../../test/support/fakeCalls.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { processesWithMarker } from '../../../test/support/processes.js';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';
import { startWorkerProcess, type WorkerProcess } from '../../../test/support/workerProcess.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));

let env: TestEnv;
let api: TestApi;
let tenant: { id: string; api_key: string };
const workers: WorkerProcess[] = [];

/** Short lock and stall settings so a dead worker is noticed within ~3 s. */
function startWorker(overrides: Record<string, string> = {}): WorkerProcess {
  const worker = startWorkerProcess(
    env.processEnv({
      CLAUDE_BIN: FAKE_CLAUDE,
      WORKER_CONCURRENCY: '2',
      WORKER_KILL_GRACE_MS: '300',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      SHUTDOWN_GRACE_MS: '5000',
      ...overrides,
    }),
  );
  workers.push(worker);
  return worker;
}

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  tenant = await api.createTenant('reliability');
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

/** The marker of the fake CLI run of a prompt (in its processes' command lines), once it has started. */
async function cliRun(prompt: string): Promise<string> {
  return waitFor(async () => (await findFakeCall(env.dataDir, tenant.id, prompt))?.marker, 10_000, `the CLI of ${JSON.stringify(prompt)} to start`);
}

/** Whether any process of the run (the CLI, its grandchild) is still alive on this machine. */
const isRunning = (marker: string) => processesWithMarker(marker).length > 0;

async function getJob(id: string) {
  return (await api.request('GET', `/v1/jobs/${id}`, { key: tenant.api_key })).body;
}

describe('cancel', () => {
  it('stops a job running on another worker process within 2 s, and its CLI is gone', async () => {
    const worker = startWorker();
    await worker.ready;
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:hang cancel me' });
    const run = await cliRun(job.request.prompt);
    await waitFor(async () => ((await getJob(job.id)).status === 'running' ? true : undefined));

    const asked = Date.now();
    const res = await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: job.id, status: 'canceled', error: { code: 'canceled', retryable: false } });
    // The fake ignores SIGTERM: it takes the SIGKILL after WORKER_KILL_GRACE_MS.
    await waitFor(() => (isRunning(run) ? undefined : true), 2000, 'the canceled CLI to exit');
    expect(Date.now() - asked).toBeLessThan(2000);
    // Canceled stays canceled: the worker's end of the run doesn't overwrite it, and it is never
    // retried. BullMQ completes it (a cancel is no failure), returning its status.
    await waitFor(async () => ((await api.ctx.queue.getJobState(job.id)) === 'completed' ? true : undefined), 5000);
    expect((await api.ctx.queue.getJob(job.id))?.returnvalue).toEqual({ status: 'canceled' });
    expect(await getJob(job.id)).toMatchObject({ status: 'canceled', attempts: 1 });
  });

  it('removes a job waiting for its retry from the queue', async () => {
    const worker = startWorker({ JOB_BACKOFF_MS: '60000' });
    await worker.ready;
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:api:529 retry later' });
    const waiting = await waitFor(async () => {
      const j = await getJob(job.id);
      return j.status === 'queued' && j.next_attempt_at ? j : undefined;
    });
    expect(waiting.attempt_history).toEqual([{ attempt: 1, code: 'overloaded', message: expect.any(String), at: expect.any(String) }]);
    // The record says so a moment before BullMQ has moved the job to its delayed set.
    await waitFor(async () => ((await api.ctx.queue.getJobState(job.id)) === 'delayed' ? true : undefined), 5000, 'the retry to be delayed');

    const res = await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
    expect(res.body).toMatchObject({ status: 'canceled', next_attempt_at: null });
    expect(await api.ctx.queue.getJob(job.id)).toBeUndefined();
  });
});

describe('a worker killed mid-job', () => {
  it('has its jobs finished by another worker, and its CLI runs die with it', async () => {
    const doomed = startWorker();
    await doomed.ready;
    const jobs = await Promise.all([1, 2].map((i) => submitJob(api, tenant.api_key, { prompt: `FAKE:sleep:6000 in flight ${i}` })));
    // The survivor starts (sandbox trial, CLI probe) while the doomed worker's runs are on.
    const survivor = startWorker();
    const runs = await Promise.all(jobs.map((j) => cliRun(j.request.prompt)));
    const killedAt = Date.now();
    await doomed.stop('SIGKILL');
    await survivor.ready;
    // bwrap --die-with-parent: the orphaned sandboxes end with their worker.
    // (Left alone they would sleep 6 s more and then call the model a second time.)
    await waitFor(() => (runs.some(isRunning) ? undefined : true), 2000, 'the dead worker\'s CLI runs to end');

    const done = await Promise.all(jobs.map((j) => waitForFinal(api, tenant.api_key, j.id, 30_000)));
    for (const d of done) {
      expect(d.status).toBe('succeeded');
      // The lost run is on record, and it did not spend an attempt.
      expect(d.attempts).toBe(1);
      expect(d.attempt_history.map((a) => a.code)).toEqual(['worker_lost']);
    }
    // Picked up again by the survivor, after the kill (the recovery time itself is measured by `npm run chaos`).
    for (const d of done) expect(Date.parse(d.started_at!)).toBeGreaterThan(killedAt);
  });
});

describe('graceful shutdown', () => {
  it('lets a short job finish, then exits 0', async () => {
    const worker = startWorker();
    await worker.ready;
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:sleep:800 finish me' });
    await cliRun(job.request.prompt);
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(await getJob(job.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('hands a job that outlasts the grace period back to the queue without spending an attempt', async () => {
    const worker = startWorker({ SHUTDOWN_GRACE_MS: '300' });
    await worker.ready;
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:hang outlast the grace' });
    const run = await cliRun(job.request.prompt);
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(isRunning(run)).toBe(false);
    expect(await getJob(job.id)).toMatchObject({ status: 'queued', attempts: 1, attempt_history: [] });
    const bull = await api.ctx.queue.getJob(job.id);
    expect(bull?.attemptsMade).toBe(0);
    // Clean up: nothing should run it again in this test.
    await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
  });
});

describe('a lost lock', () => {
  it('kills the run at once, so one job never runs on two workers', async () => {
    const worker = startWorker();
    await worker.ready;
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:hang lose my lock' });
    const run = await cliRun(job.request.prompt);
    // As if the lock had lapsed while this worker stalled and another took the job.
    await api.ctx.redis.del(`${env.prefix}:bull:claude:${job.id}:lock`);
    // The next renewal (every lockDuration / 2) fails, and the worker stops the run.
    await waitFor(() => (isRunning(run) ? undefined : true), 3000, 'the run without a lock to end');
    await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
  });
});
