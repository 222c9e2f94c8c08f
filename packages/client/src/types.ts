/**
 * The API's request and response shapes, written out here rather than imported from
 * @claude-queue/shared: users of the client install no server code. types.test.ts
 * checks them against the server's own types, so the two can't drift apart.
 */

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

/** True once the job has its one final answer. */
export function isFinal(job: { status: JobStatus }): boolean {
  return FINAL_STATUSES.includes(job.status);
}

export type PermissionMode = 'acceptEdits' | 'auto' | 'bypassPermissions' | 'manual' | 'dontAsk' | 'plan';

/** A job's webhook events, as a job asks for them in `webhook_events`. */
export type JobWebhookEventType = 'job.started' | 'job.succeeded' | 'job.failed' | 'job.canceled';
/** Every webhook event: a job's, and a batch's end. */
/** What a batch may ask for in `webhook_events`: its requests' job events, and its end. */
export type BatchWebhookEventType = JobWebhookEventType | 'batch.ended';
/** Every webhook event: a job's, a batch's end, and a tenant's budget reached. */
export type WebhookEventType = BatchWebhookEventType | 'tenant.budget_reached';

/** The body of `POST /v1/jobs` (the README's "Submit body" says what each field does). */
export interface JobRequest {
  prompt: string;
  model?: string;
  system_prompt?: string;
  append_system_prompt?: string;
  max_turns?: number;
  max_budget_usd?: number;
  allowed_tools?: string[];
  disallowed_tools?: string[];
  permission_mode?: PermissionMode;
  mcp_config?: { mcpServers: Record<string, Record<string, unknown>> };
  json_schema?: Record<string, unknown>;
  /** Continue the conversation of an earlier result's `session_id`. */
  session_id?: string;
  /** With `session_id`: a new branch of that conversation, with a session id of its own. */
  fork?: boolean;
  timeout_ms?: number;
  /** Stream the answer in small chunks to `events()` (default: false: one text event per message). */
  stream?: boolean;
  webhook_url?: string;
  webhook_events?: JobWebhookEventType[];
  /** 1 runs first, 100 last, among this tenant's own waiting jobs (default: 50). */
  priority?: number;
  retry_on_timeout?: boolean;
  /** Echoed back on the job, never passed to the CLI; at most 4 KB as JSON. */
  metadata?: Record<string, unknown>;
}

/** Stable codes of a failed job, as this client knows them. */
export type KnownJobErrorCode =
  | 'auth_failed'
  | 'rate_limited'
  | 'overloaded'
  | 'api_error'
  | 'invalid_request'
  | 'session_not_found'
  | 'max_turns'
  | 'budget_exceeded'
  | 'timeout'
  | 'cli_crashed'
  | 'cli_error'
  | 'worker_lost'
  | 'canceled'
  | 'internal_error'
  | 'session_too_large';

/** A failed job's code: a newer server may add codes, so any string is possible. */
export type JobErrorCode = KnownJobErrorCode | (string & {});

export interface JobError {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
}

export interface JobResult {
  text: string;
  session_id: string;
  num_turns: number;
  duration_ms: number;
  total_cost_usd: number;
  usage: Record<string, unknown> | null;
  structured_output: unknown;
}

/** One attempt that did not succeed, oldest first. */
export interface AttemptRecord {
  attempt: number;
  code: JobErrorCode;
  message: string;
  at: string;
}

/** The job object, as every job endpoint answers it. */
export interface Job {
  id: string;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  /** While waiting to retry: when the next attempt may start. */
  next_attempt_at: string | null;
  attempt_history: AttemptRecord[];
  /** The request as submitted, without `metadata`. */
  request: Omit<JobRequest, 'metadata'>;
  result: JobResult | null;
  error: JobError | null;
  metadata: Record<string, unknown> | null;
  /** A request of a batch: the batch and the request's `custom_id`. */
  batch_id?: string;
  custom_id?: string;
}

