/**
 * Zod schemas of what the API answers, for the OpenAPI document. Request bodies are
 * not here: the document takes them from the very schemas the routes validate with
 * (createJobRequestSchema, adminTenants.ts, limits.ts). The answers are TypeScript
 * interfaces elsewhere (JobView, Tenant, UsageReport…), so openapi.test.ts parses real
 * answers of the API with these schemas, strictly: a member added to an answer and not
 * here fails that test, and `JobView` is also checked against `z.infer` at compile time.
 *
 * Objects stay open (`z.object`, not strict) in the document: a client must not break
 * when an answer gains a member.
 */
import { z } from 'zod';
import { BATCH_WEBHOOK_EVENT_TYPES, BUDGET_PERIODS, JOB_ERROR_CODES, JOB_STATUSES, SERVICE_EVENT_TYPES, tenantLimitsSchema, type createJobRequestSchema } from '@claude-queue/shared';

const timestamp = z.iso.datetime().meta({ description: 'UTC, ISO 8601 with milliseconds', examples: ['2025-01-31T12:00:00.000Z'] });
/** Ids of jobs (UUIDv7), tenants and API keys, as the routes check them (`z.uuid()`). */
export const uuid = z.uuid();

export const jobErrorSchema = z
  .object({
    code: z.enum(JOB_ERROR_CODES),
    message: z.string(),
    retryable: z.boolean().meta({ description: 'Whether another attempt could succeed (the queue retries these by itself)' }),
  })
  .meta({ description: 'Why a job failed, was canceled, or is waiting to retry' });

export const jobResultSchema = z
  .object({
    text: z.string().meta({ description: "The model's final answer" }),
    session_id: z.string().meta({ description: 'Pass as `session_id` of a later job to continue this conversation' }),
    num_turns: z.number().int(),
    duration_ms: z.number(),
    total_cost_usd: z.number(),
    usage: z.record(z.string(), z.unknown()).nullable().meta({ description: "The CLI's token usage, as it reports it" }),
    structured_output: z.unknown().meta({ description: 'With `json_schema`: the answer as JSON matching it; otherwise null' }),
  })
  .meta({ description: 'What a succeeded job produced' });

export const attemptRecordSchema = z.object({
  attempt: z.number().int().min(1),
  code: z.enum(JOB_ERROR_CODES),
  message: z.string(),
  at: timestamp,
});

/** The job object, with `request` as the submit schema of this deployment (less `metadata`). */
export function createJobSchema(requestSchema: ReturnType<typeof createJobRequestSchema>) {
  return z
    .object({
      id: uuid.meta({ description: 'UUIDv7: ids sort by creation time' }),
      status: z.enum(JOB_STATUSES),
      created_at: timestamp,
      started_at: timestamp.nullable().meta({ description: 'When the latest attempt started' }),
      finished_at: timestamp.nullable(),
      attempts: z.number().int().min(0).meta({ description: 'Attempts started so far' }),
      next_attempt_at: timestamp.nullable().meta({ description: 'While waiting to retry (status `queued`): when the next attempt may start' }),
      attempt_history: z.array(attemptRecordSchema).meta({ description: 'Every unsuccessful attempt, oldest first (`worker_lost` when its worker died)' }),
      request: requestSchema.omit({ metadata: true }).meta({ description: 'The submitted request, less `metadata`' }),
      result: jobResultSchema.nullable(),
      error: jobErrorSchema.nullable(),
      metadata: z.record(z.string(), z.unknown()).nullable().meta({ description: "The request's `metadata`, echoed back" }),
      batch_id: uuid.optional().meta({ description: 'A request of a batch (POST /v1/batches): its batch' }),
      custom_id: z.string().optional().meta({ description: "A request of a batch: the request's `custom_id`" }),
    })
    .meta({ description: 'A job. Final once `status` is `succeeded`, `failed` or `canceled`.' });
}

export const problemSchema = z
  .object({
    type: z.string().meta({ format: 'uri', description: '`https://claude-queue.dev/problems/{code}`' }),
    title: z.string().meta({ description: "The HTTP status's reason phrase" }),
    status: z.number().int(),
    detail: z.string().meta({ description: 'For people; never branch on it' }),
    code: z.string().meta({ description: 'Stable: branch on this (see the error codes in the API description)' }),
    field: z.string().optional().meta({ description: 'Bad input: the first field at fault, as a dotted path (`allowed_tools.2`)' }),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'Bad input: every field at fault' }),
  })
  .meta({ description: 'RFC 9457 problem details, as `application/problem+json`' });

