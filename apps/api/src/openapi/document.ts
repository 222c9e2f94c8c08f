/**
 * The OpenAPI 3.1 document, built once per app from the schemas the API validates
 * with: the submit body is the context's own `jobRequestSchema` (this deployment's
 * prompt size, timeout and permission modes), the tenant bodies are adminTenants.ts's,
 * the limits limits.ts's. Zod renders them itself (`z.toJSONSchema`, JSON Schema
 * 2020-12, the dialect of OpenAPI 3.1); the answers are schemas.ts's.
 */
import { createRequire } from 'node:module';
import type { OpenAPIV3_1 } from 'openapi-types';
import { z } from 'zod';
import {
  DEFAULT_PRIORITY,
  DEFAULT_WEBHOOK_EVENTS,
  EVENT_ID,
  HIGHEST_PRIORITY,
  JSON_OPTION_MAX_BYTES,
  LOWEST_PRIORITY,
  MAX_JSON_DEPTH,
  METADATA_MAX_BYTES,
  type ApiConfig,
} from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { IDEMPOTENCY_KEY } from '../idempotency.js';
import { MAX_WAIT_SECONDS, PREFER_WAIT_PATTERN } from '../prefer.js';
import { REQUEST_ID } from '../requestId.js';
import { createTenantBody, updateTenantBody } from '../routes/adminTenants.js';
import { batchBodySchema, CUSTOM_ID } from '../routes/batches.js';
import { MAX_RANGE_DAYS } from '../routes/usage.js';
import { adminEndpoints } from './adminPaths.js';
import { jobsEndpoints } from './jobsPaths.js';
import { toOperation, type Endpoint } from './operations.js';
import { describeApiErrors } from './problems.js';
import * as schemas from './schemas.js';
import { serviceEndpoints } from './servicePaths.js';
import { sessionsEndpoints } from './sessionsPaths.js';
import { batchesEndpoints } from './batchesPaths.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export type OpenApiDocument = OpenAPIV3_1.Document;

/** Every route of the app; openapi.test.ts checks this list against the app's router. */
export function listEndpoints(): Endpoint[] {
  return [...jobsEndpoints(), ...sessionsEndpoints(), ...batchesEndpoints(), ...adminEndpoints(), ...serviceEndpoints()];
}

export function createOpenApiDocument(ctx: Pick<ApiContext, 'config' | 'jobRequestSchema'>): OpenApiDocument {
  const paths: Record<string, Partial<Record<Endpoint['method'], OpenAPIV3_1.OperationObject>>> = {};
  for (const endpoint of listEndpoints()) {
    const item = (paths[endpoint.path] ??= {});
    if (item[endpoint.method]) throw new Error(`${endpoint.method} ${endpoint.path} is listed twice`);
    item[endpoint.method] = toOperation(endpoint);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'claude-queue',
      version,
      summary: 'Run the Claude Code CLI as a service: submit prompts, workers run them, read the results.',
      description: describeApi(ctx.config),
    },
    tags: [
      { name: 'Jobs', description: "A tenant's prompts and their results (tenant API key)" },
      { name: 'Batches', description: 'Many prompts in one request, results as JSON lines (tenant API key)' },
      { name: 'Sessions', description: "A tenant's conversations, continued with `session_id` (tenant API key)" },
      { name: 'Webhooks', description: "A job's webhook deliveries (tenant API key)" },
      { name: 'Usage', description: "A tenant's own usage (tenant API key)" },
      { name: 'Admin: tenants', description: 'Tenants, their keys, limits, credentials and webhooks (ADMIN_TOKEN)' },
      { name: 'Service', description: 'Probes, metrics and this document' },
    ],
    // openapi-types types a 3.1 path item's operations with 3.0's schema objects.
    paths: paths as OpenAPIV3_1.PathsObject,
    components: {
      schemas: componentSchemas(ctx),
      securitySchemes: {
        tenantKey: { type: 'http', scheme: 'bearer', bearerFormat: 'cq_…', description: "A tenant's API key: `/v1/jobs…` and `/v1/usage`" },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The deployment’s `ADMIN_TOKEN`: `/v1/admin/…`' },
        metricsToken: { type: 'http', scheme: 'bearer', description: '`METRICS_TOKEN`, when set: `/metrics`' },
        boardBasic: { type: 'http', scheme: 'basic', description: 'The queue dashboard (Bull Board) at `/admin/queues`' },
      },
      parameters: parameters(),
      headers: headers(),
    },
  };
}

