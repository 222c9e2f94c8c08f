/**
 * The API's GET /metrics: process metrics and the deployment-wide gauges (queues by
 * state, intakes, per-tenant running and queued), read from Redis at scrape time.
 * Job runs, retries, spawns and webhook deliveries are counted where they happen, on
 * the workers (apps/worker/src/metrics.ts).
 */
import { Router, type RequestHandler } from 'express';
import {
  createMetricsAuth,
  createMetricsRegistry,
  registerClusterMetrics,
  renderMetrics,
  type Keys,
  type Logger,
  type RedisOutageLog,
  type MetricsRegistry,
  type Scheduler,
} from '@claude-queue/shared';
import type { Redis } from 'ioredis';
import { HttpProblem } from './problem.js';

export interface ApiMetrics {
  /** This API context's own registry (never prom-client's global one). */
  registry: MetricsRegistry;
  close(): Promise<void>;
}

export interface ApiMetricsOptions {
  redis: Redis;
  keys: Keys;
  scheduler: Scheduler;
  logger: Logger;
  /** Where queue errors during a Redis outage are counted instead of logged. */
  outageLog?: RedisOutageLog;
  /** Tenants exported with a `tenant` label at most (default: 1000). */
  maxTenants?: number;
}

export function createApiMetrics(options: ApiMetricsOptions): ApiMetrics {
  const registry = createMetricsRegistry();
  const cluster = registerClusterMetrics({ registry, ...options });
  return { registry, close: () => cluster.close() };
}

/**
 * METRICS_TOKEN as a Bearer; without one configured (the API on loopback: config.ts
 * refuses a listener elsewhere without it) every request passes.
 */
export function requireMetricsToken(token: string | undefined): RequestHandler {
  const authorized = createMetricsAuth(token);
  return (req, _res, next) => {
    if (!authorized(req.headers.authorization)) {
      throw new HttpProblem(401, 'unauthorized', 'missing or invalid metrics token', { headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    next();
  };
}

/** GET /metrics in the Prometheus text format, behind `auth` (requireMetricsToken under the failed-login rule). */
export function metricsRouter(metrics: ApiMetrics, auth: RequestHandler): Router {
  const router = Router();
  router.get('/metrics', auth, async (_req, res) => {
    const { contentType, body } = await renderMetrics(metrics.registry);
    res.type(contentType).send(body);
  });
  return router;
}
