/**
 * Gauges of the whole deployment, read from Redis when Prometheus scrapes (nothing is
 * counted between scrapes, so every API process reports the same numbers: aggregate
 * them with `max`, not `sum`):
 * - jobs in each catalog queue by BullMQ state (`getJobCounts`);
 * - jobs waiting in tenants' intakes, which BullMQ doesn't see until dispatch;
 * - per tenant, jobs running and waiting, labelled with the tenant id only, for at most
 *   `maxTenants` tenants so the series stay bounded.
 *
 * A collector that fails (Redis away) leaves its gauge empty for that scrape rather
 * than stale, and counts the failure; the rest of the scrape still answers.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import { catalog } from '../catalog.js';
import type { Keys } from '../keys.js';
import type { Logger } from '../logger.js';
import { logQueueErrors, type RedisOutageLog } from '../redisOutageLog.js';
import type { Scheduler } from '../scheduler/scheduler.js';

export interface ClusterMetricsOptions {
  registry: Registry;
  redis: Redis;
  keys: Keys;
  scheduler: Scheduler;
  logger: Logger;
  /** The process's account of Redis outages: queue errors meanwhile are counted there, not logged. */
  outageLog?: RedisOutageLog;
  /** Tenants exported in `claude_tenant_jobs` at most (default: 1000). */
  maxTenants?: number;
}

export interface ClusterMetrics {
  /** Closes the queue handles the collectors read through (not the Redis connection). */
  close(): Promise<void>;
}

/** Default cap on tenants with per-tenant series: 2 series each. */
export const MAX_TENANTS_EXPORTED = 1000;

/** Redis commands in flight at once while a collector walks tenants. */
const BATCH = 250;

export function registerClusterMetrics(options: ClusterMetricsOptions): ClusterMetrics {
  const { registry, redis, keys, scheduler, logger } = options;
  const maxTenants = options.maxTenants ?? MAX_TENANTS_EXPORTED;
  const registers = [registry];
  const queues = Object.values(catalog).map((spec) => {
    // Over the caller's connection: a Queue handle only reads here, it never blocks.
    const queue = new Queue(spec.queue, { connection: redis, prefix: keys.bullPrefix });
    logQueueErrors(queue, logger, 'metrics queue error', options.outageLog);
    return queue;
  });

  const collectErrors = new Counter({
    name: 'claude_metrics_collect_errors_total',
    help: 'Scrapes in which a collector of deployment-wide gauges could not read Redis, by collector.',
    labelNames: ['collector'] as const,
    registers,
  });
  /**
   * A gauge's collect function: reads, then replaces the gauge's values with what
   * `write` sets (tenants that went away disappear); on failure the gauge stays empty
   * for this scrape.
   */
  const collectInto = <L extends string, T>(collector: string, read: () => Promise<T>, write: (gauge: Gauge<L>, value: T) => void) =>
    async function (this: Gauge<L>) {
      try {
        const value = await read();
        this.reset();
        write(this, value);
      } catch (err) {
        this.reset();
        collectErrors.inc({ collector });
        logger.warn({ collector, err: { message: (err as Error).message } }, 'metrics collector failed');
      }
    };

  new Gauge({
    name: 'claude_queue_jobs',
    help: 'Jobs in each BullMQ queue by state. The claude queue holds jobs from dispatch on; jobs still waiting in tenants\' intakes are claude_intake_jobs.',
    labelNames: ['queue', 'state'] as const,
    registers,
    collect: collectInto(
      'queues',
      () => Promise.all(queues.map(async (q) => [q.name, await q.getJobCounts()] as const)),
      (gauge: Gauge<'queue' | 'state'>, counts) => {
        for (const [queue, byState] of counts) {
          for (const [state, n] of Object.entries(byState)) gauge.set({ queue, state }, n);
        }
      },
    ),
  });

  new Gauge({
    name: 'claude_intake_jobs',
    help: 'Jobs waiting in tenants\' intakes for the scheduler to dispatch them, all tenants.',
    registers,
    collect: collectInto(
      'intake',
      async () => {
        // The scheduler's set of waiting tenants holds every tenant with a non-empty intake.
        const waiting = await redis.zrange(keys.schedTenants(), 0, -1);
        return sum(await mapInBatches(waiting, (t) => scheduler.queued(t)));
      },
      (gauge: Gauge<string>, n) => gauge.set(n),
    ),
  });

  new Gauge({
    name: 'claude_tenants',
    help: `Tenants of the deployment. claude_tenant_jobs covers at most ${maxTenants} of them.`,
    registers,
    collect: collectInto('tenant_index', () => redis.zcard(keys.tenantIndex()), (gauge: Gauge<string>, n) => gauge.set(n)),
  });

  new Gauge({
    name: 'claude_tenant_jobs',
    help: `Jobs of each tenant by state: running (holding a concurrency slot) or queued (waiting in its intake). At most ${maxTenants} tenants: those with waiting jobs first, then the oldest.`,
    labelNames: ['tenant', 'state'] as const,
    registers,
    collect: collectInto(
      'tenants',
      async () => {
        const ids = await tenantsToExport(redis, keys, maxTenants);
        const counts = await mapInBatches(ids, (t) => Promise.all([scheduler.running(t), scheduler.queued(t)]));
        return ids.map((id, i) => [id, counts[i]!] as const);
      },
      (gauge: Gauge<'tenant' | 'state'>, rows) => {
        for (const [tenant, [running, queued]] of rows) {
          gauge.set({ tenant, state: 'running' }, running);
          gauge.set({ tenant, state: 'queued' }, queued);
        }
      },
    ),
  });

  return {
    async close() {
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}

/**
 * Which tenants get series, `max` at most: tenants with jobs waiting (in the order the
 * scheduler will serve them), then the rest of the tenant index, oldest first. Two
 * bounded reads, whatever the number of tenants.
 */
async function tenantsToExport(redis: Redis, keys: Keys, max: number): Promise<string[]> {
  if (max <= 0) return [];
  const [waiting, oldest] = await Promise.all([redis.zrange(keys.schedTenants(), 0, max - 1), redis.zrange(keys.tenantIndex(), 0, max - 1)]);
  return [...new Set([...waiting, ...oldest])].slice(0, max);
}

async function mapInBatches<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(...(await Promise.all(items.slice(i, i + BATCH).map(fn))));
  return out;
}

const sum = (ns: readonly number[]) => ns.reduce((a, b) => a + b, 0);