/** One page of `GET /v1/jobs`, newest first. */
export interface JobPage {
  data: Job[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** The data of a `status` event: `retrying` while an attempt failed and another will follow. */
export interface JobStatusEventData {
  status: JobStatus | 'retrying';
  attempt?: number;
  next_attempt_at?: string | null;
  error?: JobError | null;
}

/**
 * One event of `GET /v1/jobs/{id}/events`. `status` and `text` carry the id to resume
 * after; the last event is always `result`, with the final job and no id.
 */
export type JobEvent =
  | { id: string; event: 'status'; data: JobStatusEventData }
  | { id: string; event: 'text'; data: { text: string } }
  | { id: null; event: 'result'; data: Job };

/** A batch's life: `ended` once none of its requests is queued or running. */
export type BatchStatus = 'in_progress' | 'canceling' | 'ended';

/** How many of a batch's requests are in each job status; they add up to `total`. */
export interface BatchRequestCounts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  canceled: number;
}

/** The batch object, as every batch endpoint answers it. */
export interface Batch {
  id: string;
  status: BatchStatus;
  request_counts: BatchRequestCounts;
  total: number;
  created_at: string;
  ended_at: string | null;
  /** When the batch and its results are removed (JOB_RETENTION_HOURS after it ended). */
  expires_at: string;
  metadata: Record<string, unknown> | null;
  /** Where its webhooks go (null: the tenant's default URL). */
  webhook_url: string | null;
  /** `batch.ended`, and its requests' own job events when asked for. */
  webhook_events: BatchWebhookEventType[];
}

/** One page of `GET /v1/batches`, newest first. */
export interface BatchPage {
  data: Batch[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** Job fields a batch's request may not set: its conversation, priority and webhooks are the batch's. */
export type BatchForbiddenField = 'session_id' | 'fork' | 'priority' | 'webhook_url' | 'webhook_events';

/** One request of a batch: a job request with the caller's own key for it. */
export type BatchRequestItem = {
  /** Unique in its batch: 1 to 64 letters, digits, `_ . : -`. */
  custom_id: string;
} & Omit<JobRequest, BatchForbiddenField>;

/** The body of `POST /v1/batches` as JSON. */
export interface BatchRequest {
  requests: BatchRequestItem[];
  metadata?: Record<string, unknown>;
  webhook_url?: string;
  /** (default: `['batch.ended']`); job events listed too are sent for each request. */
  webhook_events?: BatchWebhookEventType[];
}

/** A batch whose failed requests `POST /v1/batches/{id}/retry` put back in the queue. */
export type RetriedBatch = Batch & {
  /** How many failed requests run again. */
  retried: number;
};

/** One line of `GET /v1/batches/{id}/results`: a request that finished. */
export interface BatchResultLine {
  custom_id: string;
  job_id: string;
  status: JobStatus;
  result: JobResult | null;
  error: JobError | null;
}

/** A conversation, as `GET /v1/sessions` lists it. */
export interface SessionSummary {
  id: string;
  created_at: string;
  last_used_at: string;
  /** When it can no longer be continued, unless used before (SESSION_TTL_DAYS after its last use). */
  expires_at: string;
  /** The conversation's files (transcript and workspace) after its last turn. */
  size_bytes: number;
  /** SESSION_MAX_BYTES: a turn that makes it larger fails with `session_too_large`. */
  max_bytes: number;
  /** The session this one branched from (`fork: true`). */
  forked_from: string | null;
}

/** A conversation and its turns (`GET /v1/sessions/{id}`). */
export interface Session extends SessionSummary {
  /** The jobs whose turns made it what it is (each that succeeded), oldest first. */
  turns: string[];
}

/** One page of `GET /v1/sessions`, most recently used first. */
export interface SessionPage {
  data: SessionSummary[];
  next_cursor: string | null;
}

/**
 * The body of a job's webhook delivery (Standard Webhooks' payload shape). When the
 * whole job would make the body too large, `result` (and then `request`) is null and
 * `result_url` says where to fetch the job.
 */
export interface JobWebhookPayload {
  type: JobWebhookEventType;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: Omit<Job, 'request'> & { request: Job['request'] | null; result_url?: string };
}

/** The body of a batch's `batch.ended` delivery: the batch, with its final counts. */
export interface BatchWebhookPayload {
  type: 'batch.ended';
  /** When the batch ended (ISO 8601). */
  timestamp: string;
  data: Batch;
}

/** The body of a tenant's `tenant.budget_reached` delivery (to the tenant's webhook_url), once per budget period. */
export interface BudgetReachedWebhookPayload {
  type: 'tenant.budget_reached';
  timestamp: string;
  data: {
    tenant_id: string;
    /** The UTC day (YYYY-MM-DD) or month (YYYY-MM) whose budget was reached. */
    period: string;
    budget: { amount: number; per: 'day' | 'month' } | null;
    spent_usd: number;
    /** When the next period begins, and runs start again. */
    resets_at: string;
  };
}

/** The body of any webhook delivery: narrow it by `type`. */
export type WebhookPayload = JobWebhookPayload | BatchWebhookPayload | BudgetReachedWebhookPayload;
