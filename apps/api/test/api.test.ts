/**
 * The HTTP contract of the API, against the real app and this file's own Redis prefix.
 * No worker runs here: every job stays queued. Bad job bodies: validation.test.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, waitForRedis } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { freePort } from '../../../test/support/redisServer.js';
import { expectProblem } from './expectProblem.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let env: TestEnv;
let api: TestApi;
let tenantA: { id: string; api_key: string };
let tenantB: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  // The API's Redis client fails fast instead of queueing commands: before it is
  // connected, requests get 503 (see /readyz). Start once it is.
  await waitForRedis(api.ctx.redis);
  tenantA = await api.createTenant('tenant a');
  tenantB = await api.createTenant('tenant b');
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

async function submit(key: string, body: Record<string, unknown>) {
  const res = await api.request('POST', '/v1/jobs', { key, body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res;
}

describe('auth', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an unknown tenant key', `cq_${randomBytes(32).toString('base64url')}`],
    ['the admin token', ADMIN_TOKEN],
  ])('refuses %s on /v1/jobs with 401', async (_name, key) => {
    for (const [method, path] of [['GET', '/v1/jobs'], ['GET', `/v1/jobs/${randomUUID()}`], ['POST', '/v1/jobs']] as const) {
      const res = await api.request(method, path, { key, ...(method === 'POST' ? { body: { prompt: 'hi' } } : {}) });
      expectProblem(res, { status: 401, code: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('refuses a key in another scheme than Bearer', async () => {
    const res = await api.request('GET', '/v1/jobs', { headers: { authorization: `Basic ${tenantA.api_key}` } });
    expectProblem(res, { status: 401, code: 'unauthorized' });
  });

  it.each([
    ['no Authorization header', () => undefined],
    ['a wrong admin token', () => `${ADMIN_TOKEN}x`],
    ['a tenant key', () => tenantA.api_key],
  ])('refuses %s on /v1/admin with 401', async (_name, key) => {
    for (const method of ['GET', 'POST'] as const) {
      const res = await api.request(method, '/v1/admin/tenants', { key: key(), ...(method === 'POST' ? { body: { name: 'x' } } : {}) });
      expectProblem(res, { status: 401, code: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('accepts a tenant key on /v1/jobs as soon as the tenant is created', async () => {
    const tenant = await api.createTenant('fresh');
    const res = await api.request('GET', '/v1/jobs', { key: tenant.api_key });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], next_cursor: null });
  });
});

describe('admin tenants', () => {
  it('creates a tenant and shows its key once', async () => {
    const res = await api.request('POST', '/v1/admin/tenants', { key: ADMIN_TOKEN, body: { name: 'acme' } });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['api_key', 'created_at', 'disabled', 'id', 'limits', 'name', 'webhook_secret']);
    expect(res.body).toMatchObject({ id: expect.stringMatching(UUID), name: 'acme', limits: {}, disabled: false });
    expect(res.body.api_key).toMatch(/^cq_[A-Za-z0-9_-]{43}$/);
    expect(new Date(res.body.created_at).toISOString()).toBe(res.body.created_at);
  });

  it('shows one tenant at its Location, without its key, and 404 for an unknown id', async () => {
    const res = await api.request('POST', '/v1/admin/tenants', { key: ADMIN_TOKEN, body: { name: 'located' } });
    const shown = await api.request('GET', res.headers.get('location')!, { key: ADMIN_TOKEN });
    expect(shown.status).toBe(200);
    // The whole admin view: tenancy.test.ts.
    expect(shown.body).toMatchObject({ id: res.body.id, name: 'located', created_at: res.body.created_at, key_count: 1 });
    expect(shown.body).not.toHaveProperty('api_key');
    expect((await api.request('GET', '/v1/admin/tenants/nope', { key: ADMIN_TOKEN })).status).toBe(404);
  });

  it('lists tenants without their keys', async () => {
    const created = await api.createTenant('listed');
    // The raw text, not the parsed body: the key must appear nowhere in it.
    const raw = await fetch(`${api.url}/v1/admin/tenants`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(raw.status).toBe(200);
    const text = await raw.text();
    for (const key of [created.api_key, tenantA.api_key, tenantB.api_key]) expect(text).not.toContain(key);
    expect(text).not.toContain('api_key');

    const { data } = JSON.parse(text) as { data: Array<Record<string, unknown>> };
    for (const tenant of data) expect(tenant).not.toHaveProperty('api_key');
    expect(data).toContainEqual(expect.objectContaining({ id: created.id, name: 'listed', created_at: expect.any(String) }));
    expect(data.map((t) => t.id)).toEqual(expect.arrayContaining([tenantA.id, tenantB.id]));
  });

  it('stores only the SHA-256 of a key', async () => {
    const created = await api.createTenant('hashed');
    const redis = new Redis(env.redisUrl);
    try {
      const stored = JSON.parse((await redis.get(`${env.prefix}:apikey:${hashApiKey(created.api_key)}`)) ?? 'null');
    expect(stored).toEqual({ tenant_id: created.id, key_id: expect.any(String) });
      const plaintextKeys = [created.api_key, tenantA.api_key, tenantB.api_key];
      let scanned = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.prefix}:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          scanned++;
          const stored = `${key}\n${(await readAny(redis, key)).join('\n')}`;
          for (const plaintext of plaintextKeys) expect(stored, key).not.toContain(plaintext);
        }
      } while (cursor !== '0');
      expect(scanned).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });

  it.each([
    ['no body', undefined, 'name'],
    ['no name', {}, 'name'],
    ['an empty name', { name: '   ' }, 'name'],
    ['a name that is not a string', { name: 5 }, 'name'],
    ['an unknown field', { name: 'x', bogus: true }, 'bogus'],
  ])('refuses %s with 400 naming the field', async (_name, body, field) => {
    const before = await api.ctx.tenants.list();
    const res = await api.request('POST', '/v1/admin/tenants', { key: ADMIN_TOKEN, body });
    expectProblem(res, { status: 400, code: 'invalid_request', field });
    expect(await api.ctx.tenants.list()).toEqual(before);
  });
});

describe('POST /v1/jobs', () => {
  it('queues a job and answers 202 with the job and its Location', async () => {
    const queuedBefore = await api.ctx.scheduler.queued(tenantA.id);
    const res = await submit(tenantA.api_key, { prompt: 'Say hi', model: 'sonnet', metadata: { ticket: 'T-1', n: 2 } });

    const job = res.body;
    expect(res.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    expect(Object.keys(job).sort()).toEqual(
      ['attempt_history', 'attempts', 'created_at', 'error', 'finished_at', 'id', 'metadata', 'next_attempt_at', 'request', 'result', 'started_at', 'status'],
    );
    expect(job).toEqual({
      id: expect.stringMatching(UUID),
      status: 'queued',
      created_at: expect.any(String),
      started_at: null,
      finished_at: null,
      attempts: 0,
      next_attempt_at: null,
      attempt_history: [],
      request: { prompt: 'Say hi', model: 'sonnet' },
      result: null,
      error: null,
      metadata: { ticket: 'T-1', n: 2 },
    });
    expect(Math.abs(Date.parse(job.created_at) - Date.now())).toBeLessThan(60_000);

    // Really waiting in its tenant's intake, for a worker to dispatch (no worker runs here).
    expect(await api.ctx.scheduler.queued(tenantA.id)).toBe(queuedBefore + 1);
    // Written in the same step as its place in the intake: a record that never expires
    // while queued, and no record without a place (nothing to undo, nothing to expire).
    expect(await api.ctx.redis.ttl(api.ctx.keys.job(job.id))).toBe(-1);

    const read = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenantA.api_key });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(job);
  });

  it('answers metadata null when none was given', async () => {
    const res = await submit(tenantA.api_key, { prompt: 'no metadata' });
    expect(res.body.metadata).toBeNull();
    expect(res.body.request).toEqual({ prompt: 'no metadata' });
  });
});

describe('GET /v1/jobs/{id}', () => {
  it.each([
    ['a uuid that is no job', () => randomUUID()],
    ['an id that is not a uuid', () => 'not-a-uuid'],
  ])('answers 404 for %s', async (_name, id) => {
    const res = await api.request('GET', `/v1/jobs/${id()}`, { key: tenantA.api_key });
    expectProblem(res, { status: 404, code: 'not_found' });
  });

  it("answers 404 for another tenant's job", async () => {
    const { body: job } = await submit(tenantB.api_key, { prompt: "B's job" });
    const other = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenantA.api_key });
    expectProblem(other, { status: 404, code: 'not_found' });
    expect(JSON.stringify(other.body)).not.toContain("B's job");

    const own = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenantB.api_key });
    expect(own.status).toBe(200);
    expect(own.body).toEqual(job);
  });
});

describe('GET /v1/jobs', () => {
  let lister: { id: string; api_key: string };
  /** Ids of the lister's jobs, in submission order. */
  const submitted: string[] = [];

  beforeAll(async () => {
    lister = await api.createTenant('lister');
    // One after the other: ids are UUIDv7, so submission order is the listing order.
    for (let i = 0; i < 5; i++) submitted.push((await submit(lister.api_key, { prompt: `job ${i}` })).body.id);
  });

  const list = (query: string, key = lister.api_key) => api.request('GET', `/v1/jobs${query}`, { key });

  it('pages through every job, newest first', async () => {
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['data', 'next_cursor']);
      pageSizes.push(res.body.data.length);
      seen.push(...res.body.data.map((j: { id: string }) => j.id));
      cursor = res.body.next_cursor;
      expect(pageSizes.length, 'pages never end').toBeLessThanOrEqual(5);
    } while (cursor);
    expect(pageSizes).toEqual([2, 2, 1]);
    expect(seen).toEqual([...submitted].reverse());
  });

  it('returns whole job objects, and everything in one page by default', async () => {
    const res = await list('');
    expect(res.body.next_cursor).toBeNull();
    expect(res.body.data.map((j: { id: string }) => j.id)).toEqual([...submitted].reverse());
    expect(res.body.data[0]).toEqual((await api.request('GET', `/v1/jobs/${submitted[4]}`, { key: lister.api_key })).body);
  });

  it('filters by status', async () => {
    const queued = await list('?status=queued');
    expect(queued.body.data.map((j: { id: string }) => j.id)).toEqual([...submitted].reverse());
    expect(queued.body.next_cursor).toBeNull();

    const succeeded = await list('?status=succeeded');
    expect(succeeded.status).toBe(200);
    expect(succeeded.body).toEqual({ data: [], next_cursor: null });
  });

  it.each([
    ['?status=done', 'status'],
    ['?limit=0', 'limit'],
    ['?limit=1000', 'limit'],
    ['?limit=two', 'limit'],
    ['?cursor=nope', 'cursor'],
    ['?bogus=1', 'bogus'],
  ])('refuses %s with 400 naming the field', async (query, field) => {
    expectProblem(await list(query), { status: 400, code: 'invalid_request', field });
  });

  it("never shows another tenant's jobs", async () => {
    for (const key of [tenantA.api_key, tenantB.api_key]) {
      const res = await list('?limit=100', key);
      expect(res.status).toBe(200);
      const ids = res.body.data.map((j: { id: string }) => j.id);
      for (const id of submitted) expect(ids).not.toContain(id);
    }
  });
});

