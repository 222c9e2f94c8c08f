/**
 * The board's adapter for the claude queue: its retry and remove buttons make moves of
 * the job's life (JobLife), so the board, the API and the workers can't disagree about
 * a job. The board's handlers call `job.retry()` and `job.remove()` on the jobs this
 * adapter hands them (one job, or every job of "Retry all"); here those are:
 * - retry → `reopen`: a failed job runs again (its record queued, its attempt history
 *   kept); a job whose record is not failed is left as it is.
 * - remove → `cancel` by an operator for a job that had not ended (a running one is
 *   stopped and completes as canceled), then the BullMQ entry goes if it is not held by a
 *   worker; an ended job's BullMQ entry just goes.
 * Canceled jobs are named so in the list ("run · canceled"): BullMQ has no such state.
 *
 * What it shows of a job is ids and codes only, to read-only logins too: the failure
 * reason is the job's error code (anything else an error said, `internal_error`), no
 * stack trace (it names the worker's code; the catalog stores none, older jobs may have
 * one), and the return value's status and session id. The error's message and the
 * result can hold model output: they are in the job record, for the job's tenant.
 */
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { Job, Queue } from 'bullmq';
import { FINAL_STATUSES, JOB_ERROR_CODES, refOf, type JobLife, type JobPayload, type JobStore, type Logger } from '@claude-queue/shared';

type AdapterOptions = ConstructorParameters<typeof BullMQAdapter>[1];

const ERROR_CODES: ReadonlySet<string> = new Set(JOB_ERROR_CODES);

/** A failure reason as the board shows it: a job error code, never free text (worker, BullMQ or model). */
export const failureCodeOf = (reason: string): string => (!reason || ERROR_CODES.has(reason) ? reason : 'internal_error');

export interface ClaudeQueueAdapterDeps {
  life: JobLife;
  jobs: JobStore;
  logger: Logger;
}

export class ClaudeQueueAdapter extends BullMQAdapter {
  constructor(
    queue: Queue,
    options: AdapterOptions,
    private readonly deps: ClaudeQueueAdapterDeps,
  ) {
    super(queue, options);
    this.setFormatter('name', (job: { name?: string; returnvalue?: { status?: string } | null }) =>
      job.returnvalue?.status === 'canceled' ? `${job.name} · canceled` : (job.name ?? ''),
    );
    // RunReturnValue holds ids only today; this keeps it so whatever is added to it.
    this.setFormatter('returnValue', (value: { status?: unknown; session_id?: unknown } | null | undefined) =>
      value && typeof value === 'object' ? { status: value.status, ...(value.session_id === undefined ? {} : { session_id: value.session_id }) } : value,
    );
  }

  override async getJob(id: string) {
    const job = (await super.getJob(id)) as Job<JobPayload> | undefined | null;
    return job ? this.actingThroughJobLife(this.withoutFreeText(job)) : undefined;
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>) {
    const jobs = (await super.getJobs(...args)) as Job<JobPayload>[];
    return jobs.map((job) => this.actingThroughJobLife(this.withoutFreeText(job)));
  }

  /** Ids and codes only (see above); the job is this request's copy, BullMQ's stays as it is. */
  private withoutFreeText(job: Job<JobPayload>): Job<JobPayload> {
    job.failedReason = failureCodeOf(job.failedReason);
    job.stacktrace = [];
    return job;
  }

  /**
   * The job, its retry and remove made moves of its life: own, non-enumerable methods,
   * so the job's JSON (BullMQ's toJSON copies own enumerable fields) is unchanged.
   */
  private actingThroughJobLife(job: Job<JobPayload>): Job<JobPayload> {
    const { life, jobs, logger } = this.deps;
    const ref = refOf(job);
    const remove = job.remove.bind(job);
    const methods = {
      async retry(): Promise<void> {
        const outcome = await life.reopen(ref);
        if (outcome.moved) logger.info({ job_id: ref.id, tenant_id: ref.tenantId }, 'failed job retried by an operator: queued again');
      },
      async remove(): Promise<void> {
        const record = await jobs.get(ref.id);
        if (record && !FINAL_STATUSES.includes(record.status)) {
          const outcome = await life.cancel(ref, 'operator');
          if (outcome.moved) logger.info({ job_id: ref.id, tenant_id: ref.tenantId }, 'job removed by an operator: canceled');
        }
        // A worker holds a running one: it stops the run and completes the job as canceled.
        const state = await job.getState();
        if (state !== 'active' && state !== 'unknown') await remove();
      },
    };
    for (const [name, value] of Object.entries(methods)) Object.defineProperty(job, name, { value, enumerable: false });
    return job;
  }
}
