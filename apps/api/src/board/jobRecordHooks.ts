/**
 * What the board may not do to the claude queue, refused before bull-board acts (its
 * `handlerHooks`). Retry and remove themselves are moves of the job's life
 * (claudeQueueAdapter.ts); refused here is what would leave records without an answer
 * (emptying the queue, cleaning unfinished jobs wholesale), retrying what is final for
 * its caller (succeeded, canceled), and, on every queue, adding jobs or editing their
 * data, which holds ids the service trusts (the claude job's tenantId picks whose
 * credentials run it).
 */
import type { createBullBoard } from '@bull-board/api';
import { catalog, describeJobStatus, FINAL_STATUSES, type JobStore, type Logger } from '@claude-queue/shared';

export type BoardHooks = NonNullable<NonNullable<Parameters<typeof createBullBoard>[0]['options']>['handlerHooks']>;
type BeforeHook = NonNullable<BoardHooks['before']>;
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
  jobs: JobStore;
  logger: Logger;
}

const refuse = (status: 403 | 409, message: string): BeforeResult => ({ allow: false, status, message });

export function createJobRecordHooks(options: JobRecordHooksOptions): BoardHooks {
  const { jobs, logger } = options;
  const claude = catalog.claude.queue;

  /** Only a failed job runs again; the button says why not for any other. */
  async function beforeRetry(jobId: string): Promise<BeforeResult> {
    const record = await jobs.get(jobId);
    // Unknown to BullMQ too: the board answers 404.
    if (!record) return;
    if (record.status === 'failed') return;
    if (FINAL_STATUSES.includes(record.status)) {
      return refuse(409, `the job ${describeJobStatus(record.status)}, which is final for its caller: submit the request again instead`);
    }
    return refuse(409, `the job ${describeJobStatus(record.status)}: only a failed job can be retried`);
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
            return await beforeRetry(jobId!);
          case BOARD_ROUTES.retryAll:
            if (queueStatus !== 'failed') return refuse(409, 'only failed jobs can be retried: a completed job is final for its caller');
            return;
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
  };
}
