/**
 * The API and its OpenAPI document agree, as an outside validating proxy (Ajv, JSON
 * Schema 2020-12: documentValidator.ts) sees them:
 * - every answer of the main flows is a documented answer of its operation, its body
 *   valid against the document's schema (problems against Problem);
 * - every request of those flows, and requests at the edges of what the document allows,
 *   are allowed by the document exactly when the server accepts them.
 *
 * Where the two can't agree, the case says so (`exception`) and the test checks that
 * they still disagree the way it says, so an exception can't outlive its reason:
 * - unknown query parameters: the server refuses them; OpenAPI can't forbid them;
 * - a UTF-8 byte limit read without the document's `x-max-bytes` (`maxLength` only);
 * - `custom_id`s repeated in a batch (JSON Schema has no "unique by member").
 */
import { randomUUID } from 'node:crypto';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_SERVICE_EVENT_TYPES, LOWEST_PRIORITY, MAX_JSON_DEPTH, METADATA_MAX_BYTES, SYSTEM_PROMPT_MAX_BYTES, TOOL_RULE_MAX_CHARS, TOOL_RULES_MAX, type JobResult } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { startJob } from '../../../test/support/jobMoves.js';
import { createDocumentValidator, type DocumentRequest, type DocumentValidator } from './documentValidator.js';

type Method = 'get' | 'post' | 'patch' | 'delete';

const MAX_PROMPT_BYTES = 1000;
const JOB_TIMEOUT_MAX_MS = 600_000;

let env: TestEnv;
let api: TestApi;
let doc: OpenAPIV3_1.Document;
let validator: DocumentValidator;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(
    env.apiConfig({ DENIED_TOOLS: 'Bash,WebFetch', MAX_PROMPT_BYTES: String(MAX_PROMPT_BYTES), ALLOWED_PERMISSION_MODES: 'acceptEdits,plan', JOB_TIMEOUT_MAX_MS: String(JOB_TIMEOUT_MAX_MS) }),
  );
  const served = await fetch(`${api.url}/openapi.json`);
  doc = (await served.json()) as OpenAPIV3_1.Document;
  validator = createDocumentValidator(doc);
  tenant = await api.createTenant('conformance');
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

interface Sent {
  status: number;
  headers: Headers;
  text: string;
  body: any;
  /** Why the document refuses the request (empty: it allows it). */
  refusals: string[];
}

/**
 * Sends a request to the API as the document describes it (`path` is the document's
 * template), and checks the answer against the document: a documented status, its body
 * valid. Returns the answer, and what the document says of the request.
 */
async function send(method: Method, path: string, request: DocumentRequest & { key?: string; rawBody?: string; contentType?: string } = {}): Promise<Sent> {
  const refusals = validator.refusals(method, path, request);
  let url = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(request.params?.[name] ?? ''));
  if (request.query) url += `?${new URLSearchParams(request.query)}`;
  const headers: Record<string, string> = { ...request.headers };
  if (request.key) headers.authorization = `Bearer ${request.key}`;
  const body = request.rawBody ?? (request.body === undefined ? undefined : JSON.stringify(request.body));
  if (body !== undefined) headers['content-type'] ??= request.contentType ?? 'application/json';
  const res = await fetch(api.url + url, { method: method.toUpperCase(), headers, body });
  const text = await res.text();
  const answer = { status: res.status, headers: res.headers, text };
  expect(validator.departures(method, path, answer), `${method.toUpperCase()} ${url}`).toEqual([]);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { ...answer, body: parsed, refusals };
}

/** A request whose body and parameters are as the flow wants them: the document must allow it too. */
async function flow(method: Method, path: string, request: DocumentRequest & { key?: string; rawBody?: string; contentType?: string } = {}): Promise<Sent> {
  const sent = await send(method, path, request);
  if (sent.status !== 400 && !(sent.status === 404 && sent.body?.code === 'not_found' && request.params)) {
    expect(sent.refusals, `${method} ${path}: the server took it, the document refuses it`).toEqual([]);
  }
  return sent;
}

