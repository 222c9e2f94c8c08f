import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { catalog } from './catalog.js';
import type { Keys } from './keys.js';
import type { JobPayload } from './job.js';

export type ClaudeQueue = Queue<JobPayload, unknown, typeof catalog.claude.jobName>;

/** The producer side of the claude queue. */
export function createClaudeQueue(connection: Redis, keys: Keys): ClaudeQueue {
  return new Queue(catalog.claude.queue, {
    connection,
    prefix: keys.bullPrefix,
    defaultJobOptions: catalog.claude.defaultJobOptions,
  });
}

export interface EnqueueOptions {
  /** Attempts in all, the first included (JOB_ATTEMPTS). */
  attempts: number;
}

/** Enqueues a job whose record already exists; the BullMQ job id is the record's id. */
export async function enqueueClaudeJob(queue: ClaudeQueue, jobId: string, payload: JobPayload, options: EnqueueOptions): Promise<void> {
  await queue.add(catalog.claude.jobName, payload, { jobId, attempts: options.attempts });
}

/**
 * Asks whichever worker runs the job to stop it. BullMQ's `worker.cancelJob` acts only
 * in its own process, so the request is broadcast and the owner acts (createWorker.ts).
 */
export async function publishCancel(redis: Redis, keys: Keys, jobId: string): Promise<void> {
  await redis.publish(keys.cancelChannel(), jobId);
}
