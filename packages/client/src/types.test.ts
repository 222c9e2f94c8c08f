/**
 * The client's own copies of the API's types against the server's: the client has no
 * runtime dependency on @claude-queue/shared, so these checks are what keep the two
 * in step. They fail at type-check time (tsconfig.check.json) and in vitest.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  AttemptRecord as ServerAttemptRecord,
  BatchCounts,
  BatchItem,
  BatchOptions,
  BatchPage as ServerBatchPage,
  BatchStatus as ServerBatchStatus,
  BatchView,
  JobRecord,
  JobError as ServerJobError,
  JobPage as ServerJobPage,
  JobRequest as ServerJobRequest,
  JobResult as ServerJobResult,
  JobStatus as ServerJobStatus,
  JobStatusEvent as ServerJobStatusEvent,
  JobView,
  PermissionMode as ServerPermissionMode,
  ServiceEventType,
  BudgetReached,
  SessionPage as ServerSessionPage,
  SessionView,
} from '@claude-queue/shared';
import { FINAL_STATUSES as SERVER_FINAL_STATUSES, JOB_ERROR_CODES } from '@claude-queue/shared';
import { FINAL_STATUSES } from './types.js';
import type {
  AttemptRecord,
  Batch,
  BatchPage,
  BatchRequest,
  BatchRequestCounts,
  BatchRequestItem,
  BatchResultLine,
  BatchStatus,
  BatchWebhookPayload,
  BudgetReachedWebhookPayload,
  Job,
  JobError,
  JobPage,
  JobRequest,
  JobResult,
  JobStatus,
  JobStatusEventData,
  KnownJobErrorCode,
  PermissionMode,
  Session,
  SessionPage,
  SessionSummary,
  WebhookEventType,
  WebhookPayload,
} from './types.js';

/** The route adds the deployment's SESSION_MAX_BYTES to each session it answers (apps/api/src/routes/sessions.ts). */
type ServerSession = SessionView & { max_bytes: number };
type ServerSessionSummary = ServerSessionPage['data'][number] & { max_bytes: number };

describe('client types match the server', () => {
  it('has the same request fields, each accepted by the server', () => {
    expectTypeOf<keyof JobRequest>().toEqualTypeOf<keyof ServerJobRequest>();
    // What the client lets a caller send, the server's schema type accepts.
    expectTypeOf<JobRequest>().toExtend<ServerJobRequest>();
    expectTypeOf<ServerJobRequest>().toExtend<JobRequest>();
  });

  it('reads every job the server writes', () => {
    expectTypeOf<keyof Job>().toEqualTypeOf<keyof JobView>();
    expectTypeOf<JobView>().toExtend<Job>();
    expectTypeOf<ServerJobPage>().toExtend<JobPage>();
    expectTypeOf<ServerJobResult>().toEqualTypeOf<JobResult>();
    expectTypeOf<ServerJobError>().toExtend<JobError>();
    expectTypeOf<ServerAttemptRecord>().toExtend<AttemptRecord>();
    expectTypeOf<ServerJobStatusEvent>().toExtend<JobStatusEventData>();
  });

  it('names the same statuses, permission modes, webhook events and error codes', () => {
    expectTypeOf<JobStatus>().toEqualTypeOf<ServerJobStatus>();
    expectTypeOf<PermissionMode>().toEqualTypeOf<ServerPermissionMode>();
    expectTypeOf<WebhookEventType>().toEqualTypeOf<ServiceEventType>();
    expectTypeOf<KnownJobErrorCode>().toEqualTypeOf<(typeof JOB_ERROR_CODES)[number]>();
    expect([...FINAL_STATUSES].sort()).toEqual([...SERVER_FINAL_STATUSES].sort());
  });

  it('reads every batch the server writes, and sends only what its batch body takes', () => {
    expectTypeOf<keyof Batch>().toEqualTypeOf<keyof BatchView>();
    expectTypeOf<BatchView>().toExtend<Batch>();
    expectTypeOf<ServerBatchPage>().toExtend<BatchPage>();
    expectTypeOf<BatchStatus>().toEqualTypeOf<ServerBatchStatus>();
    expectTypeOf<BatchRequestCounts>().toEqualTypeOf<BatchCounts>();
    // A request: its custom_id and the job fields left once the batch's own are taken out.
    expectTypeOf<Omit<BatchRequestItem, 'custom_id'>>().toExtend<ServerJobRequest>();
    expectTypeOf<keyof BatchRequestItem>().toEqualTypeOf<
      'custom_id' | Exclude<keyof ServerJobRequest, 'session_id' | 'fork' | 'priority' | 'webhook_url' | 'webhook_events'>
    >();
    expectTypeOf<BatchRequestItem['custom_id']>().toEqualTypeOf<BatchItem['custom_id']>();
    expectTypeOf<Omit<BatchRequest, 'requests'>>().toEqualTypeOf<BatchOptions>();
  });

  it('reads every result line the server writes', () => {
    // apps/api/src/routes/batches.ts writes these fields of each finished job record.
    type ServerResultLine = { custom_id: NonNullable<JobRecord['custom_id']>; job_id: JobRecord['id'] } & Pick<JobRecord, 'status' | 'result' | 'error'>;
    expectTypeOf<ServerResultLine>().toExtend<BatchResultLine>();
    expectTypeOf<keyof BatchResultLine>().toEqualTypeOf<keyof ServerResultLine>();
  });

  it('reads every session the server writes', () => {
    expectTypeOf<keyof Session>().toEqualTypeOf<keyof ServerSession>();
    expectTypeOf<ServerSession>().toExtend<Session>();
    expectTypeOf<keyof SessionSummary>().toEqualTypeOf<keyof ServerSessionSummary>();
    expectTypeOf<ServerSessionSummary>().toExtend<SessionSummary>();
    expectTypeOf<{ data: ServerSessionSummary[]; next_cursor: ServerSessionPage['next_cursor'] }>().toExtend<SessionPage>();
  });

  it('tells webhook payloads apart by type: batch.ended carries the batch', () => {
    expectTypeOf<WebhookPayload['type']>().toEqualTypeOf<ServiceEventType>();
    expectTypeOf<Extract<WebhookPayload, { type: 'batch.ended' }>>().toEqualTypeOf<BatchWebhookPayload>();
    expectTypeOf<BatchView>().toExtend<BatchWebhookPayload['data']>();
    expectTypeOf<BudgetReached>().toEqualTypeOf<BudgetReachedWebhookPayload['data']>();
    // Narrowing by `type` reaches each payload's own data.
    const read = (p: WebhookPayload) => (p.type === 'batch.ended' ? p.data.request_counts : p.type === 'tenant.budget_reached' ? p.data.spent_usd : p.data.status);
    expectTypeOf(read).returns.toEqualTypeOf<BatchRequestCounts | JobStatus | number>();
  });
});
