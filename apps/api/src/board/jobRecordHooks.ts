/**
 * What the board's actions on the claude queue mean for the job records, the callers'
 * source of truth. The board acts on BullMQ alone; these hooks, which bull-board runs
 * around its own handlers (`handlerHooks`), keep each record in step with its job:
 *
 * - Retry of a failed job: the record goes failed → queued (attempt_history kept) *before*
 *   BullMQ moves the job, because a worker may take the job the moment it waits and the
 *   processor skips a job whose record is final. A move that did not happen is undone.
 * - Remove: the record of a job that had not ended is canceled before the board answers.
 * - Refused: what would leave records without an answer (emptying the queue, cleaning
 *   unfinished jobs wholesale: BullMQ reports no per-job event for those), retrying what
 *   is final for the caller (succeeded, canceled), and, on every queue, adding jobs or
 *   editing their data, which holds ids the service trusts (the claude job's tenantId
 *   picks whose credentials run it).
 *
 * The worker's boardSync.ts reconciles the same changes from BullMQ's events, for
 * whatever else acts on the queue.
 */
import type { createBullBoard } from '@bull-board/api';
import type { Queue } from 'bullmq';
import { catalog, FINAL_STATUSES, publishCancel, type JobRecord, type JobStore, type Keys, type Logger, type Scheduler } from '@claude-queue/shared';
import type { Redis } from 'ioredis';

export type BoardHooks = NonNullable<NonNullable<Parameters<typeof createBullBoard>[0]['options']>['handlerHooks']>;
type BeforeHook = NonNullable<BoardHooks['before']>;
type BoardRequest = Parameters<BeforeHook>[0]['request'];
type BeforeResult = Awaited<ReturnType<BeforeHook>>;

/** bull-board's API routes (@bull-board/api 9, dist/routes.js) that these hooks act on. */
export const BOARD_ROUTES = {
  retryJob: '/api/queues/:queueName/:jobId/retry',
  retryAll: '/api/queues/:queueName/retry/:queueStatus',
  removeJob: '/api/queues/:queueName/:jobId/clean',
  cleanAll: '/api/queues/:queueName/clean/:queueStatus',
  empty: '/api/queues/:queueName/empty',
  obliterate: '/api/queues/:queueName/obliterate',
  addJob: '/api/queues/:queueName/add',
  updateData: '/api/queues/:queueName/:jobId/update-data',
} as const;

export interface JobRecordHooksOptions {
  /** The board's handle on the claude queue. */
  queue: Queue;
  jobs: JobStore;
  scheduler: Scheduler;
  redis: Redis;
  keys: Keys;
  logger: Logger;
}

const refuse = (status: 403 | 409, message: string): BeforeResult => ({ allow: false, status, message });

