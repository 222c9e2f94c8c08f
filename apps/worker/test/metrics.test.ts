/**
 * A worker's METRICS_PORT server (/metrics, /healthz, /readyz) with the fake `claude`
 * (test/support/fake-claude.mjs) and an in-process worker: runs show up in the
 * histograms and counters, the API's per-tenant gauges follow the worker's jobs, and
 * readiness follows Redis and the CLI binary.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { Redis } from 'ioredis';
import { createFailedLogins, createKeys, createLogger, createMetricsRegistry } from '@claude-queue/shared';
import { startHealthServer } from '../src/healthServer.js';
import { createClaudeWorker, type ClaudeWorker } from '../src/createWorker.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { ADMIN_TOKEN, createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';
import { freePort } from '../../../test/support/redisServer.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));
const METRICS_TOKEN = 'worker-metrics-token-0123456789';

let env: TestEnv;
let api: TestApi;
let worker: ClaudeWorker;
let metricsUrl: string;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ METRICS_TOKEN }));
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}`;
  worker = createClaudeWorker({
    config: env.workerConfig({
      CLAUDE_BIN: FAKE_CLAUDE,
      WORKER_CONCURRENCY: '2',
      WORKER_KILL_GRACE_MS: '300',
      JOB_ATTEMPTS: '2',
      JOB_BACKOFF_MS: '20',
      METRICS_PORT: String(port),
      METRICS_TOKEN,
    }),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH },
  });
  await worker.ready;
  tenant = await api.createTenant('metrics');
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await env?.cleanup();
});

/** Parsed samples of one scrape: `name{labels}` → value (labels as printed, in prom-client's order). */
async function scrape(url: string, token = METRICS_TOKEN): Promise<(name: string, labels?: Record<string, string>) => number | undefined> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = (await res.text())
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      expect(m, `not a sample line: ${line}`).not.toBeNull();
      const labels = Object.fromEntries([...(m![2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!]));
      return { name: m![1]!, labels, value: Number(m![3]) };
    });
  return (name, labels = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('worker metrics', () => {
  it('counts a job\'s run in the duration and wait histograms, the run counter and spawns', async () => {
    const before = await scrape(metricsUrl);
    const durations = before('claude_job_duration_seconds_count', { status: 'succeeded' }) ?? 0;
    const waits = before('claude_job_queue_wait_seconds_count') ?? 0;
    expect(before('claude_spawns_total', { kind: 'cold' })).toBe(0);
    const streamSpawns = before('claude_spawns_total', { kind: 'stream' }) ?? 0;
    expect(before('claude_worker_concurrency')).toBe(2);

    const job = await submitJob(api, tenant.api_key, { prompt: 'measure me' });
    expect((await waitForFinal(api, tenant.api_key, job.id)).status).toBe('succeeded');

    // The worker reads the record after BullMQ's completed event: poll, don't race it.
    const after = await waitFor(async () => {
      const m = await scrape(metricsUrl);
      return m('claude_job_duration_seconds_count', { status: 'succeeded' }) === durations + 1 ? m : undefined;
    }, 10_000, 'the duration histogram to count the run');
    expect(after('claude_job_queue_wait_seconds_count')).toBe(waits + 1);
    expect(after('claude_job_duration_seconds_bucket', { status: 'succeeded', le: '+Inf' })).toBe(durations + 1);
    expect(after('claude_job_duration_seconds_sum', { status: 'succeeded' })).toBeGreaterThan(0);
    expect(after('claude_cli_runs_total', { outcome: 'success', code: 'none' })).toBeGreaterThanOrEqual(1);
    // A new conversation on the warm pool (WARM_POOL=reuse): a pooled process, started for the job or ahead.
    expect((after('claude_spawns_total', { kind: 'stream' }) ?? 0) + (after('claude_pool_reuses_total') ?? 0)).toBeGreaterThan(streamSpawns);
    expect(after('claude_spawns_total', { kind: 'cold' })).toBe(0);
    expect(after('claude_cli_runs_in_progress')).toBe(0);
    expect(after('process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts a retry and each run\'s exit class and error code', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:api:529' });
    const done = await waitForFinal(api, tenant.api_key, job.id);
    expect(done).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'overloaded' } });
    const m = await waitFor(async () => {
      const s = await scrape(metricsUrl);
      return s('claude_job_duration_seconds_count', { status: 'failed' }) === 1 ? s : undefined;
    }, 10_000, 'the failed job in the duration histogram');
    expect(m('claude_job_retries_total', { code: 'overloaded' })).toBe(1);
    expect(m('claude_cli_runs_total', { outcome: 'error_result', code: 'overloaded' })).toBe(2);
  });

  it('shows a tenant\'s running and queued jobs on the API\'s per-tenant gauges while the worker runs them', async () => {
    const res = await api.request('POST', '/v1/admin/tenants', {
      key: ADMIN_TOKEN,
      body: { name: 'one at a time', limits: { max_concurrency: 1 } },
    });
    expect(res.status).toBe(201);
    const limited = res.body as { id: string; api_key: string };
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(await submitJob(api, limited.api_key, { prompt: 'FAKE:sleep:20000' }));

    const gauges = await waitFor(async () => {
      const m = await scrape(api.url);
      return m('claude_tenant_jobs', { tenant: limited.id, state: 'running' }) === 1 &&
        m('claude_tenant_jobs', { tenant: limited.id, state: 'queued' }) === 2
        ? m
        : undefined;
    }, 10_000, 'one running and two queued jobs of the tenant');
    expect(gauges('claude_intake_jobs')).toBe(2);
    expect(gauges('claude_queue_jobs', { queue: 'claude', state: 'active' })).toBe(1);
    // The slot is taken at dispatch, a moment before the processor starts the CLI.
    await waitFor(async () => ((await scrape(metricsUrl))('claude_cli_runs_in_progress') === 1 ? true : undefined), 10_000, 'the run in progress');

    // The waiting ones first (the first job runs: FIFO), so none starts as a slot frees.
    for (const job of [...jobs].reverse()) await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: limited.api_key });
    for (const job of jobs) expect((await waitForFinal(api, limited.api_key, job.id)).status).toBe('canceled');
    await waitFor(async () => ((await scrape(metricsUrl))('claude_cli_runs_total', { outcome: 'aborted', code: 'canceled' }) === 1 ? true : undefined), 10_000, 'the aborted run');
  });

  it('refuses /metrics without METRICS_TOKEN; probes need none', async () => {
    const refused: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-token-0123456789' }, { authorization: `Basic ${METRICS_TOKEN}` }];
    for (const headers of refused) {
      const res = await fetch(`${metricsUrl}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    }
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${metricsUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${metricsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('holds back an address that guessed METRICS_TOKEN too often: 429 with Retry-After, the right token too', async () => {
    const redis = new Redis(env.redisUrl);
    const server = await startHealthServer({
      port: 0,
      registry: createMetricsRegistry(),
      token: METRICS_TOKEN,
      failedLogins: createFailedLogins({ redis, keys: createKeys(env.prefix), maxFailures: 2, windowSeconds: 60 }),
      readiness: async () => ({ ready: true, checks: {}, sandbox: 'bubblewrap' }),
      logger: createLogger('worker', 'silent'),
    });
    // From an address of its own, so the other scrapes of this file are not held back.
    const scrapeFrom = (from: string, token: string) =>
      new Promise<{ status: number; retryAfter?: string }>((resolve, reject) => {
        const req = httpRequest(`http://127.0.0.1:${server.port}/metrics`, { localAddress: from, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect((await scrapeFrom('127.0.0.7', 'guess-one-0123456789')).status).toBe(401);
      expect((await scrapeFrom('127.0.0.7', 'guess-two-0123456789')).status).toBe(401);
      const held = await scrapeFrom('127.0.0.7', METRICS_TOKEN);
      expect(held.status).toBe(429);
      expect(Number(held.retryAfter)).toBeGreaterThan(0);
      expect((await scrapeFrom('127.0.0.8', METRICS_TOKEN)).status).toBe(200);
    } finally {
      await server.close();
      redis.disconnect();
    }
  });

  it('is ready with Redis and a runnable CLI', async () => {
    const res = await fetch(`${metricsUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', checks: { redis: true, cli: true, accepting: true }, sandbox: 'bubblewrap' });
  });

  it('is not ready when CLAUDE_BIN points at a missing file', async () => {
    // Its own prefix: a worker without a CLI must not take this file's jobs.
    const other = await createTestEnv();
    const port = await freePort();
    const broken = createClaudeWorker({
      config: other.workerConfig({ CLAUDE_BIN: `${other.dataDir}/no-such-claude`, METRICS_PORT: String(port) }),
      logger: createLogger('worker', 'silent'),
    });
    try {
      await broken.ready;
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'unavailable', checks: { redis: true, cli: false, accepting: true }, sandbox: 'bubblewrap' });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // No token configured: /metrics is open.
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      await broken.close();
      await other.cleanup();
    }
  });
});