describe('sessions', () => {
  it("accepts a session_id only from the session's tenant", async () => {
    const sessionId = randomUUID();
    await api.ctx.sessions.record(sessionId, tenantA.id, 'ws1');

    const own = await submit(tenantA.api_key, { prompt: 'go on', session_id: sessionId });
    expect(own.body.request).toEqual({ prompt: 'go on', session_id: sessionId });

    const queuedBefore = await api.ctx.scheduler.queued(tenantB.id);
    const other = await api.request('POST', '/v1/jobs', { key: tenantB.api_key, body: { prompt: 'go on', session_id: sessionId } });
    expectProblem(other, { status: 404, code: 'session_not_found', field: 'session_id' });
    expect(await api.ctx.scheduler.queued(tenantB.id)).toBe(queuedBefore);
  });
});

describe('health and plumbing', () => {
  it('answers /healthz and /readyz without a key', async () => {
    const health = await api.request('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready' });
  });

  it('answers 503 problem+json while Redis is away', async () => {
    // Nothing listens on this port: the client fails fast instead of queueing commands.
    const orphan = await startTestApi(env.apiConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` }), {
      waitForRedis: false,
    });
    try {
      expect((await orphan.request('GET', '/healthz')).status).toBe(200);
      expectProblem(await orphan.request('GET', '/readyz'), { status: 503, code: 'unavailable' });
      const submitted = await orphan.request('POST', '/v1/jobs', { key: tenantA.api_key, body: { prompt: 'hi' } });
      expectProblem(submitted, { status: 503, code: 'unavailable' });
      expect(submitted.headers.get('retry-after')).toBe('5');
    } finally {
      await orphan.close();
    }
  });

  it('echoes a given X-Request-Id and makes one up otherwise', async () => {
    const given = await api.request('GET', '/healthz', { headers: { 'x-request-id': 'req-123.abc_X' } });
    expect(given.headers.get('x-request-id')).toBe('req-123.abc_X');

    const made = await api.request('GET', '/healthz');
    expect(made.headers.get('x-request-id')).toMatch(UUID);

    // Not echoed verbatim when it could smuggle something into logs or headers.
    const refused = await api.request('GET', '/healthz', { headers: { 'x-request-id': 'a b<c>' } });
    expect(refused.headers.get('x-request-id')).toMatch(UUID);

    // Problems carry it too.
    const problem = await api.request('GET', '/v1/jobs', { headers: { 'x-request-id': 'req-401' } });
    expect(problem.status).toBe(401);
    expect(problem.headers.get('x-request-id')).toBe('req-401');
  });

  it('answers an unknown route with 404 problem+json', async () => {
    expectProblem(await api.request('GET', '/nope'), { status: 404, code: 'not_found' });
    expectProblem(await api.request('POST', '/v1/nope', { body: {} }), { status: 404, code: 'not_found' });
    expectProblem(await api.request('DELETE', `/v1/jobs/${randomUUID()}`, { key: tenantA.api_key }), { status: 404, code: 'not_found' });
  });
});

/** Everything a key holds, as strings, whatever its type. */
async function readAny(redis: Redis, key: string): Promise<string[]> {
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return [(await redis.get(key)) ?? ''];
    case 'hash':
      return Object.entries(await redis.hgetall(key)).flat();
    case 'list':
      return redis.lrange(key, 0, -1);
    case 'set':
      return redis.smembers(key);
    case 'zset':
      return redis.zrange(key, 0, -1);
    case 'stream':
      return (await redis.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]);
    default:
      return [];
  }
}
