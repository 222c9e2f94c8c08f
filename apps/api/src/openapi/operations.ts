/**
 * Endpoints as short specs, and what turns one into an OpenAPI operation: auth, the
 * problem answers of its error codes (merged with those every route of its kind can
 * give), and the headers every answer carries.
 */
import { STATUS_CODES } from 'node:http';
import type { OpenAPIV3_1 } from 'openapi-types';
import { API_ERRORS, statusesOf, type ApiErrorCode } from './problems.js';

export type Auth = 'tenant' | 'admin' | 'public' | 'metrics' | 'board';
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Schema = OpenAPIV3_1.SchemaObject | OpenAPIV3_1.ReferenceObject;

export interface Endpoint {
  method: Method;
  /** OpenAPI form: `/v1/jobs/{id}`. */
  path: string;
  operationId: string;
  auth: Auth;
  tag: string;
  summary: string;
  description?: string;
  parameters?: Array<OpenAPIV3_1.ParameterObject | OpenAPIV3_1.ReferenceObject>;
  /** A JSON body. */
  body?: { schema: Schema; required?: boolean; description?: string; example?: unknown };
  /** The answers that are not problems. */
  responses: Record<string, OpenAPIV3_1.ResponseObject>;
  /** Error codes of this route beyond those of its kind (`Auth`); with its status where a code has several. */
  errors?: Array<ApiErrorCode | { code: ApiErrorCode; status: number }>;
}

export const schemaRef = (name: string): OpenAPIV3_1.ReferenceObject => ({ $ref: `#/components/schemas/${name}` });
export const parameterRef = (name: string): OpenAPIV3_1.ReferenceObject => ({ $ref: `#/components/parameters/${name}` });
const headerRef = (name: string): OpenAPIV3_1.ReferenceObject => ({ $ref: `#/components/headers/${name}` });

export function jsonResponse(description: string, schema: Schema, headers: string[] = []): OpenAPIV3_1.ResponseObject {
  return { description, headers: headerRefs(headers), content: { 'application/json': { schema } } };
}

function headerRefs(names: string[]): Record<string, OpenAPIV3_1.ReferenceObject> {
  return Object.fromEntries(names.map((n) => [n, headerRef(n)]));
}

/** Refusals every route of a kind can give, besides its own. */
const ERRORS_OF: Record<Auth, ApiErrorCode[]> = {
  // The failed-login rule (a 429 per address), requireTenant, then requestRate (a 429 per key), then Redis.
  tenant: ['unauthorized', 'too_many_failed_logins', 'rate_limited', 'unavailable', 'internal_error'],
  admin: ['unauthorized', 'too_many_failed_logins', 'unavailable', 'internal_error'],
  public: ['internal_error'],
  metrics: ['too_many_failed_logins', 'unavailable', 'internal_error'],
  board: ['unauthorized', 'too_many_failed_logins', 'forbidden', 'unavailable'],
};

const SECURITY_OF: Record<Auth, OpenAPIV3_1.SecurityRequirementObject[]> = {
  tenant: [{ tenantKey: [] }],
  admin: [{ adminToken: [] }],
  public: [],
  // METRICS_TOKEN is optional on a loopback-only API (required on any other HOST): without it, /metrics answers anyone.
  metrics: [{}, { metricsToken: [] }],
  board: [{ boardBasic: [] }],
};

/** Refusals that say when to come back. */
const RETRY_AFTER_CODES: readonly ApiErrorCode[] = ['rate_limited', 'too_many_failed_logins', 'queue_full', 'budget_exhausted', 'storage_full', 'unavailable', 'idempotency_key_in_progress', 'too_many_redeliveries', 'too_many_streams'];

export function toOperation(e: Endpoint): OpenAPIV3_1.OperationObject {
  const responses: OpenAPIV3_1.ResponsesObject = { ...e.responses };
  const byStatus = new Map<number, Set<ApiErrorCode>>();
  for (const error of [...(e.errors ?? []), ...ERRORS_OF[e.auth]]) {
    const { code, status } = typeof error === 'string' ? { code: error, status: onlyStatusOf(error) } : error;
    if (!statusesOf(code).includes(status)) throw new Error(`${e.operationId}: ${code} is never answered with ${status}`);
    byStatus.set(status, (byStatus.get(status) ?? new Set()).add(code));
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) responses[String(status)] = problemResponse(status, [...codes]);

  for (const [status, response] of Object.entries(responses)) {
    if ('$ref' in response) continue;
    const headers: string[] = ['X-Request-Id'];
    // requestRate sets these before anything after it can refuse; a tenant with no
    // request limit gets none.
    if (e.auth === 'tenant' && status !== '401') headers.push('RateLimit-Policy', 'RateLimit');
    response.headers = { ...headerRefs(headers), ...response.headers };
  }

  return {
    operationId: e.operationId,
    tags: [e.tag],
    summary: e.summary,
    ...(e.description ? { description: e.description } : {}),
    security: SECURITY_OF[e.auth],
    parameters: [...(e.parameters ?? []), parameterRef('XRequestId')],
    ...(e.body
      ? {
          requestBody: {
            required: e.body.required ?? true,
            ...(e.body.description ? { description: e.body.description } : {}),
            content: { 'application/json': { schema: e.body.schema, ...(e.body.example === undefined ? {} : { example: e.body.example }) } },
          },
        }
      : {}),
    responses,
  };
}

function onlyStatusOf(code: ApiErrorCode): number {
  const statuses = statusesOf(code);
  if (statuses.length !== 1) throw new Error(`${code} has several statuses: name the one meant`);
  return statuses[0]!;
}

function problemResponse(status: number, codes: ApiErrorCode[]): OpenAPIV3_1.ResponseObject {
  const headers: string[] = [];
  if (codes.some((c) => RETRY_AFTER_CODES.includes(c))) headers.push('Retry-After');
  if (codes.includes('unauthorized')) headers.push('WWW-Authenticate');
  if (codes.includes('queue_full')) headers.push('RateLimit-Policy', 'RateLimit');
  const examples = Object.fromEntries(
    codes.map((code) => [
      code,
      {
        summary: code,
        value: {
          type: `https://claude-queue.dev/problems/${code}`,
          title: STATUS_CODES[status] ?? 'Error',
          status,
          detail: API_ERRORS[code].meaning.replace(/`/g, ''),
          code,
        },
      },
    ]),
  );
  return {
    description: codes.map((c) => `\`${c}\`: ${API_ERRORS[c].meaning}`).join('. '),
    headers: headerRefs(headers),
    content: { 'application/problem+json': { schema: schemaRef('Problem'), examples } },
  };
}
