/** A handle on every queue of the catalog, for the board: a queue added there shows up here. */
import { Queue } from 'bullmq';
import { catalog, type Keys, type Logger } from '@claude-queue/shared';
import type { Redis } from 'ioredis';

export function createBoardQueues(redis: Redis, keys: Keys, logger: Logger): Queue[] {
  return Object.values(catalog).map((spec) => {
    // Over the API's connection: the board only reads and moves jobs, it never blocks.
    const queue = new Queue(spec.queue, { connection: redis, prefix: keys.bullPrefix });
    queue.on('error', (err) => logger.warn({ err: { message: err.message } }, 'board queue error'));
    return queue;
  });
}
