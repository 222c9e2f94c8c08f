/** A handle on every queue of the catalog, for the board: a queue added there shows up here. */
import { Queue } from 'bullmq';
import { catalog, logQueueErrors, type Keys, type Logger, type RedisOutageLog } from '@claude-queue/shared';
import type { Redis } from 'ioredis';

export function createBoardQueues(redis: Redis, keys: Keys, logger: Logger, outageLog?: RedisOutageLog): Queue[] {
  return Object.values(catalog).map((spec) => {
    // Over the API's BullMQ connection: the board only reads and moves jobs, it never blocks.
    const queue = new Queue(spec.queue, { connection: redis, prefix: keys.bullPrefix });
    logQueueErrors(queue, logger, 'board queue error', outageLog);
    return queue;
  });
}
