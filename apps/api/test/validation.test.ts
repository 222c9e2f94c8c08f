/**
 * POST /v1/jobs input checking: every option accepted, and every bad body refused with
 * problem+json naming the problem, before anything reaches the queue or the job index.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PROMPT_MAX_BYTES, TOOL_RULE_MAX_CHARS, TOOL_RULES_MAX, waitForRedis } from '@claude-queue/shared';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { expectProblem, type ProblemExpectation } from './expectProblem.js';

// Limits set low, so the tests show the API enforces the configured values.
const JOB_TIMEOUT_MAX_MS = 60_000;
const MAX_PROMPT_BYTES = 1000;

let env: TestEnv;
let api: TestApi;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  // A deployment that denies Bash and local MCP servers (the defaults allow both: they run in the sandbox).
  api = await startTestApi(
    env.apiConfig({ JOB_TIMEOUT_MAX_MS: String(JOB_TIMEOUT_MAX_MS), MAX_PROMPT_BYTES: String(MAX_PROMPT_BYTES), DENIED_TOOLS: 'Bash,WebFetch', MCP_ALLOW_STDIO: 'false' }),
  );
  await waitForRedis(api.ctx.redis);
  tenant = await api.createTenant('validation');
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

describe('POST /v1/jobs accepts', () => {
  it('every option, echoing the request without metadata', async () => {
    const options = {
      prompt: 'Summarize the repo',
      model: 'claude-sonnet-4-5',
      system_prompt: 'You are terse.',
      append_system_prompt: 'Answer in English.',
      max_turns: 3,
      max_budget_usd: 0.5,
      allowed_tools: ['Read', 'Edit(src/**)'],
      disallowed_tools: ['WebFetch'],
      permission_mode: 'plan',
      mcp_config: { mcpServers: { docs: { type: 'http', url: 'https://mcp.example.com/mcp' } } },
      json_schema: { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] },
      timeout_ms: JOB_TIMEOUT_MAX_MS,
    };
    const metadata = { customer: 'acme', tags: ['a', 'b'], nested: { n: 1 } };
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { ...options, metadata } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.request).toEqual(options);
    expect(res.body.metadata).toEqual(metadata);

    const read = await api.request('GET', `/v1/jobs/${res.body.id}`, { key: tenant.api_key });
    expect(read.body.request).toEqual(options);
    expect(read.body.metadata).toEqual(metadata);
  });

  it('a prompt of exactly MAX_PROMPT_BYTES', async () => {
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'x'.repeat(MAX_PROMPT_BYTES) } });
    expect(res.status).toBe(202);
  });
});

interface BadInput {
  name: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, for bodies that are not JSON. */
  rawBody?: string;
  headers?: Record<string, string>;
  expected: ProblemExpectation;
}

const invalid = (field: string): ProblemExpectation => ({ status: 400, code: 'invalid_request', field });

