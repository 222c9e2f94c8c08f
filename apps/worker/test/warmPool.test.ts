/**
 * The warm pool (src/pool) where the CLI must misbehave on cue: the fake `claude`
 * (test/support/fake-claude.mjs) lingers after its result (FAKE:linger), or prints
 * while idle (FAKE:chatty). And the worker's own end, SIGKILL or SIGTERM, with idle
 * pooled processes: none may stay behind. A run's processes are found from outside by
 * the marker in their command lines (test/support/processes.ts) and, for the worker
 * processes, as the worker's descendants.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findFakeCall } from '../../../test/support/fakeCalls.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';
import { isAlive, processesWithMarker } from '../../../test/support/processes.js';
import { freePort } from '../../../test/support/redisServer.js';
import { FAKE_CLAUDE, startStack, type Stack } from '../../../test/support/stack.js';
import { startWorkerProcess, type WorkerProcess } from '../../../test/support/workerProcess.js';
import { processTree } from '../src/pool/processTree.js';

const hex = () => randomBytes(6).toString('hex');
const KILL_GRACE_MS = 300;
/** How long the pool waits for `/clear` before it judges the process hung (warmPool.ts). */
const RESET_TIMEOUT_MS = 5000;

/** One sample of an in-process worker's registry (0 when absent). */
async function metric(stack: Stack, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = stack.worker.metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  return values.find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))?.value ?? 0;
}

const retired = (stack: Stack, reason: string) => metric(stack, 'claude_pool_retirements_total', { reason });

async function waitForRetired(stack: Stack, reason: string, count: number, timeoutMs: number): Promise<void> {
  try {
    await waitFor(async () => ((await retired(stack, reason)) >= count ? true : undefined), timeoutMs, `${count} retirement(s) for ${reason}`);
  } catch (err) {
    const [all, idle] = [await stack.worker.metrics.registry.getSingleMetricAsString('claude_pool_retirements_total'), await metric(stack, 'claude_pool_processes', { state: 'idle' })];
    const counted = all.split('\n').filter((l) => !l.startsWith('#')).join(', ') || 'none';
    throw new Error(`${(err as Error).message} (retirements: ${counted}; idle processes: ${idle})`);
  }
}

/** The marker of the fake CLI process that answered `prompt`. */
async function markerOf(dataDir: string, tenantId: string, prompt: string): Promise<string> {
  return waitFor(async () => (await findFakeCall(dataDir, tenantId, prompt))?.marker, 10_000, `the call file of ${JSON.stringify(prompt)}`);
}

const gone = (marker: string) => (processesWithMarker(marker).length === 0 ? true : undefined);

