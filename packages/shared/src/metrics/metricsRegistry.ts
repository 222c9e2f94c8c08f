/**
 * One Prometheus registry per process object (an API context, a worker), never
 * prom-client's global one: tests build several apps in one process, and each must
 * count only its own runs.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Histogram buckets for job durations and waits, in seconds. A CLI run costs about a
 * second before the model answers and JOB_TIMEOUT_MS is 10 minutes by default, so the
 * buckets go from half a second to ten minutes.
 */
export const DURATION_BUCKETS_SECONDS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600] as const;

/** A fresh registry with the process metrics (CPU, memory, event loop, GC: `collectDefaultMetrics`). */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** prom-client's registry type, for packages that take one without depending on prom-client. */
export type { Registry as MetricsRegistry } from 'prom-client';
