/**
 * The API's GET /metrics: process metrics and the deployment-wide gauges (queues by
 * state, intakes, per-tenant running and queued), read from Redis at scrape time.
 * Job runs, retries, spawns and webhook deliveries are counted where they happen, on
 * the workers (apps/worker/src/metrics.ts).
 */
import { Router } from 'express';
import {
  createMetricsAuth,
  createMetricsRegistry,
  registerClusterMetrics,
  renderMetrics,
  type Keys,
  type Logger,
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
  /** Tenants exported with a `tenant` label at most (default: 1000). */
  maxTenants?: number;
}

export function createApiMetrics(options: ApiMetricsOptions): ApiMetrics {
  const registry = createMetricsRegistry();
  const cluster = registerClusterMetrics({ registry, ...options });
  return { registry, close: () => cluster.close() };
}

/** GET /metrics in the Prometheus text format; with METRICS_TOKEN set, only for its Bearer. */
export function metricsRouter(metrics: ApiMetrics, token: string | undefined): Router {
  const authorized = createMetricsAuth(token);
  const router = Router();
  router.get('/metrics', async (req, res) => {
    if (!authorized(req.headers.authorization)) {
      throw new HttpProblem(401, 'unauthorized', 'missing or invalid metrics token', { headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    const { contentType, body } = await renderMetrics(metrics.registry);
    res.type(contentType).send(body);
  });
  return router;
}
