/**
 * Moves jobs from the tenants' intakes into the BullMQ queue, as many as this worker
 * has free slots, in the order the scheduler decides (fair across tenants, within their
 * limits: packages/shared/src/scheduler). Every worker runs one; they need no leader,
 * because each dispatch is one atomic script.
 *
 * It runs when a slot frees up, when the API nudges (a new job), and on a short tick
 * (rate windows and pauses end by the clock).
 */
import type { ClaudeQueue, Logger, Scheduler } from '@claude-queue/shared';
import { enqueueClaudeJob } from '@claude-queue/shared';

export interface DispatcherOptions {
  scheduler: Scheduler;
  queue: ClaudeQueue;
  /** Slots of this worker free right now. */
  freeSlots: () => number;
  /** Attempts per job (JOB_ATTEMPTS). */
  attempts: number;
  logger: Logger;
  /** Tick (default: 250 ms). */
  intervalMs?: number;
  /** A dispatched job not started after this long is enqueued again (default: 30 s). */
  handoffTimeoutMs?: number;
}

export class Dispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private lastSweep = 0;

  constructor(private readonly options: DispatcherOptions) {}

  start(): void {
    this.timer = setInterval(() => this.poke(), this.options.intervalMs ?? 250);
    this.poke();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Dispatch soon; calls while one runs fold into one more round. */
  poke(): void {
    if (!this.timer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.round()
      .catch((err: Error) => this.options.logger.warn({ err: { message: err.message } }, 'dispatch failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  private async round(): Promise<void> {
    const { scheduler, queue, attempts } = this.options;
    const free = this.options.freeSlots();
    if (free > 0) {
      for (const { jobId, tenantId } of await scheduler.dispatch(free)) {
        await enqueueClaudeJob(queue, jobId, { tenantId }, { attempts });
      }
    }
    if (Date.now() - this.lastSweep > 5000) {
      this.lastSweep = Date.now();
      await this.sweep();
    }
  }

  /**
   * The scheduler marks a job dispatched before it is in BullMQ; a worker that died in
   * between leaves it there, still queued. Adding it again is safe: BullMQ ignores a job
   * id it knows.
   */
  private async sweep(): Promise<void> {
    const { scheduler, queue, attempts } = this.options;
    for (const { jobId, tenantId } of await scheduler.lostHandoffs(this.options.handoffTimeoutMs ?? 30_000)) {
      if (await queue.getJob(jobId)) continue;
      this.options.logger.warn({ job_id: jobId, tenant_id: tenantId }, 'enqueueing a dispatched job again');
      await enqueueClaudeJob(queue, jobId, { tenantId }, { attempts });
    }
  }
}