const badInputs: BadInput[] = [
  { name: 'no body', expected: invalid('prompt') },
  { name: 'no prompt', body: {}, expected: invalid('prompt') },
  { name: 'an empty prompt', body: { prompt: '' }, expected: invalid('prompt') },
  { name: 'a whitespace prompt', body: { prompt: ' \n\t ' }, expected: invalid('prompt') },
  { name: 'a prompt that is a number', body: { prompt: 42 }, expected: invalid('prompt') },
  { name: 'a prompt that is null', body: { prompt: null }, expected: invalid('prompt') },
  // 501 characters, 1002 bytes: the limit counts UTF-8 bytes.
  { name: 'a prompt over MAX_PROMPT_BYTES', body: { prompt: 'é'.repeat(501) }, expected: invalid('prompt') },
  { name: 'an unknown field', body: { prompt: 'hi', bogus: 1 }, expected: invalid('bogus') },
  { name: 'an unknown field in mcp_config', body: { prompt: 'hi', mcp_config: { mcpServers: {}, extra: 1 } }, expected: invalid('mcp_config.extra') },
  { name: 'a body that is not JSON', rawBody: '{"prompt": "hi",', headers: { 'content-type': 'application/json' }, expected: { status: 400, code: 'invalid_json' } },
  { name: 'a JSON string body', rawBody: '"hi"', headers: { 'content-type': 'application/json' }, expected: { status: 400, code: 'invalid_json' } },
  { name: 'a JSON array body', body: [{ prompt: 'hi' }], expected: invalid('(body)') },
  { name: 'a JSON null body', rawBody: 'null', headers: { 'content-type': 'application/json' }, expected: { status: 400, code: 'invalid_json' } },
  { name: 'a 2 MB body', body: { prompt: 'x'.repeat(2 * 1024 * 1024) }, expected: { status: 413, code: 'body_too_large' } },
  { name: 'a text/plain body', rawBody: '{"prompt":"hi"}', headers: { 'content-type': 'text/plain' }, expected: { status: 415, code: 'unsupported_media_type' } },
  { name: 'a body without a content type', rawBody: '{"prompt":"hi"}', expected: { status: 415, code: 'unsupported_media_type' } },
  { name: 'a JSON body in an unsupported charset', rawBody: '{"prompt":"hi"}', headers: { 'content-type': 'application/json; charset=latin1' }, expected: { status: 415, code: 'unsupported_media_type' } },
  { name: 'a session_id that is not a uuid', body: { prompt: 'hi', session_id: 'abc' }, expected: invalid('session_id') },
  { name: 'a session_id that does not exist', body: { prompt: 'hi', session_id: randomUUID() }, expected: { status: 404, code: 'session_not_found', field: 'session_id' } },
  { name: 'max_turns 0', body: { prompt: 'hi', max_turns: 0 }, expected: invalid('max_turns') },
  { name: 'max_turns 1.5', body: { prompt: 'hi', max_turns: 1.5 }, expected: invalid('max_turns') },
  { name: 'max_turns as a string', body: { prompt: 'hi', max_turns: '3' }, expected: invalid('max_turns') },
  { name: 'max_budget_usd 0', body: { prompt: 'hi', max_budget_usd: 0 }, expected: invalid('max_budget_usd') },
  { name: 'max_budget_usd -1', body: { prompt: 'hi', max_budget_usd: -1 }, expected: invalid('max_budget_usd') },
  { name: 'timeout_ms above JOB_TIMEOUT_MAX_MS', body: { prompt: 'hi', timeout_ms: JOB_TIMEOUT_MAX_MS + 1 }, expected: invalid('timeout_ms') },
  { name: 'permission_mode bypassPermissions', body: { prompt: 'hi', permission_mode: 'bypassPermissions' }, expected: invalid('permission_mode') },
  { name: 'permission_mode bogus', body: { prompt: 'hi', permission_mode: 'bogus' }, expected: invalid('permission_mode') },
  { name: 'allowed_tools not an array', body: { prompt: 'hi', allowed_tools: 'Bash' }, expected: invalid('allowed_tools') },
  { name: 'allowed_tools with a flag', body: { prompt: 'hi', allowed_tools: ['Read', '--dangerously-skip-permissions'] }, expected: invalid('allowed_tools.1') },
  { name: 'disallowed_tools with a flag', body: { prompt: 'hi', disallowed_tools: ['-x'] }, expected: invalid('disallowed_tools.0') },
  { name: 'a model that starts with "-"', body: { prompt: 'hi', model: '-m' }, expected: invalid('model') },
  { name: 'a model with a space', body: { prompt: 'hi', model: 'sonnet --verbose' }, expected: invalid('model') },
  { name: 'metadata over 4 KB', body: { prompt: 'hi', metadata: { note: 'x'.repeat(4096) } }, expected: invalid('metadata') },
  { name: 'metadata a string', body: { prompt: 'hi', metadata: 'ticket-1' }, expected: invalid('metadata') },
  { name: 'metadata an array', body: { prompt: 'hi', metadata: ['ticket-1'] }, expected: invalid('metadata') },
  // Local MCP servers: refused where the operator set MCP_ALLOW_STDIO=false.
  { name: 'mcp_config with a local (stdio) server', body: { prompt: 'hi', mcp_config: { mcpServers: { x: { command: 'sh', args: ['-c', 'env'] } } } }, expected: invalid('mcp_config.mcpServers.x') },
  { name: 'mcp_config with a server that is neither', body: { prompt: 'hi', mcp_config: { mcpServers: { x: { type: 'ws', url: 'ws://a' } } } }, expected: invalid('mcp_config.mcpServers.x.type') },
  { name: 'allowed_tools with a tool the deployment denies', body: { prompt: 'hi', allowed_tools: ['Bash(git *)'] }, expected: invalid('allowed_tools.0') },
  { name: 'system_prompt with a NUL', body: { prompt: 'hi', system_prompt: 'a\u0000b' }, expected: invalid('system_prompt') },
  { name: 'allowed_tools with more than TOOL_RULES_MAX entries', body: { prompt: 'hi', allowed_tools: Array.from({ length: TOOL_RULES_MAX + 1 }, (_, i) => `mcp__s${i}`) }, expected: invalid('allowed_tools') },
  { name: 'a tool rule longer than TOOL_RULE_MAX_CHARS', body: { prompt: 'hi', disallowed_tools: [`Read(${'a'.repeat(TOOL_RULE_MAX_CHARS)})`] }, expected: invalid('disallowed_tools.0') },
  { name: 'allowed_tools with a NUL', body: { prompt: 'hi', allowed_tools: ['Ed\u0000it'] }, expected: invalid('allowed_tools.0') },
  { name: 'a body nested 20,000 deep', headers: { 'content-type': 'application/json' }, rawBody: `{"prompt":"hi","json_schema":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`, expected: invalid('(body)') },
  { name: 'mcp_config without mcpServers', body: { prompt: 'hi', mcp_config: {} }, expected: invalid('mcp_config.mcpServers') },
  { name: 'mcp_config a string', body: { prompt: 'hi', mcp_config: '{"mcpServers":{}}' }, expected: invalid('mcp_config') },
  // MCP server entries are strict: the CLI runs an http server's headersHelper as a command.
  { name: 'an MCP server with headersHelper', body: { prompt: 'hi', mcp_config: { mcpServers: { x: { type: 'http', url: 'https://mcp.example.com/', headersHelper: 'id > /tmp/p' } } } }, expected: invalid('mcp_config.mcpServers.x.headersHelper') },
  { name: 'an http MCP server without a url', body: { prompt: 'hi', mcp_config: { mcpServers: { x: { type: 'http' } } } }, expected: invalid('mcp_config.mcpServers.x.url') },
  { name: 'an MCP server header that is not a string', body: { prompt: 'hi', mcp_config: { mcpServers: { x: { type: 'http', url: 'https://mcp.example.com/', headers: { h: 1 } } } } }, expected: invalid('mcp_config.mcpServers.x.headers.h') },
  // An MCP server is reached from the worker's network: public addresses only (MCP_ALLOW_PRIVATE is off).
  ...['http://127.0.0.1:6379/', 'http://localhost:1/', 'http://app.localhost/', 'http://10.0.0.1/', 'http://169.254.169.254/latest', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[fd00:ec2::254]/'].map(
    (url): BadInput => ({ name: `an MCP server at ${url}`, body: { prompt: 'hi', mcp_config: { mcpServers: { x: { type: 'http', url } } } }, expected: invalid('mcp_config.mcpServers.x.url') }),
  ),
  { name: 'json_schema an array', body: { prompt: 'hi', json_schema: [{ type: 'object' }] }, expected: invalid('json_schema') },
  // The SSRF guard is on (WEBHOOK_ALLOW_PRIVATE is off): what is knowable at submit is refused.
  { name: 'webhook_url not http(s)', body: { prompt: 'hi', webhook_url: 'ftp://example.com/hook' }, expected: invalid('webhook_url') },
  { name: 'webhook_url to loopback', body: { prompt: 'hi', webhook_url: 'http://127.0.0.1:9/hook' }, expected: invalid('webhook_url') },
  { name: 'webhook_url to the metadata address', body: { prompt: 'hi', webhook_url: 'http://169.254.169.254/latest' }, expected: invalid('webhook_url') },
  { name: 'webhook_url to IPv4-mapped loopback', body: { prompt: 'hi', webhook_url: 'http://[::ffff:127.0.0.1]/hook' }, expected: invalid('webhook_url') },
  { name: 'webhook_url to a name of loopback', body: { prompt: 'hi', webhook_url: 'http://localhost:9/hook' }, expected: invalid('webhook_url') },
  { name: 'webhook_events unknown', body: { prompt: 'hi', webhook_events: ['job.exploded'] }, expected: invalid('webhook_events.0') },
];

