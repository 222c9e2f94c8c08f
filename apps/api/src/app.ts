/** Builds the Express app; main.ts listens. Tests drive the app built here. */
import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import { BOARD_PATH, createBoardApp } from './board/boardApp.js';
import type { ApiContext } from './context.js';
import { requireAdmin, requireTenant } from './middleware/auth.js';
import { errorHandler, notFoundHandler } from './middleware/errorHandler.js';
import { limitFailedLogins } from './middleware/failedLogins.js';
import { jsonBody } from './middleware/jsonBody.js';
import { metricsRouter, requireMetricsToken } from './metrics.js';
import { requestRate } from './middleware/requestRate.js';
import { adminTenantsRouter } from './routes/adminTenants.js';
import { deliveriesRouter } from './routes/deliveries.js';
import { healthRouter } from './routes/health.js';
import { jobsRouter } from './routes/jobs.js';
import { batchBody } from './middleware/batchBody.js';
import { batchesRouter } from './routes/batches.js';
import { sessionsRouter } from './routes/sessions.js';
import { usageRouter } from './routes/usage.js';
import { docsRouter } from './openapi/docsRouter.js';
import { REQUEST_ID } from './requestId.js';

const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function createApp(ctx: ApiContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger: ctx.logger,
      // Probes and scrapes come every few seconds: their lines would drown the rest.
      autoLogging: { ignore: (req) => PROBE_PATHS.has(req.url?.split('?')[0] ?? '') },
      genReqId(req, res) {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Headers hold keys: log the method, path and status only.
      serializers: {
        req: (req) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
    }),
  );

  app.use(healthRouter(ctx));
  app.use(metricsRouter(ctx.metrics, limitFailedLogins(ctx.failedLogins, requireMetricsToken(ctx.config.METRICS_TOKEN))));
  const body = jsonBody(ctx.config.MAX_BODY_BYTES);
  // Every credential check goes through the one failed-login rule (middleware/failedLogins.ts).
  app.use('/v1/admin/tenants', limitFailedLogins(ctx.failedLogins, requireAdmin(ctx.config.ADMIN_TOKEN)), body, adminTenantsRouter(ctx));
  const tenantAuth = [limitFailedLogins(ctx.failedLogins, requireTenant(ctx.tenants)), requestRate(ctx)];
  // Its own mount on the deliveries path, ahead of the jobs router: a request passes
  // auth and the request rate once.
  app.use('/v1/jobs/:id/deliveries', tenantAuth, body, deliveriesRouter(ctx));
  app.use('/v1/jobs', tenantAuth, body, jobsRouter(ctx));
  app.use('/v1/usage', tenantAuth, usageRouter(ctx));
  app.use('/v1/sessions', tenantAuth, sessionsRouter(ctx));
  // Its own body limit: a batch holds up to BATCH_MAX_REQUESTS requests.
  app.use('/v1/batches', tenantAuth, batchBody(ctx.config.BATCH_MAX_BYTES), batchesRouter(ctx));
  // Bull Board for operators, behind its own Basic login (board/).
  app.use(BOARD_PATH, createBoardApp(ctx));

  // The OpenAPI document and its page, without auth.
  app.use(docsRouter(ctx));

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
