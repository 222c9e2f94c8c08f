/** Starts the API: `npm run start:api`, configured by env alone. */
import { CLOSE_TIMEOUT_MS, createLogger, loadApiConfig, startOrExitOnConfigError, waitForRedis } from '@claude-queue/shared';
import { createApp } from './app.js';
import { createApiContext } from './context.js';

/** How long the API waits for Redis before it listens anyway (answering 503 meanwhile). */
const REDIS_WAIT_MS = 10_000;

// SECRETS_KEY is parsed as the context is built: a malformed one is a config error too.
const { config, logger, ctx } = await startOrExitOnConfigError('api', () => {
  const config = loadApiConfig();
  const logger = createLogger('api', config.LOG_LEVEL);
  return { config, logger, ctx: createApiContext(config, logger) };
});
// Requests fail fast while Redis is away: listen once it answers, so the first ones
// after a start don't get 503s; without Redis, start anyway (/readyz tells).
await waitForRedis(ctx.redis, REDIS_WAIT_MS).catch(() => logger.warn({ wait_ms: REDIS_WAIT_MS }, 'Redis does not answer yet; listening anyway'));
const server = createApp(ctx).listen(config.PORT, config.HOST, () => {
  logger.info({ url: `http://${config.HOST}:${config.PORT}` }, 'api listening');
});
// Event streams and long-polls hold connections for minutes: past this many, new ones are
// closed as they are accepted rather than run the process out of file descriptors.
server.maxConnections = config.API_MAX_CONNECTIONS;

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new connections; finishing requests in flight');
    // Requests in flight finish; idle keep-alive connections close now, and whatever
    // is still open after the grace period is cut.
    const deadline = setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_GRACE_MS);
    server.close(async () => {
      clearTimeout(deadline);
      // Closing Redis connections waits for Redis; with Redis gone, don't wait for ever.
      await Promise.race([ctx.close(), new Promise((r) => setTimeout(r, CLOSE_TIMEOUT_MS).unref())]);
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  });
}
