/**
 * GET /metrics, for the API's Express app and the workers' health server alike:
 * METRICS_TOKEN checked as a Bearer token (in constant time), then the registry's
 * Prometheus text.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * A check of the Authorization header against METRICS_TOKEN; with no token configured
 * every request passes (the endpoint is then as open as the port it listens on).
 */
export function createMetricsAuth(token: string | undefined): (authorization: string | undefined) => boolean {
  if (!token) return () => true;
  const expected = digest(token);
  return (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return m !== null && timingSafeEqual(digest(m[1]!), expected);
  };
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

/** The registry's metrics in the Prometheus text exposition format (0.0.4). */
export async function renderMetrics(registry: Registry): Promise<RenderedMetrics> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