/** The document allows the request exactly when the server accepts it (a refusal of a request's form is 400; of a path id, 404). */
async function expectAgreement(method: Method, path: string, request: DocumentRequest & { key?: string }, name: string): Promise<void> {
  const sent = await send(method, path, request);
  const serverAccepts = sent.status < 400;
  if (!serverAccepts) expect([400, 404], `${name}: ${sent.text}`).toContain(sent.status);
  expect({ name, documentAllows: sent.refusals.length === 0, refusals: sent.refusals }).toMatchObject({ documentAllows: serverAccepts });
}

/** A case the document can't state: the document (read as `reader` does) allows it, and the server refuses it with 400. */
async function expectException(method: Method, path: string, request: DocumentRequest & { key?: string }, reader: DocumentValidator, name: string): Promise<void> {
  const sent = await send(method, path, request);
  expect(sent.status, `${name}: ${sent.text}`).toBe(400);
  expect(reader.refusals(method, path, request), name).toEqual([]);
}

async function finishJob(id: string): Promise<void> {
  const result: JobResult = { text: 'done', session_id: randomUUID(), num_turns: 1, duration_ms: 5, total_cost_usd: 0.001, usage: { input_tokens: 1, output_tokens: 2 }, structured_output: null };
  await startJob(api.ctx, id);
  await api.ctx.life.succeed({ id, tenantId: tenant.id }, result);
}

