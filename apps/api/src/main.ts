/** Starts the API: `npm run start:api`, configured by env alone. */
import { createLogger, loadApiConfig } from '@claude-queue/shared';
import { createApp } from './app.js';
import { createApiContext } from './context.js';

const config = loadApiConfig();
const logger = createLogger('api', config.LOG_LEVEL);
const ctx = createApiContext(config, logger);
const server = createApp(ctx).listen(config.PORT, config.HOST, () => {
  logger.info({ url: `http://${config.HOST}:${config.PORT}` }, 'api listening');
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing requests in flight');
    server.close(async () => {
      await ctx.close();
      process.exit(0);
    });
    server.closeIdleConnections();
  });
}