describe('a CLI that lingers after its result', () => {
  let reuse: Stack;
  let prespawn: Stack;

  beforeAll(async () => {
    [reuse, prespawn] = await Promise.all([
      startStack({ cli: 'fake', worker: { WARM_POOL: 'reuse', WORKER_KILL_GRACE_MS: String(KILL_GRACE_MS) }, tenantName: 'linger reuse' }),
      startStack({ cli: 'fake', worker: { WARM_POOL: 'prespawn', WORKER_KILL_GRACE_MS: String(KILL_GRACE_MS) }, tenantName: 'linger prespawn' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([reuse?.close(), prespawn?.close()]);
  });

  it('reuse: the job succeeds at its result; the process, silent to /clear, is retired (reset_failed) and ends', async () => {
    const before = await retired(reuse, 'reset_failed');
    const prompt = `FAKE:linger ${hex()}`;
    const submitted = await submitJob(reuse.api, reuse.tenant.api_key, { prompt });
    const done = await waitForFinal(reuse.api, reuse.tenant.api_key, submitted.id);
    expect(done.status).toBe('succeeded');
    expect(done.result?.text).toBe(`fake: ${prompt}`);
    // Done before the pool gave up on the reset: the job never waited on the process.
    expect(await retired(reuse, 'reset_failed')).toBe(before);
    expect(Date.parse(done.finished_at!) - Date.parse(done.started_at!)).toBeLessThan(RESET_TIMEOUT_MS);
    const marker = await markerOf(reuse.env.dataDir, reuse.tenant.id, prompt);
    expect(processesWithMarker(marker).length).toBeGreaterThan(0);

    await waitForRetired(reuse, 'reset_failed', before + 1, RESET_TIMEOUT_MS + 5000);
    // It ignores SIGTERM: the SIGKILL after WORKER_KILL_GRACE_MS ends it.
    await waitFor(() => gone(marker), KILL_GRACE_MS + 2000, 'the lingering process to end');
    expect(await metric(reuse, 'claude_pool_processes', { state: 'busy' })).toBe(0);
  }, 30_000);

  it('prespawn: the job succeeds at its result; the process is closed, and killed after WORKER_KILL_GRACE_MS', async () => {
    const before = await retired(prespawn, 'max_jobs');
    const prompt = `FAKE:linger ${hex()}`;
    const submitted = await submitJob(prespawn.api, prespawn.tenant.api_key, { prompt });
    const done = await waitForFinal(prespawn.api, prespawn.tenant.api_key, submitted.id);
    expect(done.status).toBe('succeeded');
    expect(done.result?.text).toBe(`fake: ${prompt}`);
    // One process, one job: closed as done with at its result.
    expect(await retired(prespawn, 'max_jobs')).toBe(before + 1);
    const marker = await markerOf(prespawn.env.dataDir, prespawn.tenant.id, prompt);
    await waitFor(() => gone(marker), KILL_GRACE_MS + 2000, 'the lingering process to end');
  }, 30_000);
});

describe('output while idle', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ cli: 'fake', worker: { WARM_POOL: 'reuse', WORKER_KILL_GRACE_MS: String(KILL_GRACE_MS) }, tenantName: 'chatty' });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('retires a process that prints while idle (stray_output); the next job gets another', async () => {
    const before = await retired(stack, 'stray_output');
    const prompt = `FAKE:chatty ${hex()}`;
    const submitted = await submitJob(stack.api, stack.tenant.api_key, { prompt });
    const done = await waitForFinal(stack.api, stack.tenant.api_key, submitted.id);
    expect(done.status).toBe('succeeded');
    expect(done.result?.text).toBe(`fake: ${prompt}`);
    const marker = await markerOf(stack.env.dataDir, stack.tenant.id, prompt);
    // Killed on its unasked line…
    await waitFor(() => gone(marker), 5000, 'the chatty process to end');
    // …and the pool knows: counted as retired for it, no longer counted idle.
    await waitForRetired(stack, 'stray_output', before + 1, 2000);
    expect(await metric(stack, 'claude_pool_processes', { state: 'idle' })).toBe(0);

    const next = `after chatty ${hex()}`;
    const nextJob = await submitJob(stack.api, stack.tenant.api_key, { prompt: next });
    expect((await waitForFinal(stack.api, stack.tenant.api_key, nextJob.id)).status).toBe('succeeded');
    expect(await markerOf(stack.env.dataDir, stack.tenant.id, next)).not.toBe(marker);
  }, 30_000);
});

describe('the worker process ends with idle pooled processes', () => {
  let env: TestEnv;
  let api: TestApi;
  let tenant: { id: string; api_key: string };
  const workers: WorkerProcess[] = [];
  const METRICS_TOKEN = 'pool-metrics-token-0123456789';

  beforeAll(async () => {
    env = await createTestEnv();
    api = await startTestApi(env.apiConfig());
    tenant = await api.createTenant('pool worker process');
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
  });

  afterAll(async () => {
    await api?.close();
    await env?.cleanup();
  });

  /** A worker process that has run one job and holds its pooled process (and any started ahead) idle. */
  async function workerWithIdleProcesses(): Promise<{ worker: WorkerProcess; marker: string; descendants: number[] }> {
    const port = await freePort();
    const worker = startWorkerProcess(
      env.processEnv({ CLAUDE_BIN: FAKE_CLAUDE, WARM_POOL: 'reuse', WORKER_KILL_GRACE_MS: String(KILL_GRACE_MS), METRICS_PORT: String(port), METRICS_TOKEN }),
    );
    workers.push(worker);
    await worker.ready;
    const prompt = `pooled ${hex()}`;
    const job = await submitJob(api, tenant.api_key, { prompt });
    expect((await waitForFinal(api, tenant.api_key, job.id)).status).toBe('succeeded');
    const marker = await markerOf(env.dataDir, tenant.id, prompt);
    // Reset and checked: idle, nothing busy.
    await waitFor(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
        const idle = Number(/^claude_pool_processes\{state="idle"\} (\d+)/m.exec(text)?.[1] ?? 0);
        const busy = Number(/^claude_pool_processes\{state="busy"\} (\d+)/m.exec(text)?.[1] ?? 0);
        return idle >= 1 && busy === 0 ? true : undefined;
      },
      10_000,
      'an idle pooled process',
    );
    expect(processesWithMarker(marker).length).toBeGreaterThan(0);
    // Everything the worker started: the sandboxes (bwrap, the CLI inside, the bridge).
    const descendants = processTree(worker.child.pid!).map((p) => p.pid).filter((pid) => pid !== worker.child.pid);
    for (const pid of processesWithMarker(marker)) expect(descendants).toContain(pid);
    return { worker, marker, descendants };
  }

  it('SIGKILL: no pooled process outlives the worker', async () => {
    const { worker, marker, descendants } = await workerWithIdleProcesses();
    await worker.stop('SIGKILL');
    await waitFor(() => (descendants.some(isAlive) ? undefined : true), 5000, "the dead worker's pooled processes to end");
    expect(processesWithMarker(marker)).toEqual([]);
    expect(processesWithMarker(env.dataDir)).toEqual([]);
  }, 60_000);

  it('SIGTERM: the worker exits 0 and leaves no pooled process', async () => {
    const { worker, marker, descendants } = await workerWithIdleProcesses();
    const code = await worker.stop('SIGTERM');
    expect(code).toBe(0);
    expect(worker.output()).toContain('"stopped"');
    // Gone by the time the worker is: closing the pool waits for its processes.
    expect(descendants.filter(isAlive)).toEqual([]);
    expect(processesWithMarker(marker)).toEqual([]);
    expect(processesWithMarker(env.dataDir)).toEqual([]);
  }, 60_000);
});
