/**
 * The client's own copies of the API's types against the server's: the client has no
 * runtime dependency on @claude-queue/shared, so these checks are what keep the two
 * in step. They fail at type-check time (tsconfig.check.json) and in vitest.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  AttemptRecord as ServerAttemptRecord,
  JobError as ServerJobError,
  JobPage as ServerJobPage,
  JobRequest as ServerJobRequest,
  JobResult as ServerJobResult,
  JobStatus as ServerJobStatus,
  JobStatusEvent as ServerJobStatusEvent,
  JobView,
  PermissionMode as ServerPermissionMode,
  ServiceEventType,
} from '@claude-queue/shared';
import { FINAL_STATUSES as SERVER_FINAL_STATUSES, JOB_ERROR_CODES } from '@claude-queue/shared';
import { FINAL_STATUSES } from './types.js';
import type {
  AttemptRecord,
  Job,
  JobError,
  JobPage,
  JobRequest,
  JobResult,
  JobStatus,
  JobStatusEventData,
  KnownJobErrorCode,
  PermissionMode,
  WebhookEventType,
} from './types.js';

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
});
