/**
 * Builds a worker process's parts from its config: used by main.ts and by tests,
 * which run several workers in one process or one per child process.
 */
import { Worker } from 'bullmq';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  catalog,
  createKeys,
  createRedis,
  JobStore,
  SessionStore,
  type JobPayload,
  type Logger,
  type WorkerConfig,
} from '@claude-queue/shared';
import { createSpawnRunner } from './claude/spawnRunner.js';
import type { ClaudeRunner } from './claude/runner.js';
import { createClaudeProcessor } from './queues/claude/processor.js';

export interface ClaudeWorkerOptions {
  config: WorkerConfig;
  logger: Logger;
  /** Overrides the runner (default: one `claude --print` spawn per job). */
  runner?: ClaudeRunner;
  env?: NodeJS.ProcessEnv;
}

export interface ClaudeWorker {
  worker: Worker<JobPayload>;
  close(): Promise<void>;
}

/** The claude executable installed with @anthropic-ai/claude-code, unless CLAUDE_BIN says otherwise. */
export function resolveClaudeBin(configured: string | undefined): string {
  if (configured) return configured;
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@anthropic-ai/claude-code/package.json');
  return path.join(path.dirname(pkg), 'bin', 'claude.exe');
}

export function createClaudeWorker(options: ClaudeWorkerOptions): ClaudeWorker {
  const { config, logger } = options;
  const keys = createKeys(config.QUEUE_PREFIX);
  // Workers ride out Redis restarts: their connections queue commands and reconnect.
  const connection = createRedis(config.REDIS_URL, 'worker');
  const store = createRedis(config.REDIS_URL, 'worker');
  const runner =
    options.runner ?? createSpawnRunner({ bin: resolveClaudeBin(config.CLAUDE_BIN), killGraceMs: config.WORKER_KILL_GRACE_MS });
  const processor = createClaudeProcessor({
    jobs: new JobStore(store, keys, config.JOB_RETENTION_HOURS * 3600),
    sessions: new SessionStore(store, keys),
    runner,
    config,
    logger,
    env: options.env,
  });
  const worker = new Worker<JobPayload>(catalog.claude.queue, processor, {
    connection,
    prefix: keys.bullPrefix,
    concurrency: config.WORKER_CONCURRENCY,
  });
  worker.on('error', (err) => logger.error({ err: { message: err.message } }, 'worker error'));
  return {
    worker,
    async close() {
      await worker.close();
      connection.disconnect();
      store.disconnect();
    },
  };
}
