/**
 * Tenants, keys and credentials through the admin API: shapes, limits, rotation,
 * revocation and disabling (refused on the very next request), and tenants' own model
 * credentials, which no answer, log line or Redis value may show in plaintext.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiContext, createApp } from '@claude-queue/api';
import { hashApiKey, SecretsError, waitForRedis } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { expectProblem } from './expectProblem.js';

const SECRETS_KEY = randomBytes(32).toString('base64');
const SECRET = `sk-ant-api03-${randomBytes(24).toString('hex')}`;
const OAUTH = `sk-ant-oat01-${randomBytes(24).toString('hex')}`;

let env: TestEnv;
let api: TestApi;
/** The same deployment without SECRETS_KEY. */
let keyless: TestApi;

beforeAll(async () => {
  env = await createTestEnv();
  // The deployment's own default request rate, not the test env's lifted one.
  api = await startTestApi(env.apiConfig({ SECRETS_KEY, TENANT_REQUESTS_PER_MINUTE: '600' }));
  keyless = await startTestApi(env.apiConfig({ TENANT_REQUESTS_PER_MINUTE: '600' }));
});

afterAll(async () => {
  await api?.close();
  await keyless?.close();
  await env?.cleanup();
});

const admin = (method: string, path: string, body?: unknown) =>
  api.request(method, `/v1/admin/tenants${path}`, { key: ADMIN_TOKEN, ...(body === undefined ? {} : { body }) });
const jobsWith = (key: string) => api.request('GET', '/v1/jobs', { key });

/** The deployment's defaults in this test env (config.ts). */
const DEFAULTS = { rate: null, max_concurrency: null, max_queued: 10_000, requests_per_minute: 600, weight: 1, max_stored_bytes: 1024 * 1024 * 1024, budget_usd: null };

