/**
 * What a refusal says is what the caller acts on: the credential a route wants, the
 * setting that lifts a rule, a job's status in a sentence that reads right, and the
 * README's list of codes as the server answers them.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeJobStatus } from '@claude-queue/shared';
import { API_ERRORS, statusesOf, type ApiErrorCode } from '../src/openapi/problems.js';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { submitJob } from '../../../test/support/jobs.js';
import { expectProblem } from './expectProblem.js';

let env: TestEnv;
let api: TestApi;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  tenant = await api.createTenant('texts');
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

describe('401 unauthorized', () => {
  it('on /v1/admin/… asks for the admin token, even when a tenant key was sent', async () => {
    const res = await api.request('GET', '/v1/admin/tenants', { key: tenant.api_key });
    expectProblem(res, { status: 401, code: 'unauthorized' });
    expect(res.body.detail).toMatch(/admin token/);
    expect(res.body.detail).toMatch(/ADMIN_TOKEN/);
    expect(res.body.detail).not.toMatch(/^missing or invalid API key/);
  });

  it('on /v1/jobs asks for a tenant API key', async () => {
    const res = await api.request('GET', '/v1/jobs', { key: 'cq_wrong' });
    expectProblem(res, { status: 401, code: 'unauthorized' });
    expect(res.body.detail).toMatch(/API key/);
  });
});

it('a private webhook_url is refused naming WEBHOOK_ALLOW_PRIVATE, a private MCP server naming MCP_ALLOW_PRIVATE', async () => {
  const hook = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'x', webhook_url: 'http://127.0.0.1:9/hook' } });
  expectProblem(hook, { status: 400, code: 'invalid_request', field: 'webhook_url' });
  expect(hook.body.detail).toMatch(/WEBHOOK_ALLOW_PRIVATE=true/);
  const mcp = await api.request('POST', '/v1/jobs', {
    key: tenant.api_key,
    body: { prompt: 'x', mcp_config: { mcpServers: { local: { type: 'http', url: 'http://10.0.0.1/mcp' } } } },
  });
  expectProblem(mcp, { status: 400, code: 'invalid_request', field: 'mcp_config.mcpServers.local.url' });
  expect(mcp.body.detail).toMatch(/MCP_ALLOW_PRIVATE=true/);
});

describe("a job's status in a sentence", () => {
  it.each([
    ['succeeded', 'has already succeeded'],
    ['failed', 'has already failed'],
    ['canceled', 'was already canceled'],
    ['running', 'is already running'],
    [null, 'has already expired'],
  ] as const)('%s: "the job %s"', (status, phrase) => {
    expect(describeJobStatus(status, { already: true })).toBe(phrase);
  });

  it('cancel of an ended job says what became of it', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'never mind' });
    expect((await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key })).status).toBe(200);
    const again = await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
    expectProblem(again, { status: 409, code: 'job_already_final' });
    expect(again.body.detail).toBe('the job was already canceled');
  });
});

it("the README's list of the API's error codes gives each the statuses the server answers with", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('Error codes of the API itself:');
  const paragraph = readme.slice(start, readme.indexOf('\n\n', start));
  expect(start).toBeGreaterThan(0);
  // `code` 404 or `code` 404, 410 (…): the statuses written right after each code.
  const listed = new Map<string, number[]>();
  for (const m of paragraph.matchAll(/`([a-z_]+)`\s+(\d{3}(?:,\s+\d{3})*)/g)) listed.set(m[1]!, m[2]!.split(/,\s+/).map(Number));
  const documented = Object.fromEntries(Object.keys(API_ERRORS).map((code) => [code, [...statusesOf(code as ApiErrorCode)]]));
  expect(Object.fromEntries(listed)).toEqual(documented);
});