export const effectiveLimitsSchema = z
  .object({
    rate: z.object({ max: z.number().int(), per_seconds: z.number().int() }).nullable(),
    max_concurrency: z.number().int().nullable(),
    max_queued: z.number().int().nullable(),
    requests_per_minute: z.number().int().nullable(),
    weight: z.number(),
    max_stored_bytes: z.number().int().nullable(),
    budget_usd: z.object({ amount: z.number(), per: z.enum(BUDGET_PERIODS) }).nullable(),
  })
  .meta({ description: "The limits in force: the tenant's overrides over the deployment's defaults; null is unlimited" });

export { tenantLimitsSchema };

export const createdTenantSchema = z
  .object({
    id: uuid,
    name: z.string(),
    api_key: z.string().meta({ description: 'Shown only here: only its SHA-256 is stored', examples: ['cq_…'] }),
    limits: tenantLimitsSchema,
    created_at: timestamp,
    disabled: z.boolean(),
    webhook_secret: z.string().meta({ description: 'Signs the tenant’s webhooks (Standard Webhooks); shown only here', examples: ['whsec_…'] }),
  })
  .meta({ description: 'A tenant just made, with its first API key and webhook secret' });

export const tenantSchema = z
  .object({
    id: uuid,
    name: z.string(),
    created_at: timestamp,
    disabled: z.boolean(),
    limits: tenantLimitsSchema,
    effective_limits: effectiveLimitsSchema,
    has_credentials: z.boolean().meta({ description: 'Whether the tenant has its own model credential (never shown)' }),
    key_count: z.number().int().meta({ description: 'Live API keys' }),
    webhook_url: z.string().nullable().meta({ description: 'Where the tenant’s jobs’ events go when a job names no `webhook_url`' }),
    webhook_disabled_urls: z.array(z.string()).meta({ description: 'URLs that answered 410 Gone: nothing more is sent there until cleared' }),
  })
  .meta({ description: 'A tenant, never with its keys or credentials' });

export const apiKeySchema = z.object({
  id: uuid,
  prefix: z.string().meta({ description: '`cq_` and the first characters of the key: enough to tell keys apart' }),
  created_at: timestamp,
  last_used_at: timestamp.nullable(),
});

export const createdApiKeySchema = z
  .object({ id: uuid, api_key: z.string().meta({ description: 'Shown only here' }), prefix: z.string(), created_at: timestamp })
  .meta({ description: 'Another live key of the tenant (rotation)' });

export const rotatedWebhookSecretSchema = z.object({
  webhook_secret: z.string().meta({ description: 'Shown only here', examples: ['whsec_…'] }),
  previous_expires_at: timestamp.nullable().meta({ description: 'Until when the secrets it replaces keep signing beside it' }),
});

const usageTotalsShape = {
  jobs: z.object({ succeeded: z.number().int(), failed: z.number().int(), canceled: z.number().int() }),
  cost_usd: z.number(),
  tokens: z.object({ input: z.number().int(), output: z.number().int(), cache_read: z.number().int(), cache_creation: z.number().int() }),
};

export const usageSchema = z
  .object({
    from: z.iso.date(),
    to: z.iso.date(),
    days: z.array(z.object({ date: z.iso.date(), ...usageTotalsShape })).meta({ description: 'One per UTC day on which a job of the tenant ended' }),
    totals: z.object(usageTotalsShape),
    stored_bytes: z.number().int().meta({ description: "What the tenant's job records hold in storage now (released as they expire)" }),
    max_stored_bytes: z.number().int().nullable(),
    budget: z
      .object({
        amount: z.number(),
        per: z.enum(BUDGET_PERIODS),
        period: z.string().meta({ description: 'The UTC day (YYYY-MM-DD) or month (YYYY-MM) now' }),
        spent_usd: z.number(),
        left_usd: z.number(),
        resets_at: timestamp,
        held: z.boolean().meta({ description: 'Spent: no new job is accepted and none starts until `resets_at`' }),
      })
      .nullable()
      .meta({ description: 'The budget (`budget_usd`) in its period now; null without one' }),
  })
  .meta({ description: 'Finished jobs, cost and tokens per UTC day; storage and budget as they stand' });