/** The document's schemas, under their component names; `$ref`s between them where one holds another. */
function componentSchemas(ctx: Pick<ApiContext, 'config' | 'jobRequestSchema'>): Record<string, OpenAPIV3_1.SchemaObject> {
  const job = schemas.createJobSchema(ctx.jobRequestSchema);
  const components: Record<string, z.ZodType> = {
    JobRequest: ctx.jobRequestSchema,
    Job: job,
    JobList: z.object({
      data: z.array(job).meta({ description: 'Newest first' }),
      next_cursor: schemas.uuid.nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last' }),
    }),
    JobError: schemas.jobErrorSchema,
    JobResult: schemas.jobResultSchema,
    AttemptRecord: schemas.attemptRecordSchema,
    JobStatusEvent: schemas.jobStatusEventSchema,
    JobTextEvent: schemas.jobTextEventSchema,
    Problem: schemas.problemSchema,
    TenantLimits: schemas.tenantLimitsSchema,
    EffectiveLimits: schemas.effectiveLimitsSchema,
    CreateTenantRequest: createTenantBody,
    UpdateTenantRequest: updateTenantBody,
    CreatedTenant: schemas.createdTenantSchema,
    Tenant: schemas.tenantSchema,
    ApiKey: schemas.apiKeySchema,
    CreatedApiKey: schemas.createdApiKeySchema,
    RotatedWebhookSecret: schemas.rotatedWebhookSecretSchema,
    Usage: schemas.usageSchema,
    DeliveryAttempt: schemas.deliveryAttemptSchema,
    Health: schemas.healthSchema,
    Session: schemas.sessionSchema,
    Batch: schemas.batchSchema,
    BatchList: z.object({
      data: z.array(schemas.batchSchema).meta({ description: 'Newest first' }),
      next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last' }),
    }),
    BatchRequest: batchBodySchema(ctx)
      .extend({
        requests: z
          .array(
            // What routes/batches.ts checks each request with: the job request, less what a batch sets for all.
            ctx.jobRequestSchema
              .omit({ session_id: true, fork: true, priority: true, webhook_url: true, webhook_events: true })
              .extend({ custom_id: z.string().regex(CUSTOM_ID).meta({ description: 'Your key for the request, unique in the batch' }) }),
          )
          .min(1)
          .max(ctx.config.BATCH_MAX_REQUESTS)
          .meta({
            description:
              'Each a job request (`JobRequest`, without `session_id`, `fork`, `priority`, `webhook_url` or `webhook_events`) with its `custom_id`; the `custom_id`s must be unique in the batch',
          }),
        metadata: z.record(z.string(), z.unknown()).optional().meta({ description: 'Echoed back on the batch' }),
        webhook_events: batchBodySchema(ctx).shape.webhook_events.meta({
          description: 'Default `["batch.ended"]`: one delivery when every request has ended. Job events (`job.succeeded`, …) listed here are sent for each request too.',
        }),
      })
      .meta({
        description: `At most ${ctx.config.BATCH_MAX_REQUESTS} requests (BATCH_MAX_REQUESTS) and ${ctx.config.BATCH_MAX_BYTES} bytes (BATCH_MAX_BYTES)`,
        'x-max-depth': MAX_JSON_DEPTH,
      }),
    OpenApiDocument: schemas.openApiDocumentSchema,
    SessionList: z.object({
      data: z.array(schemas.sessionSummarySchema).meta({ description: 'Most recently used first' }),
      next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last' }),
    }),
  };
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(components)) registry.add(schema, { id });
  // One rendering for requests and answers alike: `io: 'input'` is what a request may
  // send; the answers' schemas have no defaults or transforms, so for them input and
  // output are the same.
  const rendered = z.toJSONSchema(registry, { io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });
  const out: Record<string, OpenAPIV3_1.SchemaObject> = {};
  for (const [id, schema] of Object.entries(rendered.schemas)) {
    // A component is not a document of its own: no `$schema`, and an `$id` with a
    // fragment is not allowed in JSON Schema 2020-12.
    const { $schema: _schema, $id: _id, ...rest } = schema as Record<string, unknown>;
    out[id] = rest as OpenAPIV3_1.SchemaObject;
  }
  describeJobRequest(out.JobRequest!, ctx.config);
  // routes/jobs.ts and batches.ts refuse deeper bodies before they parse them.
  (out.JobRequest as Record<string, unknown>)['x-max-depth'] = MAX_JSON_DEPTH;
  return out;
}

