/**
 * Every `code` the API itself answers with, its status and what it means, for the
 * document. openapi.test.ts finds every `new HttpProblem(status, 'code'` in the API's
 * source and fails on one missing here, so a new refusal can't go undocumented.
 */
import { REDELIVERIES_PER_MINUTE } from '../jobs/redeliveries.js';

export const API_ERRORS = {
  invalid_request: { status: 400, meaning: 'A field, query parameter or header is invalid: `field` names the first, `errors` all of them' },
  invalid_json: { status: 400, meaning: 'The body is not valid JSON' },
  unauthorized: { status: 401, meaning: 'The `Authorization: Bearer` credential is missing or wrong (a revoked key, a disabled tenant)' },
  forbidden: { status: 403, meaning: 'The queue dashboard: a change by a read-only login, or from another origin' },
  not_found: { status: 404, meaning: 'No such route, or no such job / tenant / key (another tenant’s job reads as missing)' },
  session_not_found: { status: 404, meaning: '`session_id` names no session of this tenant' },
  job_already_final: { status: 409, meaning: 'The job has already ended' },
  idempotency_key_in_progress: { status: 409, meaning: 'The first request with this `Idempotency-Key` is still being handled (see `Retry-After`)' },
  secrets_key_missing: { status: 409, meaning: 'Tenant credentials need `SECRETS_KEY` configured on the API' },
  webhook_not_configured: { status: 409, meaning: 'Neither the job nor its tenant has a `webhook_url`' },
  redelivery_in_progress: { status: 409, meaning: 'The previous redelivery of this job to its webhook URL still has deliveries waiting or running' },
  expired: {
    status: [404, 410],
    meaning: 'The job finished more than `JOB_RETENTION_HOURS` ago and was removed (410: the job an `Idempotency-Key` created)',
  },
  body_too_large: { status: 413, meaning: 'The body is larger than `MAX_BODY_BYTES`' },
  unsupported_media_type: { status: 415, meaning: 'The body is not `application/json` (or its encoding is not supported)' },
  idempotency_key_reused: { status: 422, meaning: 'This `Idempotency-Key` was used with a different body' },
  queue_full: { status: 429, meaning: 'The tenant has `max_queued` jobs waiting; nothing was enqueued (see `Retry-After`)' },
  budget_exhausted: { status: 429, meaning: "The tenant has spent its `budget_usd` for the period (UTC day or month); nothing was enqueued until the next (see `Retry-After`)" },
  storage_full: { status: 429, meaning: "The tenant's jobs hold `max_stored_bytes` in storage until they expire; nothing was enqueued (see `Retry-After`)" },
  rate_limited: { status: 429, meaning: 'More than `requests_per_minute` requests with this key (see `Retry-After`)' },
  too_many_redeliveries: { status: 429, meaning: `The tenant asked for more than ${REDELIVERIES_PER_MINUTE} webhook redeliveries in the last minute (see \`Retry-After\`)` },
  too_many_streams: {
    status: 429,
    meaning: 'The tenant has `MAX_STREAMS_PER_TENANT` event streams and `Prefer: wait` requests open, across all API processes; nothing was enqueued (see `Retry-After`)',
  },
  too_many_failed_logins: {
    status: 429,
    meaning: 'This client address sent more than `LOGIN_FAILURES_MAX` wrong credentials (any kind) in `LOGIN_FAILURES_WINDOW_SECONDS`: every credential from it is refused until `Retry-After`',
  },
  internal_error: { status: 500, meaning: 'A bug; the details are in the log under the request id' },
  unavailable: { status: 503, meaning: 'Redis does not answer (see `Retry-After`)' },
} as const satisfies Record<string, { status: number | readonly number[]; meaning: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** The statuses a code is answered with (most have one). */
export function statusesOf(code: ApiErrorCode): readonly number[] {
  const status: number | readonly number[] = API_ERRORS[code].status;
  return typeof status === 'number' ? [status] : status;
}

/** The codes as a Markdown table, for the document's description. */
export function describeApiErrors(): string {
  const rows = Object.entries(API_ERRORS).map(([code, e]) => `| \`${code}\` | ${statusesOf(code as ApiErrorCode).join(', ')} | ${e.meaning} |`);
  return ['| code | status | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