describe('tenants', () => {
  it('creates a tenant with limits and shows the key only in that answer', async () => {
    const res = await admin('POST', '', { name: 'limited', limits: { max_concurrency: 2, rate: { max: 10, per_seconds: 60 } } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      name: 'limited',
      api_key: expect.stringMatching(/^cq_[A-Za-z0-9_-]{43}$/),
      limits: { max_concurrency: 2, rate: { max: 10, per_seconds: 60 } },
      created_at: expect.any(String),
      disabled: false,
      webhook_secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });

    const shown = await admin('GET', `/${res.body.id}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual({
      id: res.body.id,
      name: 'limited',
      created_at: res.body.created_at,
      disabled: false,
      limits: { max_concurrency: 2, rate: { max: 10, per_seconds: 60 } },
      effective_limits: { ...DEFAULTS, max_concurrency: 2, rate: { max: 10, per_seconds: 60 } },
      has_credentials: false,
      key_count: 1,
      webhook_url: null,
      webhook_disabled_urls: [],
    });
    expect(JSON.stringify(shown.body)).not.toContain(res.body.api_key);
    expect(JSON.stringify(shown.body)).not.toContain(res.body.webhook_secret);
  });

  it('stores limits as the JSON of the overrides and disabled as 0/1, where the scheduler reads them', async () => {
    const t = (await admin('POST', '', { name: 'raw', limits: { max_queued: null, weight: 2 } })).body;
    const raw = await api.ctx.redis.hgetall(api.ctx.keys.tenant(t.id));
    expect(JSON.parse(raw.limits!)).toEqual({ max_queued: null, weight: 2 });
    expect(raw.disabled).toBe('0');
    await admin('PATCH', `/${t.id}`, { disabled: true });
    expect(await api.ctx.redis.hget(api.ctx.keys.tenant(t.id), 'disabled')).toBe('1');
  });

  it('lists tenants with their limits, never a key', async () => {
    const t = await api.createTenant('listed');
    const raw = await fetch(`${api.url}/v1/admin/tenants`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await raw.text();
    expect(text).not.toContain(t.api_key);
    expect(text).not.toContain(hashApiKey(t.api_key));
    expect(text).not.toContain('api_key');
    const listed = (JSON.parse(text) as { data: Array<{ id: string }> }).data.find((x) => x.id === t.id);
    expect(listed).toMatchObject({ name: 'listed', limits: {}, effective_limits: DEFAULTS, disabled: false, key_count: 1 });
  });

  it('PATCH limits replaces the whole overrides object; null is unlimited, {} is the defaults', async () => {
    const t = await api.createTenant('patched');
    const first = await admin('PATCH', `/${t.id}`, { limits: { max_concurrency: 2, max_queued: 5 } });
    expect(first.status).toBe(200);
    expect(first.body.limits).toEqual({ max_concurrency: 2, max_queued: 5 });

    const second = await admin('PATCH', `/${t.id}`, { limits: { max_queued: null } });
    expect(second.body.limits).toEqual({ max_queued: null });
    expect(second.body.effective_limits).toEqual({ ...DEFAULTS, max_queued: null });

    const reset = await admin('PATCH', `/${t.id}`, { limits: {}, name: 'renamed' });
    expect(reset.body).toMatchObject({ name: 'renamed', limits: {}, effective_limits: DEFAULTS });
  });

  const badLimits: Array<[string, unknown, string]> = [
    ['a concurrency of 0', { max_concurrency: 0 }, 'limits.max_concurrency'],
    ['a fractional max_queued', { max_queued: 1.5 }, 'limits.max_queued'],
    ['a rate without per_seconds', { rate: { max: 1 } }, 'limits.rate.per_seconds'],
    ['a rate window over a day', { rate: { max: 1, per_seconds: 86_401 } }, 'limits.rate.per_seconds'],
    ['a null weight', { weight: null }, 'limits.weight'],
    ['a weight of 0', { weight: 0 }, 'limits.weight'],
    ['a requests_per_minute string', { requests_per_minute: '60' }, 'limits.requests_per_minute'],
    ['an unknown limit', { bogus: 1 }, 'limits.bogus'],
    ['limits that are not an object', [], 'limits'],
  ];

  it.each(badLimits)('refuses %s on create with 400 naming the field', async (_name, limits, field) => {
    const before = (await api.ctx.tenants.list()).length;
    expectProblem(await admin('POST', '', { name: 'bad', limits }), { status: 400, code: 'invalid_request', field });
    expect(await api.ctx.tenants.list()).toHaveLength(before);
  });

  it.each(badLimits)('refuses %s on PATCH with 400 naming the field, changing nothing', async (_name, limits, field) => {
    const t = (await admin('POST', '', { name: 'unchanged', limits: { max_queued: 3 } })).body;
    expectProblem(await admin('PATCH', `/${t.id}`, { limits, name: 'changed' }), { status: 400, code: 'invalid_request', field });
    expect((await admin('GET', `/${t.id}`)).body).toMatchObject({ name: 'unchanged', limits: { max_queued: 3 } });
  });

  it.each([
    ['a disabled that is not a boolean', { disabled: 'yes' }, 'disabled'],
    ['an empty name', { name: ' ' }, 'name'],
    ['an unknown field', { api_key: 'cq_x' }, 'api_key'],
  ])('refuses %s on PATCH with 400 naming the field', async (_name, body, field) => {
    const t = await api.createTenant('patch-bad');
    expectProblem(await admin('PATCH', `/${t.id}`, body), { status: 400, code: 'invalid_request', field });
  });

  it.each([
    ['GET', ''],
    ['PATCH', ''],
    ['POST', '/keys'],
    ['GET', '/keys'],
    ['DELETE', '/keys/some-key'],
    ['GET', '/usage'],
  ])('answers 404 problem+json to %s %s of an unknown tenant', async (method, suffix) => {
    const res = await admin(method, `/no-such-tenant${suffix}`, method === 'PATCH' ? { disabled: true } : undefined);
    expectProblem(res, { status: 404, code: 'not_found' });
    expect(await api.ctx.redis.exists(api.ctx.keys.tenant('no-such-tenant'))).toBe(0);
  });
});

describe('keys', () => {
  it('rotates: a second key works beside the first, until the first is revoked', async () => {
    const t = await api.createTenant('rotating');
    const added = await admin('POST', `/${t.id}/keys`);
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      id: expect.any(String),
      api_key: expect.stringMatching(/^cq_[A-Za-z0-9_-]{43}$/),
      prefix: added.body.api_key.slice(0, 11),
      created_at: expect.any(String),
    });
    expect(added.body.api_key).not.toBe(t.api_key);
    expect((await jobsWith(t.api_key)).status).toBe(200);
    expect((await jobsWith(added.body.api_key)).status).toBe(200);

    const listed = await admin('GET', `/${t.id}/keys`);
    expect(listed.body.data).toHaveLength(2);
    const first = listed.body.data.find((k: { id: string }) => k.id !== added.body.id);
    expect(t.api_key.startsWith(first.prefix)).toBe(true);

    expect((await admin('DELETE', `/${t.id}/keys/${first.id}`)).status).toBe(204);
    // The very next request: nothing cached the key.
    expectProblem(await jobsWith(t.api_key), { status: 401, code: 'unauthorized' });
    expect((await jobsWith(added.body.api_key)).status).toBe(200);
    expect((await admin('GET', `/${t.id}/keys`)).body.data.map((k: { id: string }) => k.id)).toEqual([added.body.id]);
    expect(await api.ctx.redis.exists(api.ctx.keys.apiKey(hashApiKey(t.api_key)))).toBe(0);
    expectProblem(await admin('DELETE', `/${t.id}/keys/${first.id}`), { status: 404, code: 'not_found' });
  });

  it('lists keys with prefix and dates only, never the key or its hash', async () => {
    const t = await api.createTenant('listing keys');
    const second = (await admin('POST', `/${t.id}/keys`)).body;
    await jobsWith(second.api_key);

    const raw = await fetch(`${api.url}/v1/admin/tenants/${t.id}/keys`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await raw.text();
    for (const key of [t.api_key, second.api_key]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(hashApiKey(key));
    }
    const { data } = JSON.parse(text) as { data: Array<Record<string, unknown>> };
    for (const k of data) expect(Object.keys(k).sort()).toEqual(['created_at', 'id', 'last_used_at', 'prefix']);
    expect(data.find((k) => k.id === second.id)).toMatchObject({ prefix: second.prefix, last_used_at: expect.any(String) });
    expect(data.find((k) => k.id !== second.id)).toMatchObject({ last_used_at: null });
  });

  it("refuses to revoke a key through another tenant's path", async () => {
    const owner = await api.createTenant('owner');
    const other = await api.createTenant('other');
    const [key] = (await admin('GET', `/${owner.id}/keys`)).body.data;
    expectProblem(await admin('DELETE', `/${other.id}/keys/${key.id}`), { status: 404, code: 'not_found' });
    expect((await jobsWith(owner.api_key)).status).toBe(200);
  });

  it("answers 404 to a path id that isn't one, touching no key it would name (`<id>:keys` is another tenant key)", async () => {
    const t = await api.createTenant('ids');
    const [key] = (await admin('GET', `/${t.id}/keys`)).body.data;
    const keysHash = env.prefix + `:tenant:${t.id}:keys`;
    const redis = new Redis(env.redisUrl);
    try {
      const before = await redis.hgetall(keysHash);
      for (const [method, path, body] of [
        ['PATCH', `/${t.id}:keys`, { name: 'overwritten', disabled: true }],
        ['GET', `/${t.id}:keys`],
        ['GET', `/${t.id}:keys/keys`],
        ['POST', `/${t.id}:keys/keys`],
        ['POST', `/${t.id}:keys/webhook-secret`],
        ['GET', `/${t.id}:jobs/usage`],
        ['DELETE', `/${t.id}/keys/${key.id}:x`],
        ['PATCH', '/*', { name: 'x' }],
      ] as const) {
        expectProblem(await admin(method, path, body), { status: 404, code: 'not_found' });
      }
      expect(await redis.hgetall(keysHash)).toEqual(before);
      expect((await admin('GET', `/${t.id}`)).body).toMatchObject({ name: 'ids', disabled: false, key_count: 1 });
      expect((await jobsWith(t.api_key)).status).toBe(200);
    } finally {
      redis.disconnect();
    }
  });

  it('keeps working on a tenant whose every key was revoked: a new key brings it back', async () => {
    const t = await api.createTenant('keyless');
    const [key] = (await admin('GET', `/${t.id}/keys`)).body.data;
    await admin('DELETE', `/${t.id}/keys/${key.id}`);
    expect((await admin('GET', `/${t.id}`)).body.key_count).toBe(0);
    const fresh = (await admin('POST', `/${t.id}/keys`)).body;
    expect((await jobsWith(fresh.api_key)).status).toBe(200);
  });
});

describe('disabling', () => {
  it('refuses every key of a disabled tenant on its next request, and accepts them again once enabled', async () => {
    const t = await api.createTenant('switchable');
    const second = (await admin('POST', `/${t.id}/keys`)).body;

    const disabled = await admin('PATCH', `/${t.id}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabled).toBe(true);
    for (const key of [t.api_key, second.api_key]) {
      expectProblem(await jobsWith(key), { status: 401, code: 'unauthorized' });
      expectProblem(await api.request('GET', '/v1/usage', { key }), { status: 401, code: 'unauthorized' });
    }

    expect((await admin('PATCH', `/${t.id}`, { disabled: false })).body.disabled).toBe(false);
    for (const key of [t.api_key, second.api_key]) expect((await jobsWith(key)).status).toBe(200);
  });
});

