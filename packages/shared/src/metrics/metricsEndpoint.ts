/**
 * GET /metrics, for the API's Express app and the workers' health server alike:
 * METRICS_TOKEN checked as a Bearer token (in constant time), then the registry's
 * Prometheus text.
 */
import type { Registry } from 'prom-client';
import { bearerMatches } from '../http/bearer.js';

/**
 * A check of the Authorization header against METRICS_TOKEN; with no token configured
 * every request passes (the endpoint is then as open as the port it listens on).
 */
export function createMetricsAuth(token: string | undefined): (authorization: string | undefined) => boolean {
  return token ? bearerMatches(token) : () => true;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

/** The registry's metrics in the Prometheus text exposition format (0.0.4). */
export async function renderMetrics(registry: Registry): Promise<RenderedMetrics> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