/** Loosely: the webhook deliveries are young, so only what a client can rely on. */
export const deliveryAttemptSchema = z
  .object({
    id: z.string().meta({ description: 'The delivery id, sent as `webhook-id`: the same for every attempt at one event' }),
    type: z.enum(SERVICE_EVENT_TYPES),
    url: z.string(),
    attempt: z.number().int(),
    at: timestamp,
    status_code: z.number().int().nullable().meta({ description: "The receiver's HTTP status; null when none came back" }),
    error: z.string().nullable(),
    duration_ms: z.number(),
    outcome: z.string().meta({
      description: '`delivered`; `failed`: another attempt follows; `exhausted`: it was the last one; `blocked` (an address the service may not call); `disabled` (the receiver answered 410 Gone)',
    }),
  })
  .meta({ description: 'One attempt to deliver one of the job’s events to its webhook' });

export const jobStatusEventSchema = z
  .object({
    status: z.enum([...JOB_STATUSES, 'retrying']),
    attempt: z.number().int().optional(),
    next_attempt_at: timestamp.nullable().optional(),
    error: jobErrorSchema.nullable().optional(),
  })
  .meta({ description: 'Data of a `status` event: the job changed status (`retrying`: it failed and waits for another attempt)' });

export const jobTextEventSchema = z
  .object({ text: z.string() })
  .meta({ description: "Data of a `text` event: the CLI's text as it comes (with `stream: true`, token deltas)" });

export const healthSchema = z.object({ status: z.enum(['ok', 'ready']) });

export const sessionSummarySchema = z
  .object({
    id: uuid,
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime(),
    expires_at: z.iso.datetime().meta({ description: 'SESSION_TTL_DAYS after its last use' }),
    size_bytes: z.number().int().meta({ description: "The conversation's files (transcript and workspace) after its last turn" }),
    max_bytes: z.number().int().meta({ description: 'SESSION_MAX_BYTES: a turn that makes the conversation larger fails with `session_too_large`' }),
    forked_from: uuid.nullable().meta({ description: 'The session this one branched from (`fork: true`)' }),
  })
  .meta({ description: 'A conversation, continued by submitting jobs with its id as `session_id`' });

export const sessionSchema = sessionSummarySchema.extend({
  turns: z.array(uuid).meta({ description: 'The jobs whose turns made it what it is (each that succeeded), oldest first' }),
});

const batchCounts = z.object({
  queued: z.number().int(),
  running: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  canceled: z.number().int(),
});

export const batchSchema = z
  .object({
    id: uuid,
    status: z.enum(['in_progress', 'canceling', 'ended']),
    request_counts: batchCounts.meta({ description: "Its requests by their jobs' status, live" }),
    total: z.number().int(),
    created_at: timestamp,
    ended_at: timestamp.nullable(),
    expires_at: timestamp.meta({ description: 'JOB_RETENTION_HOURS after it ended (while it runs: after its creation)' }),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    webhook_url: z.string().nullable().meta({ description: "Where its webhooks go; null: the tenant's default URL" }),
    webhook_events: z.array(z.enum(BATCH_WEBHOOK_EVENT_TYPES)).meta({ description: '`batch.ended`, and the job events each request sends, as asked at submit' }),
  })
  .meta({ description: 'A batch of requests (POST /v1/batches)' });

/** GET /openapi.json's answer, as far as a client reads it: the rest is the OpenAPI 3.1 specification's. */
export const openApiDocumentSchema = z
  .object({
    openapi: z.string().meta({ examples: ['3.1.0'] }),
    info: z.object({ title: z.string(), version: z.string(), summary: z.string().optional(), description: z.string().optional() }),
    tags: z.array(z.object({ name: z.string(), description: z.string().optional() })).optional(),
    paths: z.record(z.string(), z.record(z.string(), z.unknown())),
    components: z.record(z.string(), z.record(z.string(), z.unknown())),
  })
  .meta({ description: 'An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0): this one' });