/** What each submit field does; the bounds come from the schema itself. */
function describeJobRequest(schema: OpenAPIV3_1.SchemaObject, config: ApiConfig): void {
  schema.description = 'The body of `POST /v1/jobs`. Unknown fields are refused. Every field but `prompt` and `metadata` becomes a CLI flag.';
  const fields: Record<string, string> = {
    prompt: `The prompt, sent to the CLI on stdin (never in argv). Non-empty; at most ${config.MAX_PROMPT_BYTES} bytes of UTF-8 (\`MAX_PROMPT_BYTES\`).`,
    model: '`--model`: a model name or alias.',
    system_prompt: '`--system-prompt`',
    append_system_prompt: '`--append-system-prompt`',
    max_turns: '`--max-turns`',
    max_budget_usd: '`--max-budget-usd`',
    allowed_tools: '`--allowed-tools`; no entry may start with `-`.',
    disallowed_tools: '`--disallowed-tools`; no entry may start with `-`.',
    permission_mode: '`--permission-mode`: one of the modes this deployment allows (`ALLOWED_PERMISSION_MODES`).',
    mcp_config: '`--mcp-config` with `--strict-mcp-config`: `{"mcpServers": {…}}`.',
    json_schema: `\`--json-schema\`: the result’s \`structured_output\` is JSON matching it. At most ${JSON_OPTION_MAX_BYTES / 1024} KiB as JSON.`,
    session_id:
      'Continue the conversation of an earlier result’s `session_id` of this tenant (`--resume`, on any worker: the conversation’s files and transcript follow it). Turns of one session run one at a time, in the order submitted.',
    fork: 'With `session_id` (required then): a new branch of that conversation from its last good turn (`--fork-session`), with a `session_id` of its own; both go on independently.',
    timeout_ms: `Timeout of one attempt, in ms, up to ${config.JOB_TIMEOUT_MAX_MS} (\`JOB_TIMEOUT_MAX_MS\`; default: the worker's \`JOB_TIMEOUT_MS\`).`,
    stream: 'Stream the answer token by token as `text` events of `GET /v1/jobs/{id}/events` (default: false).',
    webhook_url: 'Where to POST this job’s events, signed (Standard Webhooks); default: the tenant’s `webhook_url`.',
    webhook_events: `Which events to deliver (default: ${DEFAULT_WEBHOOK_EVENTS.map((e) => `\`${e}\``).join(', ')}).`,
    priority: `Order among this tenant’s own waiting jobs: ${HIGHEST_PRIORITY} runs first, ${LOWEST_PRIORITY} last (default: ${DEFAULT_PRIORITY}). Never ahead of another tenant’s share.`,
    retry_on_timeout: 'Retry an attempt that timed out (default: false: a run that timed out once likely will again).',
    metadata: `Not passed to the CLI; echoed back on the job. At most ${METADATA_MAX_BYTES} bytes as JSON.`,
  };
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const description = fields[name];
    // A field's own `.meta` description (a limit JSON Schema can't express) follows what it does.
    if (description && !('$ref' in property)) property.description = property.description ? `${description.replace(/\.$/, '')}. ${property.description}` : description;
  }
}

/** A zod schema as a parameter's schema (no `$schema`: it is not a document of its own). */
function parameterSchema(schema: z.ZodType): object {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return rest;
}

function parameters(): Record<string, OpenAPIV3_1.ParameterObject> {
  const p = (parameter: OpenAPIV3_1.ParameterObject & { schema: object }) => parameter;
  const eventId = () => ({ type: 'string' as const, examples: ['1738324800000-0'] });
  return {
    JobId: p({ name: 'id', in: 'path', required: true, description: 'The job id', schema: parameterSchema(schemas.uuid) }),
    SessionId: p({ name: 'id', in: 'path', required: true, description: 'The session id (a job result’s `session_id`)', schema: parameterSchema(schemas.uuid) }),
    // Any other id answers 404 (pathId.ts), before any lookup.
    TenantId: p({ name: 'id', in: 'path', required: true, description: 'The tenant id', schema: parameterSchema(schemas.uuid) }),
    KeyId: p({ name: 'keyId', in: 'path', required: true, description: 'The API key’s id (not the key)', schema: parameterSchema(schemas.uuid) }),
    BatchId: p({ name: 'id', in: 'path', required: true, description: 'The batch id', schema: parameterSchema(schemas.uuid) }),
    // Prefer, Last-Event-ID and X-Request-Id are hints: a value the server can't use is
    // ignored, never refused, so their schemas refuse nothing and the rule is described.
    Prefer: p({
      name: 'Prefer',
      in: 'header',
      description:
        `RFC 7240 \`wait=N\`: wait up to N seconds (at most ${MAX_WAIT_SECONDS}) for the job to end before answering; the answer carries \`Preference-Applied: wait=N\`. ` +
        `Other preferences, and a header without \`wait=N\` (matching \`${PREFER_WAIT_PATTERN}\`), are ignored.`,
      schema: { type: 'string', examples: ['wait=30'] } as object,
    }),
    IdempotencyKey: p({
      name: 'Idempotency-Key',
      in: 'header',
      description:
        'Makes the submit safe to repeat: per tenant, for `IDEMPOTENCY_TTL_HOURS`, the same key with the same body (key order in objects aside) answers `200` with the original job and `Idempotent-Replayed: true`; with another body `422 idempotency_key_reused`; while the first is in progress `409 idempotency_key_in_progress`.',
      schema: { type: 'string', pattern: IDEMPOTENCY_KEY.source },
    }),
    LastEventId: p({
      name: 'Last-Event-ID',
      in: 'header',
      description: `Resume after this event id (a browser’s EventSource sends it by itself when it reconnects); a value that is not an event id (\`${EVENT_ID.source}\`) is ignored: the stream starts at the first event`,
      schema: eventId(),
    }),
    LastEventIdQuery: p({
      name: 'last_event_id',
      in: 'query',
      description: '`Last-Event-ID` for clients that cannot set headers; the header wins; ignored when it is not an event id',
      schema: eventId(),
    }),
    XRequestId: p({
      name: 'X-Request-Id',
      in: 'header',
      description: `Echoed in the answer and logged with the request when it matches \`${REQUEST_ID.source}\`; otherwise (or without one) one is generated`,
      schema: { type: 'string' },
    }),
  };
}

