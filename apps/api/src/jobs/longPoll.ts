/**
 * Long-poll (`Prefer: wait=N`): the job as soon as it is final, or as it stands after
 * N seconds. Woken by the process's one job-events subscription, not by polling. A
 * request that will wait holds one of its tenant's live-request leases (liveRequests.ts).
 */
import type { Response } from 'express';
import { FINAL_STATUSES, type JobRecord } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';

/**
 * Takes a live-request lease for a request that will wait (a wait asked for, and a job
 * not final yet), held until its response closes; throws 429 too_many_streams when the
 * tenant has none left. A submit calls it before the job exists, so a refusal enqueues nothing.
 */
export async function holdWaitLease(ctx: ApiContext, tenantId: string, waitSeconds: number | null, res: Response, job?: JobRecord): Promise<void> {
  if (!waitSeconds || (job && FINAL_STATUSES.includes(job.status))) return;
  const lease = await ctx.liveRequests.acquire(tenantId);
  // However the request ends (answered, refused, the client gone), the slot frees.
  res.on('close', lease.release);
  // The client may have gone while the lease was being taken: its close has been and gone.
  if (res.req.socket.destroyed) lease.release();
}

export async function awaitFinal(ctx: ApiContext, job: JobRecord, waitSeconds: number, res: Response): Promise<JobRecord> {
  if (waitSeconds === 0 || FINAL_STATUSES.includes(job.status)) return job;
  return new Promise<JobRecord>((resolve) => {
    let done = false;
    let unwatch: (() => void) | undefined;
    const finish = (record: JobRecord | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unwatch?.();
      res.off('close', onClose);
      resolve(record ?? job);
    };
    const check = async () => {
      const now = await ctx.jobs.get(job.id).catch(() => null);
      if (!now || FINAL_STATUSES.includes(now.status)) finish(now);
    };
    // The response's close, not the request's: a request "closes" once its body is read.
    const onClose = () => finish(null);
    const timer = setTimeout(() => void ctx.jobs.get(job.id).then(finish, () => finish(null)), waitSeconds * 1000);
    res.on('close', onClose);
    void ctx.watcher.watch(job.id, () => void check()).then((stop) => {
      unwatch = stop;
      if (done) stop();
      // It may have ended before we were watching.
      else void check();
    });
  });
}
