/** Starts one worker process: `npm run start:worker`, configured by env alone. */
import { createLogger, loadWorkerConfig } from '@claude-queue/shared';
import { createClaudeWorker } from './createWorker.js';

const config = loadWorkerConfig();
const logger = createLogger('worker', config.LOG_LEVEL);
const { worker, close } = createClaudeWorker({ config, logger });
await worker.waitUntilReady();
logger.info({ concurrency: config.WORKER_CONCURRENCY, data_dir: config.DATA_DIR }, 'worker started');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing running jobs');
    await close();
    logger.info('stopped');
    process.exit(0);
  });
}
