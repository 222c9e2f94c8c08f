/**
 * requests_per_minute: a fixed window per API key and minute, shared through Redis,
 * with the IETF draft's RateLimit-Policy / RateLimit headers on every tenant answer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { expectProblem } from './expectProblem.js';

let env: TestEnv;
/** Deployment default: 2 requests per minute per key. */
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ TENANT_REQUESTS_PER_MINUTE: '2' }));
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

async function createTenant(limits?: Record<string, unknown>): Promise<{ id: string; api_key: string }> {
  const res = await api.request('POST', '/v1/admin/tenants', { key: ADMIN_TOKEN, body: { name: 'limited', ...(limits ? { limits } : {}) } });
  expect(res.status).toBe(201);
  return res.body;
}

/**
 * The window is the wall-clock minute, so counting tests start with at least 10 s of
 * it left: a minute turning mid-test would reset the count.
 */
async function awayFromMinuteEnd(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 10_000) await new Promise((r) => setTimeout(r, left + 50));
}

const parseRateLimit = (value: string | null) => {
  const m = /^"default";r=(\d+);t=(\d+)$/.exec(value ?? '');
  expect(m, `RateLimit: ${value}`).not.toBeNull();
  return { remaining: Number(m![1]), reset: Number(m![2]) };
};

describe('requests_per_minute', () => {
  it("answers 429 past the tenant's own limit, with Retry-After and the RateLimit headers", async () => {
    const tenant = await createTenant({ requests_per_minute: 3 });
    await awayFromMinuteEnd();
    for (const expectedRemaining of [2, 1, 0]) {
      const res = await api.request('GET', '/v1/jobs', { key: tenant.api_key });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"default";q=3;w=60');
      const { remaining, reset } = parseRateLimit(res.headers.get('ratelimit'));
      expect(remaining).toBe(expectedRemaining);
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
    }

    const refused = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'one too many' } });
    expectProblem(refused, { status: 429, code: 'rate_limited' });
    const { remaining, reset } = parseRateLimit(refused.headers.get('ratelimit'));
    expect(remaining).toBe(0);
    expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=3;w=60');
    expect(Number(refused.headers.get('retry-after'))).toBe(reset);
    // Refused before the route: nothing was queued.
    expect((await api.ctx.jobs.list(tenant.id, { limit: 10 })).data).toEqual([]);
  });

  it('counts per key: a second key of the tenant has a window of its own', async () => {
    const tenant = await createTenant({ requests_per_minute: 1 });
    const second = (await api.request('POST', `/v1/admin/tenants/${tenant.id}/keys`, { key: ADMIN_TOKEN })).body;
    await awayFromMinuteEnd();
    expect((await api.request('GET', '/v1/jobs', { key: tenant.api_key })).status).toBe(200);
    expectProblem(await api.request('GET', '/v1/jobs', { key: tenant.api_key }), { status: 429, code: 'rate_limited' });
    expect((await api.request('GET', '/v1/jobs', { key: second.api_key })).status).toBe(200);
  });

  it('applies TENANT_REQUESTS_PER_MINUTE to a tenant without its own limit', async () => {
    const tenant = await createTenant();
    await awayFromMinuteEnd();
    for (let i = 0; i < 2; i++) expect((await api.request('GET', '/v1/usage', { key: tenant.api_key })).status).toBe(200);
    const refused = await api.request('GET', '/v1/usage', { key: tenant.api_key });
    expectProblem(refused, { status: 429, code: 'rate_limited' });
    expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60');
  });

  it('sends the headers on every tenant answer, refusals included', async () => {
    const tenant = await createTenant({ requests_per_minute: 100 });
    const answers = [
      await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'hi' } }),
      await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { bogus: 1 } }),
      await api.request('GET', `/v1/jobs/${randomUUID()}`, { key: tenant.api_key }),
      await api.request('POST', `/v1/jobs/${randomUUID()}/cancel`, { key: tenant.api_key }),
      await api.request('GET', '/v1/jobs?limit=1', { key: tenant.api_key }),
      await api.request('GET', '/v1/usage?from=nope', { key: tenant.api_key }),
    ];
    expect(answers.map((a) => a.status)).toEqual([202, 400, 404, 404, 200, 400]);
    for (const a of answers) {
      expect(a.headers.get('ratelimit-policy')).toBe('"default";q=100;w=60');
      parseRateLimit(a.headers.get('ratelimit'));
    }
  });

  it('sends no headers and never refuses when the limit is null (unlimited)', async () => {
    const tenant = await createTenant({ requests_per_minute: null });
    for (let i = 0; i < 6; i++) {
      const res = await api.request('GET', '/v1/jobs', { key: tenant.api_key });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit')).toBeNull();
      expect(res.headers.get('ratelimit-policy')).toBeNull();
    }
  });

  it('takes a changed limit into account on the next request', async () => {
    const tenant = await createTenant({ requests_per_minute: 1 });
    await awayFromMinuteEnd();
    await api.request('GET', '/v1/jobs', { key: tenant.api_key });
    expectProblem(await api.request('GET', '/v1/jobs', { key: tenant.api_key }), { status: 429, code: 'rate_limited' });
    await api.request('PATCH', `/v1/admin/tenants/${tenant.id}`, { key: ADMIN_TOKEN, body: { limits: { requests_per_minute: 10 } } });
    expect((await api.request('GET', '/v1/jobs', { key: tenant.api_key })).status).toBe(200);
  });

  it('keeps each counter no longer than its window and a little slack', async () => {
    const tenant = await createTenant({ requests_per_minute: 5 });
    await api.request('GET', '/v1/jobs', { key: tenant.api_key });
    const counters = await api.ctx.redis.keys(`${env.prefix}:rpm:*`);
    expect(counters.length).toBeGreaterThan(0);
    for (const key of counters) {
      const ttl = await api.ctx.redis.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(70);
    }
  });

  it('leaves the admin API and unauthenticated answers without the headers', async () => {
    const admin = await api.request('GET', '/v1/admin/tenants', { key: ADMIN_TOKEN });
    const anonymous = await api.request('GET', '/v1/jobs');
    for (const res of [admin, anonymous]) expect(res.headers.get('ratelimit')).toBeNull();
  });
});