describe('POST /v1/jobs refuses', () => {
  /** What a refused request must leave untouched: the queue and the tenant's job index. */
  async function snapshot() {
    const [counts, list] = await Promise.all([
      api.ctx.scheduler.queued(tenant.id),
      api.request('GET', '/v1/jobs?limit=100', { key: tenant.api_key }),
    ]);
    expect(list.status).toBe(200);
    return { counts, ids: list.body.data.map((j: { id: string }) => j.id) };
  }

  it.each(badInputs)('$name', async ({ body, rawBody, headers, expected }) => {
    const before = await snapshot();
    expect(before.ids.length, 'the earlier tests queued jobs to compare against').toBeGreaterThan(0);

    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body, rawBody, headers });
    expectProblem(res, expected);
    expect(await snapshot()).toEqual(before);
  });

  it('names each member of an MCP server it does not know, and what is allowed', async () => {
    const server = { type: 'sse', url: 'https://mcp.example.com/', headersHelper: 'x', oauth: {} };
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'hi', mcp_config: { mcpServers: { s: server } } } });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { field: 'mcp_config.mcpServers.s.headersHelper', message: 'is not allowed (an MCP server may have: type, url, headers)' },
      { field: 'mcp_config.mcpServers.s.oauth', message: 'is not allowed (an MCP server may have: type, url, headers)' },
    ]);
  });

  it('names each unknown field on its own', async () => {
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'hi', bogus: 1, other: 2 } });
    expectProblem(res, invalid('bogus'));
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['bogus', 'other']);
  });
});