describe('credentials', () => {
  it('stores a credential encrypted, says only that there is one, and gives it to the worker decrypted', async () => {
    const t = await api.createTenant('own account');
    const res = await admin('PATCH', `/${t.id}`, { credentials: { anthropic_api_key: SECRET } });
    expect(res.status).toBe(200);
    expect(res.body.has_credentials).toBe(true);

    const answers = [res, await admin('GET', `/${t.id}`), await admin('GET', ''), await admin('GET', `/${t.id}/keys`)];
    for (const a of answers) expect(JSON.stringify(a.body)).not.toContain(SECRET);
    expect(await api.ctx.tenants.getCredentials(t.id, api.ctx.secretsKey)).toEqual({ ANTHROPIC_API_KEY: SECRET });
    expect(await api.ctx.redis.hget(api.ctx.keys.tenant(t.id), 'credentials')).toMatch(/^v1:/);
  });

  it('replaces the credential as a whole, and removes it with null', async () => {
    const t = await api.createTenant('switching account');
    await admin('PATCH', `/${t.id}`, { credentials: { anthropic_api_key: SECRET } });
    await admin('PATCH', `/${t.id}`, { credentials: { claude_code_oauth_token: OAUTH } });
    expect(await api.ctx.tenants.getCredentials(t.id, api.ctx.secretsKey)).toEqual({ CLAUDE_CODE_OAUTH_TOKEN: OAUTH });

    const cleared = await admin('PATCH', `/${t.id}`, { credentials: null });
    expect(cleared.body.has_credentials).toBe(false);
    expect(await api.ctx.tenants.getCredentials(t.id, api.ctx.secretsKey)).toBeNull();
  });

  it('leaves no credential in plaintext anywhere in Redis', async () => {
    const t = await api.createTenant('scanned');
    await admin('PATCH', `/${t.id}`, { credentials: { anthropic_api_key: SECRET, claude_code_oauth_token: OAUTH } });
    const redis = new Redis(env.redisUrl);
    try {
      const values = await dumpPrefix(redis, env.prefix);
      expect(values.length).toBeGreaterThan(0);
      for (const secret of [SECRET, OAUTH, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('base64url')]) {
        expect(values.filter((v) => v.includes(secret))).toEqual([]);
      }
    } finally {
      redis.disconnect();
    }
  });

  it("won't open one tenant's sealed credential as another's", async () => {
    const a = await api.createTenant('sealed a');
    const b = await api.createTenant('sealed b');
    await admin('PATCH', `/${a.id}`, { credentials: { anthropic_api_key: SECRET } });
    const sealed = (await api.ctx.redis.hget(api.ctx.keys.tenant(a.id), 'credentials'))!;
    await api.ctx.redis.hset(api.ctx.keys.tenant(b.id), 'credentials', sealed);
    await expect(api.ctx.tenants.getCredentials(b.id, api.ctx.secretsKey)).rejects.toThrow(SecretsError);
    await expect(api.ctx.tenants.getCredentials(a.id, null)).rejects.toThrow(SecretsError);
  });

  it('refuses credentials without SECRETS_KEY with 409 naming it, and still clears them', async () => {
    const t = await keyless.createTenant('no secrets key');
    const res = await keyless.request('PATCH', `/v1/admin/tenants/${t.id}`, { key: ADMIN_TOKEN, body: { credentials: { anthropic_api_key: SECRET } } });
    expectProblem(res, { status: 409, code: 'secrets_key_missing', field: 'credentials' });
    expect(res.body.detail).toContain('SECRETS_KEY');
    expect(await keyless.ctx.redis.hget(keyless.ctx.keys.tenant(t.id), 'credentials')).toBeNull();
    const cleared = await keyless.request('PATCH', `/v1/admin/tenants/${t.id}`, { key: ADMIN_TOKEN, body: { credentials: null } });
    expect(cleared.status).toBe(200);
  });

  it.each([
    ['no credential in the object', {}, 'credentials'],
    ['an empty key', { anthropic_api_key: '' }, 'credentials.anthropic_api_key'],
    ['a key with a newline', { anthropic_api_key: 'sk\nx' }, 'credentials.anthropic_api_key'],
    ['an unknown member', { aws_secret: 'x' }, 'credentials.aws_secret'],
  ])('refuses %s with 400 naming the field', async (_name, credentials, field) => {
    const t = await api.createTenant('bad credentials');
    expectProblem(await admin('PATCH', `/${t.id}`, { credentials }), { status: 400, code: 'invalid_request', field });
    expect((await admin('GET', `/${t.id}`)).body.has_credentials).toBe(false);
  });

  it('never writes a credential to the log, even at trace level', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const ctx = createApiContext(env.apiConfig({ SECRETS_KEY, LOG_LEVEL: 'trace' }), logger);
    await waitForRedis(ctx.redis);
    const server = createApp(ctx).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/admin/tenants`;
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      const created = (await (await fetch(url, { method: 'POST', headers, body: JSON.stringify({ name: 'logged' }) })).json()) as { id: string };
      const patched = await fetch(`${url}/${created.id}`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ credentials: { anthropic_api_key: SECRET, claude_code_oauth_token: OAUTH } }),
      });
      expect(patched.status).toBe(200);
      await fetch(`${url}/${created.id}`, { method: 'PATCH', headers, body: JSON.stringify({ credentials: { anthropic_api_key: 'bad key' } }) });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await ctx.close();
    }
    const log = lines.join('');
    expect(log).toContain('tenant updated');
    for (const secret of [SECRET, OAUTH, 'bad key', ADMIN_TOKEN]) expect(log).not.toContain(secret);
  });
});

/** Every key under the prefix and everything it holds, as strings. */
async function dumpPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      out.push(key);
      if (type === 'string') out.push((await redis.get(key)) ?? '');
      else if (type === 'hash') out.push(...Object.entries(await redis.hgetall(key)).flat());
      else if (type === 'list') out.push(...(await redis.lrange(key, 0, -1)));
      else if (type === 'set') out.push(...(await redis.smembers(key)));
      else if (type === 'zset') out.push(...(await redis.zrange(key, 0, -1)));
    }
  } while (cursor !== '0');
  return out;
}