export function createJobRecordHooks(options: JobRecordHooksOptions): BoardHooks {
  const { queue, jobs, scheduler, redis, keys, logger } = options;
  const claude = catalog.claude.queue;
  // Records reopened by one request, for its `after` to check. bull-board passes the
  // same request object to both hooks.
  const reopenedBy = new WeakMap<BoardRequest, JobRecord[]>();

  const reopen = (record: JobRecord) => jobs.reopenForRetry(record);

  /**
   * Back to failed for every reopened job BullMQ did not move (still failed there). A rerun
   * that already failed again has a failed record: the check-and-set leaves it alone.
   * The ending counts once more in the day's usage: a rare path (the move itself failed).
   */
  async function restoreUnmoved(records: readonly JobRecord[]): Promise<void> {
    for (const record of records) {
      if ((await queue.getJobState(record.id)) !== 'failed') continue;
      await jobs.transition(record.id, ['queued'], 'failed', {
        finished_at: record.finished_at ?? new Date().toISOString(),
        error: record.error,
        next_attempt_at: null,
      });
      logger.warn({ job_id: record.id }, 'board retry did not move the job; its record is failed again');
    }
  }

  async function beforeRetry(request: BoardRequest, jobId: string): Promise<BeforeResult> {
    const state = await queue.getJobState(jobId);
    if (state === 'completed') return refuse(409, 'this job completed, which is final for its caller: submit the request again instead');
    // Unknown or not failed: the board answers (404, or not retriable).
    if (state !== 'failed') return;
    const record = await jobs.get(jobId);
    if (!record) return refuse(409, 'the job record has expired (JOB_RETENTION_HOURS): there is nothing left to run');
    if (record.status === 'failed') {
      if (await reopen(record)) reopenedBy.set(request, [record]);
      return;
    }
    // Reopened already by a retry whose move did not happen: let this one move it.
    if (!FINAL_STATUSES.includes(record.status)) return;
    return refuse(409, `the job was ${record.status}, which is final for its caller: it will not run again`);
  }

  async function beforeRetryAll(request: BoardRequest): Promise<void> {
    const reopened: JobRecord[] = [];
    const ids = await queue.getRanges(['failed'], 0, -1);
    for (let i = 0; i < ids.length; i += 100) {
      const records = await Promise.all(ids.slice(i, i + 100).map((id) => jobs.get(id)));
      for (const record of records) if (record?.status === 'failed' && (await reopen(record))) reopened.push(record);
    }
    // Jobs whose record is canceled or gone are moved too; the processor skips them.
    reopenedBy.set(request, reopened);
  }

  /** A removed job that had not ended is canceled for its caller, and leaves the scheduler. */
  async function cancelRemoved(jobId: string): Promise<void> {
    const record = await jobs.get(jobId);
    if (!record || FINAL_STATUSES.includes(record.status)) return;
    if (!(await jobs.cancelRemoved(jobId))) return;
    await scheduler.withdraw(record.tenant_id, jobId);
    // A run whose worker lost the job can still be going: stop it wherever it is.
    if (record.status === 'running') await publishCancel(redis, keys, jobId);
    logger.info({ job_id: jobId, tenant_id: record.tenant_id }, 'job removed from the board: canceled');
  }

  return {
    async before({ route, request }) {
      const { queueName, jobId, queueStatus } = request.params as Record<string, string>;
      if (route === BOARD_ROUTES.addJob || route === BOARD_ROUTES.updateData) {
        return refuse(403, 'job data holds ids the service trusts: jobs are submitted and changed through the API only');
      }
      if (queueName !== claude) return;
      try {
        switch (route) {
          case BOARD_ROUTES.retryJob:
            return await beforeRetry(request, jobId!);
          case BOARD_ROUTES.retryAll:
            if (queueStatus !== 'failed') return refuse(409, 'only failed jobs can be retried: a completed job is final for its caller');
            return await beforeRetryAll(request);
          case BOARD_ROUTES.cleanAll:
            if (queueStatus === 'completed' || queueStatus === 'failed') return;
            return refuse(403, 'unfinished jobs are removed one by one, so that each caller learns its job was canceled');
          case BOARD_ROUTES.empty:
          case BOARD_ROUTES.obliterate:
            return refuse(403, "the claude queue holds callers' jobs: remove them one by one, or cancel them through the API");
        }
      } catch (err) {
        // bull-board answers 500 for a hook that throws; say why in the log.
        logger.error({ err: { message: (err as Error).message }, route, job_id: jobId }, 'board hook failed');
        throw err;
      }
    },

    async after({ route, request }, result) {
      const { queueName, jobId } = request.params as Record<string, string>;
      if (queueName !== claude) return result;
      try {
        if (route === BOARD_ROUTES.retryJob || route === BOARD_ROUTES.retryAll) await restoreUnmoved(reopenedBy.get(request) ?? []);
        if (route === BOARD_ROUTES.removeJob && (result.status ?? 200) < 400) await cancelRemoved(jobId!);
      } catch (err) {
        // The board's action happened; the worker's boardSync reconciles from BullMQ's events.
        logger.error({ err: { message: (err as Error).message }, route, job_id: jobId }, 'board hook failed after the action');
      }
      return result;
    },
  };
}
