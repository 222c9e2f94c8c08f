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

/** Enqueues a job whose record already exists; the BullMQ job id is the record's id. */
export async function enqueueClaudeJob(queue: ClaudeQueue, jobId: string, payload: JobPayload): Promise<void> {
  await queue.add(catalog.claude.jobName, payload, { jobId });
}