function headers(): Record<string, OpenAPIV3_1.HeaderObject> {
  const h = (description: string, example?: string): OpenAPIV3_1.HeaderObject => ({ description, schema: { type: 'string' }, ...(example ? { example } : {}) });
  return {
    'X-Request-Id': h('The request’s id, as sent or generated; in every log line about it'),
    'RateLimit-Policy': h(
      'draft-ietf-httpapi-ratelimit-headers: the key’s `requests_per_minute` (`"default";q=N;w=60`), and on `queue_full` the tenant’s `max_queued` (`"queued";q=N`). Absent when unlimited.',
      '"default";q=600;w=60',
    ),
    RateLimit: h('Requests left in the current window and seconds until it resets (`"default";r=…;t=…`); on `queue_full`, `"queued";r=0;t=…`', '"default";r=599;t=42'),
    'Retry-After': h('Seconds to wait before trying again', '5'),
    Location: h('The URL of the resource', '/v1/jobs/01a21351-979d-791e-9bd2-b0a795fc6dc9'),
    'Preference-Applied': h('The `Prefer: wait` that was honoured (capped)', 'wait=30'),
    'Idempotent-Replayed': h('`true` when the answer is the original job of a repeated `Idempotency-Key`', 'true'),
    'WWW-Authenticate': h('`Bearer`', 'Bearer'),
  };
}

function describeApi(config: ApiConfig): string {
  return [
    'Submit prompts over HTTP; workers run each one through `claude --print`, and the caller reads the result (poll, long-poll with `Prefer: wait=N`, Server-Sent Events, or webhooks).',
    '',
    '**Auth**: `Authorization: Bearer <key>`: a tenant’s API key for `/v1/jobs…` and `/v1/usage`, the `ADMIN_TOKEN` for `/v1/admin/…`. Everything a tenant sees is scoped by its key: another tenant’s job reads as missing (404).',
    '',
    `**Limits of this deployment**: request bodies up to ${config.MAX_BODY_BYTES} bytes, prompts up to ${config.MAX_PROMPT_BYTES} bytes, \`timeout_ms\` up to ${config.JOB_TIMEOUT_MAX_MS}, permission modes ${config.ALLOWED_PERMISSION_MODES.map((m) => `\`${m}\``).join(', ')}. ` +
      'Per tenant: `requests_per_minute` per key (every answer carries `RateLimit-Policy` and `RateLimit`; past it `429 rate_limited` with `Retry-After`), and `max_queued` (past it `429 queue_full`).',
    '',
    '**What the schemas can’t say**: JSON Schema counts characters, never bytes, so a limit in bytes of UTF-8 is stated as `maxLength` (every valid value meets it, since a character is at least a byte) and exactly as `x-max-bytes`; ' +
      'a limit on a value’s size as compact JSON as `x-max-json-bytes`, and the nesting depth of a body (the body is level 1) as `x-max-depth`. ' +
      'Where the server limits characters it counts UTF-16 code units, so a character outside the Basic Multilingual Plane (an emoji) counts twice there. ' +
      'Unknown query parameters are refused (400), as unknown body fields are. ' +
      `Some rules need the server’s state or a lookup: \`session_id\` must name a session of the tenant (404), a \`webhook_url\` or MCP server URL must resolve to a public address (400), \`custom_id\`s must be unique in their batch (400), and a usage range at most ${MAX_RANGE_DAYS} days (400).`,
    '',
    '**Errors** are RFC 9457 `application/problem+json` with a stable `code`; for bad input, `field` names the field at fault and `errors` lists all of them:',
    '',
    describeApiErrors(),
  ].join('\n');
}
