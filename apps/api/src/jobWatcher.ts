/**
 * One Redis subscription per API process for every job anyone here waits on: the
 * job-events channel carries the id of each job with a new event (a move of the job's life (JobLife),
 * JobEventLog.appendText), and this fans it out to the long-polls and event streams
 * of this process. 1,000 waiters cost one subscription, not 1,000.
 */
import type { Redis } from 'ioredis';
import type { Keys, Logger } from '@claude-queue/shared';

export class JobWatcher {
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly ready: Promise<unknown>;

  constructor(
    private readonly subscriber: Redis,
    keys: Keys,
    logger: Logger,
  ) {
    subscriber.on('message', (_channel: string, jobId: string) => {
      for (const listener of this.listeners.get(jobId) ?? []) listener();
    });
    this.ready = subscriber.subscribe(keys.jobEventsChannel()).catch((err: Error) => {
      logger.warn({ err: { message: err.message } }, 'cannot subscribe to job events');
    });
  }

  /** Calls `listener` on every new event of the job until the returned function is called. */
  async watch(jobId: string, listener: () => void): Promise<() => void> {
    await this.ready;
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  /** Waiters right now (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
