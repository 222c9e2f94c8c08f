/**
 * The API's GET /metrics: METRICS_TOKEN, the exposition format, and the deployment-wide
 * gauges read from Redis at scrape time. No worker runs here: the scheduler is driven
 * directly, so running and queued counts are exact. Job runs: apps/worker/test/metrics.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiMetrics } from '../src/metrics.js';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { submitJob } from '../../../test/support/jobs.js';
import { expectProblem } from './expectProblem.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

let env: TestEnv;
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ METRICS_TOKEN }));
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\.)*)"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL},?)*)\\})? (\\S+)(?: -?\\d+)?$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const HELP = new RegExp(`^# HELP (${NAME}) .+$`);

/**
 * Parses the Prometheus text format (0.0.4) strictly: every line a HELP, a TYPE or a
 * sample of a family whose TYPE came before, with a number for a value.
 */
function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = TYPE.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (HELP.test(line)) continue;
    const m = SAMPLE.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const [, name, labelText = '', , , value] = m!;
    const family = types.has(name!) ? name! : name!.replace(/_(bucket|sum|count)$/, '');
    expect(types.get(family), `no TYPE before ${line}`).toBeDefined();
    const labels: Record<string, string> = {};
    for (const [, k, v] of labelText.matchAll(new RegExp(LABEL, 'g'))) labels[k!] = v!;
    // Prometheus reads values with Go's ParseFloat: NaN and ±Inf in any case (prom-client writes "Nan").
    const special = /^(nan|[+-]?inf)$/i.test(value!);
    const n = special ? (/nan/i.test(value!) ? NaN : value!.startsWith('-') ? -Infinity : Infinity) : Number(value);
    expect(special || !Number.isNaN(n), `not a number: ${line}`).toBe(true);
    samples.push({ name: name!, labels, value: n });
  }
  return samples;
}

function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape(): Promise<Sample[]> {
  const res = await api.request('GET', '/metrics', { key: METRICS_TOKEN });
  expect(res.status).toBe(200);
  return parseExposition(res.body as string);
}

describe('GET /metrics', () => {
  it('refuses a request without METRICS_TOKEN, or with another token, with 401', async () => {
    for (const key of [undefined, 'not-the-metrics-token-at-all']) {
      const res = await api.request('GET', '/metrics', { key });
      expectProblem(res, { status: 401, code: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('is open when METRICS_TOKEN is unset', async () => {
    const open = await startTestApi(env.apiConfig());
    try {
      const res = await open.request('GET', '/metrics');
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('answers the Prometheus text format with process metrics and every catalog queue by state', async () => {
    const res = await api.request('GET', '/metrics', { key: METRICS_TOKEN });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body as string;
    expect(text).toMatch(/^# HELP claude_queue_jobs .+\n# TYPE claude_queue_jobs gauge$/m);
    const samples = parseExposition(text);
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized']) {
      expect(valueOf(samples, 'claude_queue_jobs', { queue: 'claude', state })).toBe(0);
    }
    expect(valueOf(samples, 'claude_metrics_collect_errors_total')).toBeUndefined();
  });

  it('shows each tenant\'s queued and running jobs, and the intake total', async () => {
    const tenant = await api.createTenant('gauged');
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(await submitJob(api, tenant.api_key, { prompt: `job ${i}` }));

    let samples = await scrape();
    expect(valueOf(samples, 'claude_tenant_jobs', { tenant: tenant.id, state: 'queued' })).toBe(3);
    expect(valueOf(samples, 'claude_tenant_jobs', { tenant: tenant.id, state: 'running' })).toBe(0);
    expect(valueOf(samples, 'claude_intake_jobs')).toBe(3);

    // What a worker's dispatcher does: take a job out of the intake into a running slot.
    expect(await api.ctx.scheduler.dispatch(1)).toEqual([{ jobId: jobs[0]!.id, tenantId: tenant.id }]);
    samples = await scrape();
    expect(valueOf(samples, 'claude_tenant_jobs', { tenant: tenant.id, state: 'queued' })).toBe(2);
    expect(valueOf(samples, 'claude_tenant_jobs', { tenant: tenant.id, state: 'running' })).toBe(1);
    expect(valueOf(samples, 'claude_intake_jobs')).toBe(2);
    expect(valueOf(samples, 'claude_tenants')).toBeGreaterThanOrEqual(1);
    // Labels are tenant ids, and only on the tenant gauge.
    for (const s of samples.filter((x) => x.labels.tenant !== undefined)) {
      expect(s.name).toBe('claude_tenant_jobs');
      expect(s.labels.tenant).toMatch(/^[0-9a-f-]{36}$/);
    }

    for (const job of jobs) await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
    samples = await scrape();
    expect(valueOf(samples, 'claude_tenant_jobs', { tenant: tenant.id, state: 'queued' })).toBe(0);
    expect(valueOf(samples, 'claude_tenant_jobs', { tenant: tenant.id, state: 'running' })).toBe(0);
  });

  it('exports at most maxTenants tenants, those with waiting jobs first', async () => {
    const idle = [await api.createTenant('idle 1'), await api.createTenant('idle 2')];
    const busy = await api.createTenant('busy');
    const job = await submitJob(api, busy.api_key, { prompt: 'waits' });
    const metrics = createApiMetrics({ ...api.ctx, maxTenants: 2 });
    try {
      const samples = parseExposition(await metrics.registry.metrics());
      const tenants = new Set(samples.filter((s) => s.name === 'claude_tenant_jobs').map((s) => s.labels.tenant));
      expect(tenants.size).toBe(2);
      expect(tenants.has(busy.id)).toBe(true);
      expect(valueOf(samples, 'claude_tenants')).toBeGreaterThan(2);
      expect(idle.filter((t) => tenants.has(t.id)).length).toBeLessThanOrEqual(1);
    } finally {
      await metrics.close();
      await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: busy.api_key });
    }
  });
});
