/**
 * The document's answer schemas (src/openapi/schemas.ts) against real answers of the
 * API: each answer parses with its schema, and has no member the schema lacks (the
 * document's objects stay open for clients, so that is checked here, all the way down).
 * The job object is also checked against JobView at compile time.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { waitForRedis, type JobResult, type JobView } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { startJob } from '../../../test/support/jobMoves.js';
import { openSse, type SseEvent } from '../../../test/support/sse.js';
import * as schemas from '../src/openapi/schemas.js';

let env: TestEnv;
let api: TestApi;
let tenant: { id: string; api_key: string };
let jobSchema: ReturnType<typeof schemas.createJobSchema>;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig());
  await waitForRedis(api.ctx.redis);
  tenant = await api.createTenant('schemas');
  jobSchema = schemas.createJobSchema(api.ctx.jobRequestSchema);
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

it('the job schema is JobView, member for member (compile time)', () => {
  expectTypeOf<z.infer<ReturnType<typeof schemas.createJobSchema>>>().toEqualTypeOf<JobView>();
});

/** Parses `value` with `schema` and lists members of `value` that `schema` does not know, at any depth. */
function expectExactly(schema: z.ZodType, value: unknown): void {
  const parsed = schema.safeParse(value);
  expect(parsed.success ? [] : parsed.error.issues, JSON.stringify(value)).toEqual([]);
  expect(unknownMembers(schema, value)).toEqual([]);
}

function unknownMembers(schema: z.ZodType, value: unknown, at = '$'): string[] {
  if (value === null || value === undefined) return [];
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) return unknownMembers(schema.unwrap() as z.ZodType, value, at);
  if (schema instanceof z.ZodArray && Array.isArray(value)) return value.flatMap((v, i) => unknownMembers(schema.element as z.ZodType, v, `${at}[${i}]`));
  if (schema instanceof z.ZodObject && typeof value === 'object') {
    const shape = schema.shape as Record<string, z.ZodType>;
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => (shape[k] ? unknownMembers(shape[k], v, `${at}.${k}`) : [`${at}.${k}`]));
  }
  return [];
}

async function submit(body: Record<string, unknown>) {
  const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as JobView;
}

describe('jobs', () => {
  it('a submitted job, with every request field echoed', async () => {
    const job = await submit({
      prompt: 'hello',
      model: 'sonnet',
      system_prompt: 's',
      append_system_prompt: 'a',
      max_turns: 2,
      max_budget_usd: 1,
      allowed_tools: ['Read'],
      disallowed_tools: ['Bash'],
      permission_mode: 'plan',
      mcp_config: { mcpServers: { x: { type: 'http', url: 'https://mcp.example.com/mcp' } } },
      json_schema: { type: 'object' },
      timeout_ms: 5000,
      stream: true,
      webhook_events: ['job.succeeded'],
      priority: 3,
      retry_on_timeout: true,
      metadata: { ticket: 42 },
    });
    expectExactly(jobSchema, job);
    expectExactly(jobSchema, (await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key })).body);
    const list = await api.request('GET', '/v1/jobs', { key: tenant.api_key });
    expectExactly(z.object({ data: z.array(jobSchema), next_cursor: z.uuid().nullable() }), list.body);
  });

  it('a canceled job, its events, and the usage it counts in', async () => {
    const job = await submit({ prompt: 'cancel me' });
    const canceled = await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
    expect(canceled.status).toBe(200);
    expectExactly(jobSchema, canceled.body);

    const events = await readEvents(job.id);
    expect(events.at(-1)!.event).toBe('result');
    expectEvents(events);

    const usage = await api.request('GET', '/v1/usage', { key: tenant.api_key });
    expect(usage.body.days.length).toBeGreaterThan(0);
    expectExactly(schemas.usageSchema, usage.body);
  });

  it('a job that succeeded after a failed attempt, with text events', async () => {
    const job = await submit({ prompt: 'succeed' });
    const at = new Date().toISOString();
    // What a worker writes: typed by JobResult, so the document's schema meets the worker's type here.
    const result: JobResult = {
      text: 'done',
      session_id: randomUUID(),
      num_turns: 1,
      duration_ms: 12,
      total_cost_usd: 0.001,
      usage: { input_tokens: 3, output_tokens: 4 },
      structured_output: null,
    };
    const ref = { id: job.id, tenantId: tenant.id };
    await startJob(api.ctx, job.id);
    const overloaded = { code: 'overloaded', message: 'overloaded', retryable: true } as const;
    // It throws what BullMQ is told (RetryLaterError).
    await expect(api.ctx.life.retryLater(ref, overloaded, 0, [{ attempt: 1, code: 'overloaded', message: 'overloaded', at }])).rejects.toThrow('overloaded');
    await startJob(api.ctx, job.id);
    await api.ctx.events.appendText(job.id, 'do');
    await api.ctx.life.succeed(ref, result);

    const read = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key });
    expect(read.body).toMatchObject({ status: 'succeeded', result, attempt_history: [expect.anything()] });
    expectExactly(jobSchema, read.body);

    const events = await readEvents(job.id);
    expect(new Set(events.map((e) => e.event))).toEqual(new Set(['status', 'text', 'result']));
    expectEvents(events);
  });

  it('deliveries: a list of attempts', async () => {
    const job = await submit({ prompt: 'deliveries' });
    const res = await api.request('GET', `/v1/jobs/${job.id}/deliveries`, { key: tenant.api_key });
    expect(res.status).toBe(200);
    expectExactly(z.object({ data: z.array(schemas.deliveryAttemptSchema) }), res.body);
  });

  it('a refusal is a problem', async () => {
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: '', bogus: 1 } });
    expect(res.status).toBe(400);
    expectExactly(schemas.problemSchema, res.body);
    expectExactly(schemas.problemSchema, (await api.request('GET', `/v1/jobs/${randomUUID()}`, { key: tenant.api_key })).body);
  });
});

