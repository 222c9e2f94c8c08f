/** Starts one worker process: `npm run start:worker`, configured by env alone. */
import { createLogger, loadWorkerConfig, startOrExitOnConfigError, stopDeadlineMs } from '@claude-queue/shared';
import { createClaudeWorker } from './createWorker.js';
import { SandboxUnavailableError } from './sandbox/sandboxUnavailableError.js';

// SECRETS_KEY is parsed as the worker is built: a malformed one is a config error too.
const { config, logger, worker } = await startOrExitOnConfigError('worker', () => {
  const config = loadWorkerConfig();
  const logger = createLogger('worker', config.LOG_LEVEL);
  return { config, logger, worker: createClaudeWorker({ config, logger }) };
});
try {
  await worker.ready;
} catch (err) {
  // Fail closed: a worker that can't isolate its runs takes none.
  if (!(err instanceof SandboxUnavailableError)) throw err;
  logger.fatal({ code: err.code }, err.message);
  process.exit(1);
}
logger.info(
  { concurrency: config.WORKER_CONCURRENCY, data_dir: config.DATA_DIR, metrics_port: config.METRICS_PORT || null },
  'worker started',
);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, grace_ms: config.SHUTDOWN_GRACE_MS }, 'stopping: no new jobs; running ones may finish');
    // Running jobs get SHUTDOWN_GRACE_MS, then are handed back; closing the connections
    // after that waits for Redis, so with Redis gone the process still ends.
    const closeDeadline = setTimeout(() => {
      logger.warn('could not close cleanly (is Redis away?); exiting');
      process.exit(0);
    }, stopDeadlineMs(config));
    closeDeadline.unref();
    await worker.close();
    logger.info('stopped');
    process.exit(0);
  });
}
