/**
 * Keeps job records in step with what operators do to the claude queue in BullMQ itself
 * (Bull Board, or any other BullMQ client), read from the queue's event stream:
 * - a job removed before it ended is canceled for its caller and leaves the scheduler;
 * - a failed job moved back to waiting (a retry) is queued again, attempt_history kept.
 *
 * The event comes after the move, and a worker may take the job the moment it waits:
 * if it reads the record before this reopens it, the processor skips the job as ended
 * and BullMQ completes it unrun. Such a job (completed as skipped, its record queued) is
 * moved back once more, and runs. The API's board avoids the race altogether by
 * reopening the record before the move (apps/api/src/board/jobRecordHooks.ts).
 *
 * Every worker process runs this on its QueueEvents; the record changes are
 * check-and-set, so one worker's change wins and the others change nothing.
 */
import type { Queue, QueueEvents } from 'bullmq';
import { FINAL_STATUSES, publishCancel, type JobStore, type Keys, type Logger, type Scheduler } from '@claude-queue/shared';
import type { Redis } from 'ioredis';

export interface BoardSyncOptions {
  /** The claude queue, and its events. */
  queue: Queue;
  queueEvents: QueueEvents;
  jobs: JobStore;
  scheduler: Scheduler;
  redis: Redis;
  keys: Keys;
  logger: Logger;
}

export interface BoardSync {
  /** Resolves when the changes under way, for the events heard so far, are done. */
  settled(): Promise<void>;
  /** Stops listening; changes under way finish. */
  stop(): Promise<void>;
}

/** Milliseconds since the epoch of a Redis stream entry id (`<ms>-<seq>`). */
const eventTime = (id: string) => Number(id.split('-')[0]);

/** What the processor returns for a job it did not run (queues/claude/processor.ts). */
const isSkipped = (returnvalue: unknown) => (returnvalue as { skipped?: unknown } | null)?.skipped === true;

export function startBoardSync(options: BoardSyncOptions): BoardSync {
  const { queue, queueEvents, jobs, scheduler, redis, keys, logger } = options;
  // One job's events are handled one after the other, in the stream's order: a skip's
  // `completed` must see what its retry's `waiting` did.
  const chains = new Map<string, Promise<void>>();
  const track = (what: string, jobId: string, work: () => Promise<void>) => {
    const chain = (chains.get(jobId) ?? Promise.resolve())
      .then(work)
      .catch((err: Error) => logger.error({ job_id: jobId, err: { message: err.message } }, `could not reconcile a ${what}`))
      .finally(() => {
        if (chains.get(jobId) === chain) chains.delete(jobId);
      });
    chains.set(jobId, chain);
  };

  const onRemoved = ({ jobId }: { jobId: string }) =>
    track('removal', jobId, async () => {
      const record = await jobs.get(jobId);
      if (!record || FINAL_STATUSES.includes(record.status)) return;
      if (!(await jobs.cancelRemoved(jobId))) return;
      await scheduler.withdraw(record.tenant_id, jobId);
      // Its worker may have lost it and still run the CLI: stop it wherever it is.
      if (record.status === 'running') await publishCancel(redis, keys, jobId);
      logger.info({ job_id: jobId, tenant_id: record.tenant_id }, 'job removed from the queue by an operator: canceled');
    });

  const onWaiting = ({ jobId, prev }: { jobId: string; prev?: string }, id: string) => {
    if (prev !== 'failed') return;
    track('retry', jobId, async () => {
      const record = await jobs.get(jobId);
      // Only the failure the retry was about: a record that failed after the event (the
      // rerun failed again before this ran) stays as it is.
      if (record?.status !== 'failed' || !record.finished_at || Date.parse(record.finished_at) > eventTime(id)) return;
      if (!(await jobs.reopenForRetry(record))) return;
      logger.info({ job_id: jobId, tenant_id: record.tenant_id }, 'failed job retried by an operator: queued again');
    });
  };

  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
    if (!isSkipped(returnvalue)) return;
    track('skipped retry', jobId, async () => {
      // Skipped with its record queued: a worker won the race above. Nothing else skips
      // a queued job (the processor skips ended, canceled and missing records).
      if ((await jobs.get(jobId))?.status !== 'queued') return;
      const job = await queue.getJob(jobId);
      if (!job || (await job.getState()) !== 'completed') return;
      logger.info({ job_id: jobId }, 'retried job was skipped before its record was queued again: moving it back');
      // Another worker may move it first: then this finds it no longer completed.
      await job.retry('completed').catch(() => undefined);
    });
  };

  queueEvents.on('removed', onRemoved);
  queueEvents.on('waiting', onWaiting);
  queueEvents.on('completed', onCompleted);
  const settled = async () => {
    await Promise.all(chains.values());
  };
  return {
    settled,
    async stop() {
      queueEvents.off('removed', onRemoved);
      queueEvents.off('waiting', onWaiting);
      queueEvents.off('completed', onCompleted);
      await settled();
    },
  };
}