describe('admin', () => {
  it('tenants, keys, webhook secrets and usage', async () => {
    const created = await api.request('POST', '/v1/admin/tenants', { key: ADMIN_TOKEN, body: { name: 'shown', limits: { rate: { max: 5, per_seconds: 10 }, max_queued: null } } });
    expect(created.status).toBe(201);
    expectExactly(schemas.createdTenantSchema, created.body);
    const id = created.body.id as string;

    const patched = await api.request('PATCH', `/v1/admin/tenants/${id}`, { key: ADMIN_TOKEN, body: { disabled: true, limits: { weight: 2 } } });
    expect(patched.status).toBe(200);
    expectExactly(schemas.tenantSchema, patched.body);
    expectExactly(schemas.tenantSchema, (await api.request('GET', `/v1/admin/tenants/${id}`, { key: ADMIN_TOKEN })).body);
    expectExactly(z.object({ data: z.array(schemas.tenantSchema) }), (await api.request('GET', '/v1/admin/tenants', { key: ADMIN_TOKEN })).body);

    const key = await api.request('POST', `/v1/admin/tenants/${id}/keys`, { key: ADMIN_TOKEN });
    expect(key.status).toBe(201);
    expectExactly(schemas.createdApiKeySchema, key.body);
    expectExactly(z.object({ data: z.array(schemas.apiKeySchema) }), (await api.request('GET', `/v1/admin/tenants/${id}/keys`, { key: ADMIN_TOKEN })).body);

    const secret = await api.request('POST', `/v1/admin/tenants/${id}/webhook-secret`, { key: ADMIN_TOKEN });
    expect(secret.status).toBe(201);
    expectExactly(schemas.rotatedWebhookSecretSchema, secret.body);

    expectExactly(schemas.usageSchema, (await api.request('GET', `/v1/admin/tenants/${id}/usage`, { key: ADMIN_TOKEN })).body);
  });

  it('probes', async () => {
    expectExactly(schemas.healthSchema, (await api.request('GET', '/healthz')).body);
    expectExactly(schemas.healthSchema, (await api.request('GET', '/readyz')).body);
  });
});

/** Every event is one the document names, its data as documented; ids on all but `result`, which ends the stream. */
function expectEvents(events: SseEvent[]): void {
  const schemaOf: Record<string, z.ZodType> = { status: schemas.jobStatusEventSchema, text: schemas.jobTextEventSchema, result: jobSchema };
  for (const e of events) {
    expect(Object.keys(schemaOf), e.event).toContain(e.event);
    expectExactly(schemaOf[e.event]!, e.data);
    if (e.event === 'result') expect(e.id).toBeUndefined();
    else expect(e.id).toMatch(/^\d+-\d+$/);
  }
  expect(events.filter((e) => e.event === 'result')).toHaveLength(1);
}

async function readEvents(jobId: string) {
  const stream = await openSse(`${api.url}/v1/jobs/${jobId}/events`, { authorization: `Bearer ${tenant.api_key}` });
  expect(stream.status).toBe(200);
  const events = [];
  for (let e = await stream.next(); e; e = await stream.next()) events.push(e);
  return events;
}
