/**
 * The tenants CLI as an operator runs it: a child process configured by env alone,
 * against this file's Redis prefix, checked through the API it shares the store with.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { expectProblem } from './expectProblem.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let env: TestEnv;
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

/** Runs `tenants <args>` from the sources; resolves with its output and exit code, whatever the code. */
async function tenants(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'apps/api/src/tenantsCli.ts', ...args],
      { cwd: ROOT, env: env.processEnv(), timeout: 20_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const jobsWith = (key: string) => api.request('GET', '/v1/jobs', { key });

// Each test starts the CLI (node + tsx) several times: seconds apiece on 2 busy cores.
describe('tenants CLI', { timeout: 120_000 }, () => {
  it('creates a tenant whose key works, then rotates and revokes keys', async () => {
    const created = await tenants('create', 'cli', 'tenant');
    expect(created.code, created.stderr).toBe(0);
    const id = /id:\s+(\S+)/.exec(created.stdout)![1]!;
    const firstKey = /api key:\s+(cq_\S+)/.exec(created.stdout)![1]!;
    expect((await api.ctx.tenants.get(id))?.name).toBe('cli tenant');
    expect((await jobsWith(firstKey)).status).toBe(200);

    const added = await tenants('add-key', id);
    expect(added.code, added.stderr).toBe(0);
    const secondKey = /api key:\s+(cq_\S+)/.exec(added.stdout)![1]!;
    expect((await jobsWith(secondKey)).status).toBe(200);

    const listed = await tenants('keys', id);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(firstKey);
    expect(listed.stdout).not.toContain(secondKey);
    expect(listed.stdout).toContain(firstKey.slice(0, 11));
    const firstKeyId = listed.stdout.split('\n').find((line) => line.includes(firstKey.slice(0, 11)))!.split(/\s+/)[0]!;

    const revoked = await tenants('revoke-key', id, firstKeyId);
    expect(revoked.code, revoked.stderr).toBe(0);
    expectProblem(await jobsWith(firstKey), { status: 401, code: 'unauthorized' });
    expect((await jobsWith(secondKey)).status).toBe(200);
    expect((await tenants('revoke-key', id, firstKeyId)).code).toBe(1);
  });

  it('sets limits, shows them, and disables and enables a tenant', async () => {
    const tenant = await api.createTenant('managed');
    const limited = await tenants('limits', tenant.id, '{"max_concurrency": 2, "requests_per_minute": null}');
    expect(limited.code, limited.stderr).toBe(0);
    expect((await api.ctx.tenants.get(tenant.id))?.limits).toEqual({ max_concurrency: 2, requests_per_minute: null });

    const shown = await tenants('show', tenant.id);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      id: tenant.id,
      limits: { max_concurrency: 2, requests_per_minute: null },
      effective_limits: { max_concurrency: 2, requests_per_minute: null, max_queued: 10_000 },
      key_count: 1,
    });

    expect((await tenants('disable', tenant.id)).code).toBe(0);
    expectProblem(await jobsWith(tenant.api_key), { status: 401, code: 'unauthorized' });
    expect((await tenants('enable', tenant.id)).code).toBe(0);
    expect((await jobsWith(tenant.api_key)).status).toBe(200);

    const list = await tenants('list');
    expect(list.stdout).toContain(tenant.id);
    expect(list.stdout).not.toContain(tenant.api_key);
  });

  it.each([
    ['no command', [], 2, /usage: npm run tenants/],
    ['an unknown command', ['bogus'], 2, /unknown command: bogus/],
    ['create without a name', ['create'], 2, /missing <name>/],
    ['limits that are not JSON', ['limits', 'x', '{'], 2, /JSON object/],
    ['invalid limits', ['limits', 'x', '{"max_concurrency": 0}'], 2, /max_concurrency/],
    ['an unknown tenant', ['show', 'no-such-tenant'], 1, /no such tenant/],
  ])('refuses %s with a clear message', async (_name, args, code, message) => {
    const res = await tenants(...args);
    expect(res.code).toBe(code);
    expect(res.stderr).toMatch(message);
  });
});