describe('answers of the main flows are documented answers', () => {
  it('GET /openapi.json is its own OpenApiDocument, and the service routes answer as documented', async () => {
    const served = await flow('get', '/openapi.json');
    expect(served.status).toBe(200);
    expect(doc.paths!['/openapi.json']!.get!.responses!['200']).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/OpenApiDocument' } } } });
    expect((await flow('get', '/healthz')).status).toBe(200);
    expect((await flow('get', '/readyz')).status).toBe(200);
    expect((await flow('get', '/metrics')).status).toBe(200);
    expect((await flow('get', '/docs')).status).toBe(200);
  });

  it('jobs: submit, replay, read, long-poll, list, events, cancel, deliveries, usage', async () => {
    const key = tenant.api_key;
    const idempotencyKey = randomUUID();
    const submitted = await flow('post', '/v1/jobs', { key, headers: { 'Idempotency-Key': idempotencyKey }, body: { prompt: 'flows', metadata: { n: 1 } } });
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    const replayed = await flow('post', '/v1/jobs', { key, headers: { 'Idempotency-Key': idempotencyKey }, body: { prompt: 'flows', metadata: { n: 1 } } });
    expect([replayed.status, replayed.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect((await flow('post', '/v1/jobs', { key, headers: { 'Idempotency-Key': idempotencyKey }, body: { prompt: 'other' } })).status).toBe(422);

    expect((await flow('get', '/v1/jobs/{id}', { key, params: { id } })).status).toBe(200);
    // Long-poll on a job that stays queued: answered as it stands when the wait is up.
    const waited = await flow('get', '/v1/jobs/{id}', { key, params: { id }, headers: { Prefer: 'wait=1' } });
    expect([waited.status, waited.body.status, waited.headers.get('preference-applied')]).toEqual([200, 'queued', 'wait=1']);
    expect((await flow('get', '/v1/jobs', { key, query: { limit: '5', status: 'queued' } })).body.data.length).toBeGreaterThan(0);
    expect((await flow('get', '/v1/jobs/{id}/deliveries', { key, params: { id } })).status).toBe(200);

    const canceled = await flow('post', '/v1/jobs/{id}/cancel', { key, params: { id } });
    expect([canceled.status, canceled.body.status]).toEqual([200, 'canceled']);
    const again = await flow('post', '/v1/jobs/{id}/cancel', { key, params: { id } });
    expect([again.status, again.body.code]).toEqual([409, 'job_already_final']);
    const redeliver = await flow('post', '/v1/jobs/{id}/deliveries/redeliver', { key, params: { id } });
    expect([redeliver.status, redeliver.body.code]).toEqual([409, 'webhook_not_configured']);

    const succeeded = await flow('post', '/v1/jobs', { key, body: { prompt: 'succeed' } });
    await finishJob(succeeded.body.id);
    const read = await flow('get', '/v1/jobs/{id}', { key, params: { id: succeeded.body.id }, headers: { Prefer: 'wait=5' } });
    expect(read.body.status).toBe('succeeded');
    const events = await flow('get', '/v1/jobs/{id}/events', { key, params: { id: succeeded.body.id } });
    expect([events.status, events.text]).toEqual([200, expect.stringContaining('event: result')]);

    expect((await flow('get', '/v1/usage', { key })).status).toBe(200);
    expect((await flow('get', '/v1/usage', { key, query: { from: '2025-01-01', to: '2025-01-31' } })).status).toBe(200);
  });

  it('batches: submit, read, list, results, cancel, deliveries', async () => {
    const key = tenant.api_key;
    const created = await flow('post', '/v1/batches', { key, body: { requests: [{ custom_id: 'a', prompt: 'one' }, { custom_id: 'b', prompt: 'two', max_turns: 1 }], metadata: { run: 1 } } });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    expect((await flow('get', '/v1/batches/{id}', { key, params: { id } })).status).toBe(200);
    expect((await flow('get', '/v1/batches', { key, query: { limit: '10' } })).body.data.length).toBeGreaterThan(0);
    expect((await flow('get', '/v1/batches/{id}/results', { key, params: { id } })).status).toBe(200);
    expect((await flow('post', '/v1/batches/{id}/cancel', { key, params: { id } })).status).toBe(200);
    const results = await flow('get', '/v1/batches/{id}/results', { key, params: { id } });
    expect(results.text.trim().split('\n')).toHaveLength(2);
    expect((await flow('get', '/v1/batches/{id}/deliveries', { key, params: { id } })).status).toBe(200);
    expect((await flow('get', '/v1/batches/{id}', { key, params: { id: randomUUID() } })).status).toBe(404);
  });

  it('sessions: list, and one that is not there', async () => {
    expect((await flow('get', '/v1/sessions', { key: tenant.api_key })).status).toBe(200);
    const missing = await flow('get', '/v1/sessions/{id}', { key: tenant.api_key, params: { id: randomUUID() } });
    expect([missing.status, missing.body.code]).toEqual([404, 'session_not_found']);
  });

  it('admin: tenants, keys, webhook secret, usage', async () => {
    const key = ADMIN_TOKEN;
    const created = await flow('post', '/v1/admin/tenants', { key, body: { name: '  admin flows  ', limits: { rate: { max: 5, per_seconds: 10 }, budget_usd: { amount: 5, per: 'day' } } } });
    expect([created.status, created.body.name]).toEqual([201, 'admin flows']);
    const id = created.body.id as string;
    expect((await flow('get', '/v1/admin/tenants', { key })).status).toBe(200);
    expect((await flow('get', '/v1/admin/tenants/{id}', { key, params: { id } })).status).toBe(200);
    const patched = await flow('patch', '/v1/admin/tenants/{id}', { key, params: { id }, body: { disabled: true, limits: { weight: 2, max_queued: null }, webhook_disabled_urls: [] } });
    expect(patched.status).toBe(200);
    const secretsKeyMissing = await flow('patch', '/v1/admin/tenants/{id}', { key, params: { id }, body: { credentials: { anthropic_api_key: 'sk-ant-x' } } });
    expect([secretsKeyMissing.status, secretsKeyMissing.body.code]).toEqual([409, 'secrets_key_missing']);
    const added = await flow('post', '/v1/admin/tenants/{id}/keys', { key, params: { id } });
    expect(added.status).toBe(201);
    expect((await flow('get', '/v1/admin/tenants/{id}/keys', { key, params: { id } })).status).toBe(200);
    expect((await flow('delete', '/v1/admin/tenants/{id}/keys/{keyId}', { key, params: { id, keyId: added.body.id } })).status).toBe(204);
    expect((await flow('post', '/v1/admin/tenants/{id}/webhook-secret', { key, params: { id } })).status).toBe(201);
    expect((await flow('get', '/v1/admin/tenants/{id}/usage', { key, params: { id } })).status).toBe(200);
    expect((await flow('get', '/v1/admin/tenants/{id}', { key, params: { id: randomUUID() } })).status).toBe(404);
  });

  it('refusals: 400, 401, 404, 413, 415, 429', async () => {
    const key = tenant.api_key;
    expect((await flow('get', '/v1/jobs', {})).status).toBe(401);
    expect((await flow('get', '/v1/admin/tenants', { key })).status).toBe(401);
    expect((await flow('get', '/v1/jobs/{id}', { key, params: { id: randomUUID() } })).status).toBe(404);
    const badJson = await flow('post', '/v1/jobs', { key, rawBody: '{"prompt":' });
    expect([badJson.status, badJson.body.code]).toEqual([400, 'invalid_json']);
    // Refused before the body is read as JSON: `send` checks the answer only.
    expect((await send('post', '/v1/jobs', { key, rawBody: 'hello', contentType: 'text/plain' })).status).toBe(415);
    expect((await send('post', '/v1/jobs', { key, rawBody: JSON.stringify({ prompt: 'x'.repeat(api.ctx.config.MAX_BODY_BYTES) }) })).status).toBe(413);

    const limited = await flow('post', '/v1/admin/tenants', { key: ADMIN_TOKEN, body: { name: 'limited', limits: { max_queued: 1, requests_per_minute: 3 } } });
    const limitedKey = limited.body.api_key as string;
    expect((await flow('post', '/v1/jobs', { key: limitedKey, body: { prompt: 'one' } })).status).toBe(202);
    const full = await flow('post', '/v1/jobs', { key: limitedKey, body: { prompt: 'two' } });
    expect([full.status, full.body.code]).toEqual([429, 'queue_full']);
    await flow('get', '/v1/jobs', { key: limitedKey });
    const rate = await flow('get', '/v1/jobs', { key: limitedKey });
    expect([rate.status, rate.body.code]).toEqual([429, 'rate_limited']);
  });
});

describe('requests at the edges: the document allows them exactly when the server accepts them', () => {
  const deep = (levels: number): unknown => (levels === 0 ? 1 : { a: deep(levels - 1) });
  const atBytes = (bytes: number) => ({ k: 'x'.repeat(bytes - JSON.stringify({ k: '' }).length) });
  const tool = (name: string) => `${name}(${'x'.repeat(TOOL_RULE_MAX_CHARS - name.length - 2)})`;
  const jobCases: Array<[string, Record<string, unknown>]> = [
    ['a minimal job', { prompt: 'x' }],
    ['a prompt with spaces around it', { prompt: '  x  ' }],
    ['a prompt with a NUL (sent on stdin, not argv)', { prompt: 'a\u0000b' }],
    ['a prompt of exactly MAX_PROMPT_BYTES', { prompt: 'p'.repeat(MAX_PROMPT_BYTES) }],
    ['every field at its limits', {
      prompt: 'é'.repeat(MAX_PROMPT_BYTES / 2),
      model: 'm'.repeat(200),
      system_prompt: 's'.repeat(SYSTEM_PROMPT_MAX_BYTES),
      append_system_prompt: 'a',
      max_turns: 1000,
      max_budget_usd: 10_000,
      allowed_tools: Array.from({ length: TOOL_RULES_MAX }, () => tool('Read')),
      disallowed_tools: Array.from({ length: TOOL_RULES_MAX }, () => tool('Bash')),
      permission_mode: 'plan',
      mcp_config: { mcpServers: { local: { type: 'stdio', command: 'node', args: ['server.js'], env: { A: 'b' } } } },
      json_schema: { type: 'object' },
      timeout_ms: JOB_TIMEOUT_MAX_MS,
      stream: true,
      webhook_events: [...JOB_SERVICE_EVENT_TYPES],
      priority: LOWEST_PRIORITY,
      retry_on_timeout: true,
      fork: false,
      metadata: atBytes(METADATA_MAX_BYTES),
    }],
    ['the lowest bounds', { prompt: 'x', max_turns: 1, timeout_ms: 1000, priority: 1, webhook_events: ['job.started'], max_budget_usd: 0.01 }],
    ['metadata nested MAX_JSON_DEPTH deep', { prompt: 'x', metadata: deep(MAX_JSON_DEPTH - 1) }],
    ['a tool whose name only starts like a denied one', { prompt: 'x', allowed_tools: ['Bashful', 'WebFetcher(x)'] }],
    ['no prompt', {}],
    ['an empty prompt', { prompt: '' }],
    ['a prompt of spaces', { prompt: '   ' }],
    ['a prompt of whitespace', { prompt: '\n\t\u00a0\u2003' }],
    ['a prompt over MAX_PROMPT_BYTES in characters', { prompt: 'p'.repeat(MAX_PROMPT_BYTES + 1) }],
    ['a prompt over MAX_PROMPT_BYTES in bytes only', { prompt: 'é'.repeat(MAX_PROMPT_BYTES / 2 + 1) }],
    ['a prompt that is not a string', { prompt: 1 }],
    ['an unknown field', { prompt: 'x', bogus: 1 }],
    ['a model like a flag', { prompt: 'x', model: '-x' }],
    ['a model too long', { prompt: 'x', model: 'm'.repeat(201) }],
    ['a system prompt with a NUL', { prompt: 'x', system_prompt: 'a\u0000b' }],
    ['an empty system prompt', { prompt: 'x', system_prompt: '' }],
    ['a system prompt over its bytes', { prompt: 'x', system_prompt: 'é'.repeat(SYSTEM_PROMPT_MAX_BYTES / 2 + 1) }],
    ['a denied tool', { prompt: 'x', allowed_tools: ['Bash'] }],
    ['a denied tool with a pattern', { prompt: 'x', allowed_tools: ['Read', 'Bash(git *)'] }],
    ['a denied tool with spaces', { prompt: 'x', allowed_tools: [' WebFetch (x)'] }],
    ['a tool like a flag', { prompt: 'x', disallowed_tools: ['--x'] }],
    ['a tool with a NUL', { prompt: 'x', allowed_tools: ['Ed\u0000it'] }],
    ['an empty tool', { prompt: 'x', allowed_tools: [''] }],
    ['too many tools', { prompt: 'x', allowed_tools: Array.from({ length: TOOL_RULES_MAX + 1 }, () => 'Read') }],
    ['a tool too long', { prompt: 'x', allowed_tools: [tool('Read') + 'x'] }],
    ['a permission mode this deployment does not allow', { prompt: 'x', permission_mode: 'auto' }],
    ['no turns', { prompt: 'x', max_turns: 0 }],
    ['half a turn', { prompt: 'x', max_turns: 1.5 }],
    ['a budget of 0', { prompt: 'x', max_budget_usd: 0 }],
    ['a timeout too short', { prompt: 'x', timeout_ms: 999 }],
    ['a timeout too long', { prompt: 'x', timeout_ms: JOB_TIMEOUT_MAX_MS + 1 }],
    ['a webhook URL that is not http(s)', { prompt: 'x', webhook_url: 'ftp://example.com/hook' }],
    ['a webhook URL that is not a URL', { prompt: 'x', webhook_url: 'not a url' }],
    ['no webhook events', { prompt: 'x', webhook_events: [] }],
    ['an unknown webhook event', { prompt: 'x', webhook_events: ['job.bogus'] }],
    ['a priority of 0', { prompt: 'x', priority: 0 }],
    ['metadata over its bytes', { prompt: 'x', metadata: atBytes(METADATA_MAX_BYTES + 1) }],
    ['metadata that is a list', { prompt: 'x', metadata: [] }],
    ['metadata nested too deep', { prompt: 'x', metadata: deep(MAX_JSON_DEPTH) }],
    ['a JSON Schema over its bytes', { prompt: 'x', json_schema: atBytes(64 * 1024 + 1) }],
    ['an MCP server with an unknown member', { prompt: 'x', mcp_config: { mcpServers: { a: { command: 'node', cwd: '/' } } } }],
    ['an MCP server with an empty command', { prompt: 'x', mcp_config: { mcpServers: { a: { command: '' } } } }],
    ['a remote MCP server that is not http(s)', { prompt: 'x', mcp_config: { mcpServers: { a: { type: 'http', url: 'ftp://example.com' } } } }],
    ['an MCP config without servers', { prompt: 'x', mcp_config: {} }],
    ['fork without session_id', { prompt: 'x', fork: true }],
    ['a session_id that is not a uuid', { prompt: 'x', session_id: 'nope' }],
  ];
  it.each(jobCases)('POST /v1/jobs: %s', async (name, body) => {
    await expectAgreement('post', '/v1/jobs', { key: tenant.api_key, body }, name);
  });

  it.each([
    ['a name', { name: 'n' }, true],
    ['a name of 200 characters, spaces around it', { name: `  ${'n'.repeat(200)}  ` }, true],
    ['every limit', { name: 'n', limits: { rate: { max: 1, per_seconds: 86_400 }, max_concurrency: 1, max_queued: null, requests_per_minute: 1, weight: 0.01, max_stored_bytes: 1, budget_usd: { amount: 1_000_000, per: 'month' } } }, true],
    ['no name', {}, false],
    ['an empty name', { name: '' }, false],
    ['a name of spaces', { name: '   ' }, false],
    ['a name of 201 characters', { name: 'n'.repeat(201) }, false],
    ['a weight too small', { name: 'n', limits: { weight: 0.001 } }, false],
    ['a window over a day', { name: 'n', limits: { rate: { max: 1, per_seconds: 86_401 } } }, false],
    ['an unknown limit', { name: 'n', limits: { bogus: 1 } }, false],
  ])('POST /v1/admin/tenants: %s', async (name, body, accepted) => {
    const sent = await send('post', '/v1/admin/tenants', { key: ADMIN_TOKEN, body });
    expect({ name, server: sent.status < 400, document: sent.refusals.length === 0 }).toEqual({ name, server: accepted, document: accepted });
  });

  it.each([
    ['credentials without one', { credentials: {} }],
    ['a credential with a space', { credentials: { anthropic_api_key: 'a b' } }],
    ['a webhook URL that is not http(s)', { webhook_url: 'ftp://example.com' }],
    ['removing the credential and the webhook URL', { credentials: null, webhook_url: null }],
    ['a new name', { name: 'renamed' }],
  ])('PATCH /v1/admin/tenants/{id}: %s', async (name, body) => {
    await expectAgreement('patch', '/v1/admin/tenants/{id}', { key: ADMIN_TOKEN, params: { id: tenant.id }, body }, name);
  });

  it.each([
    ['a batch', { requests: [{ custom_id: 'a:1', prompt: 'x' }] }],
    ['no requests', { requests: [] }],
    ['a request without custom_id', { requests: [{ prompt: 'x' }] }],
    ['a custom_id too long', { requests: [{ custom_id: 'c'.repeat(65), prompt: 'x' }] }],
    ['a request with a priority (the batch sets it)', { requests: [{ custom_id: 'a', prompt: 'x', priority: 1 }] }],
    ['a request with an empty prompt', { requests: [{ custom_id: 'a', prompt: '' }] }],
    ['a request with a denied tool', { requests: [{ custom_id: 'a', prompt: 'x', allowed_tools: ['Bash'] }] }],
    ['an unknown batch webhook event', { requests: [{ custom_id: 'a', prompt: 'x' }], webhook_events: ['bogus'] }],
  ])('POST /v1/batches: %s', async (name, body) => {
    await expectAgreement('post', '/v1/batches', { key: tenant.api_key, body }, name);
  });

  it.each([
    ['limit=1', { limit: '1' }],
    ['limit=100', { limit: '100' }],
    ['limit=0', { limit: '0' }],
    ['limit=101', { limit: '101' }],
    ['limit=x', { limit: 'x' }],
    ['status=succeeded', { status: 'succeeded' }],
    ['status=bogus', { status: 'bogus' }],
    ['a cursor that is not one', { cursor: 'nope' }],
  ])('GET /v1/jobs?%s', async (name, query) => {
    await expectAgreement('get', '/v1/jobs', { key: tenant.api_key, query }, name);
  });

  it.each([
    ['a range', { from: '2025-01-01', to: '2025-01-31' }],
    ['a day that is not one', { to: '2025-02-30' }],
    ['a day not zero-padded', { from: '2025-1-1' }],
  ])('GET /v1/usage?%s', async (name, query) => {
    await expectAgreement('get', '/v1/usage', { key: tenant.api_key, query }, name);
  });

  it.each([
    ['a cursor', '/v1/batches', { cursor: '0' }],
    ['a cursor that is not one', '/v1/batches', { cursor: 'x' }],
    ['a cursor', '/v1/sessions', { cursor: '0' }],
    ['a cursor that is not one', '/v1/sessions', { cursor: 'x' }],
  ])('GET %s: %s', async (name, path, query) => {
    await expectAgreement('get', path, { key: tenant.api_key, query }, `${path} ${name}`);
  });

  it.each([
    ['an Idempotency-Key', { 'Idempotency-Key': 'k-1' }],
    ['an Idempotency-Key with a space', { 'Idempotency-Key': 'k 1' }],
    ['an Idempotency-Key too long', { 'Idempotency-Key': 'k'.repeat(256) }],
    ['a Prefer without wait (ignored)', { Prefer: 'return=minimal' }],
    ['an X-Request-Id the server replaces', { 'X-Request-Id': 'not valid!' }],
  ])('POST /v1/jobs with %s', async (name, headers) => {
    await expectAgreement('post', '/v1/jobs', { key: tenant.api_key, headers, body: { prompt: 'x' } }, name);
  });

  it('a Last-Event-ID that is not an event id is ignored, as the document says', async () => {
    const job = await send('post', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'events' } });
    await finishJob(job.body.id);
    await expectAgreement('get', '/v1/jobs/{id}/events', { key: tenant.api_key, params: { id: job.body.id }, headers: { 'Last-Event-ID': 'garbage' } }, 'Last-Event-ID');
  });

  it.each([
    ['/v1/jobs/{id}', { id: 'not-a-uuid' }, 'tenant'],
    ['/v1/batches/{id}', { id: 'not-a-uuid' }, 'tenant'],
    ['/v1/sessions/{id}', { id: 'not-a-uuid' }, 'tenant'],
    ['/v1/admin/tenants/{id}', { id: 'not-a-uuid' }, 'admin'],
  ] as const)('GET %s with an id that is not one: refused (404)', async (path, params, who) => {
    const key = who === 'admin' ? ADMIN_TOKEN : tenant.api_key;
    await expectAgreement('get', path, { key, params }, path);
  });
});