describe('system prompts are limited in UTF-8 bytes: each is one CLI argument, which Linux caps at 128 KiB', () => {
  // Three bytes each in UTF-8, one UTF-16 unit: a limit in characters let 60 K of them (180 KiB) through.
  const threeBytes = '\u20ac';

  it.each(['system_prompt', 'append_system_prompt'])('refuses a %s of 60 K three-byte characters, naming the byte limit', async (field) => {
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'hi', [field]: threeBytes.repeat(60 * 1024) } });
    expectProblem(res, invalid(field));
    expect(res.body.errors[0].message).toContain(`${SYSTEM_PROMPT_MAX_BYTES} bytes of UTF-8`);
  });

  it.each(['system_prompt', 'append_system_prompt'])('accepts a %s just under the limit', async (field) => {
    const value = threeBytes.repeat(Math.floor(SYSTEM_PROMPT_MAX_BYTES / 3));
    expect(Buffer.byteLength(value)).toBeGreaterThan(SYSTEM_PROMPT_MAX_BYTES - 3);
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'hi', [field]: value } });
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(202);
  });

  it('says so in the OpenAPI document', async () => {
    const doc = (await api.request('GET', '/openapi.json')).body;
    for (const field of ['system_prompt', 'append_system_prompt']) {
      const property = doc.components.schemas.JobRequest.properties[field];
      expect(property.maxLength).toBe(SYSTEM_PROMPT_MAX_BYTES);
      expect(property.description).toContain(`${SYSTEM_PROMPT_MAX_BYTES} bytes of UTF-8`);
    }
  });
});

describe('POST /v1/jobs with the default tool settings', () => {
  let open: TestApi;
  beforeAll(async () => {
    open = await startTestApi(env.apiConfig());
  });
  afterAll(async () => {
    await open?.close();
  });

  it('accepts Bash and a local (stdio) MCP server: both run in the job\'s sandbox', async () => {
    const body = { prompt: 'hi', allowed_tools: ['Bash'], mcp_config: { mcpServers: { local: { command: 'node', args: ['server.js'], env: { A: 'b' } } } } };
    const res = await open.request('POST', '/v1/jobs', { key: tenant.api_key, body });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  });

  it('refuses a local MCP server with a member it does not know', async () => {
    const body = { prompt: 'hi', mcp_config: { mcpServers: { local: { command: 'node', cwd: '/' } } } };
    expectProblem(await open.request('POST', '/v1/jobs', { key: tenant.api_key, body }), invalid('mcp_config.mcpServers.local.cwd'));
  });
});