describe('the exceptions: what the document can’t state, and the server refuses', () => {
  it('an unknown query parameter (OpenAPI has no way to forbid one)', async () => {
    await expectException('get', '/v1/jobs', { key: tenant.api_key, query: { bogus: '1' } }, validator, 'bogus=1');
  });

  it('a byte limit, to a validator that reads maxLength and not x-max-bytes', async () => {
    const plain = createDocumentValidator(doc, { plain: true });
    const body = { prompt: 'é'.repeat(MAX_PROMPT_BYTES / 2 + 1) };
    await expectException('post', '/v1/jobs', { key: tenant.api_key, body }, plain, 'prompt over its bytes, within its characters');
    expect(validator.refusals('post', '/v1/jobs', { body })).not.toEqual([]);
  });

  it('custom_ids repeated in a batch', async () => {
    const body = { requests: [{ custom_id: 'a', prompt: 'x' }, { custom_id: 'a', prompt: 'y' }] };
    await expectException('post', '/v1/batches', { key: tenant.api_key, body }, validator, 'custom_id twice');
  });
});

describe('the validator', () => {
  it('refuses what the document refuses, and finds answers that depart from it (it is not passing everything)', () => {
    expect(validator.refusals('post', '/v1/jobs', { body: { prompt: '' } })).not.toEqual([]);
    expect(validator.refusals('post', '/v1/jobs', { body: { prompt: 'x' } })).toEqual([]);
    expect(validator.refusals('get', '/v1/jobs', { query: { limit: '101' } })).not.toEqual([]);
    const json = (type: string) => new Headers({ 'content-type': type });
    expect(validator.departures('get', '/v1/jobs/{id}', { status: 200, headers: json('application/json'), text: '{"id":"x"}' })).not.toEqual([]);
    expect(validator.departures('get', '/v1/jobs/{id}', { status: 201, headers: json('application/json'), text: '{}' })).not.toEqual([]);
    expect(validator.departures('get', '/v1/jobs/{id}', { status: 404, headers: json('application/json'), text: '{}' })).not.toEqual([]);
    expect(validator.departures('get', '/v1/jobs/{id}', { status: 404, headers: json('application/problem+json'), text: '{"type":"x"}' })).not.toEqual([]);
  });
});
