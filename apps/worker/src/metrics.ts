/**
 * A worker process's Prometheus metrics: what happens in this process (CLI runs and
 * how they ended, job durations and waits, retries, spawns, webhook deliveries) plus
 * the process metrics. Deployment-wide gauges (queues, intakes, tenants) are the
 * API's (apps/api/src/metrics.ts), so N workers don't each walk the tenants.
 *
 * Instrumented from the outside, without touching the processor: a runner decorator
 * sees every CLI run, and the BullMQ worker's events plus the job record (read once
 * an attempt has ended) give durations, waits and retries.
 *
 * Labels stay bounded: error codes, statuses and fixed classes only; never prompts,
 * messages, URLs or job ids.
 */
import type { Worker } from 'bullmq';
import { Counter, Gauge, Histogram } from 'prom-client';
import {
  createMetricsRegistry,
  DURATION_BUCKETS_SECONDS,
  FINAL_STATUSES,
  type JobPayload,
  type JobStore,
  type Logger,
  type MetricsRegistry,
} from '@claude-queue/shared';
import { classifyOutcome, type Classified } from './cli/classifyOutcome.js';
import type { ClaudeRunner, ClaudeRunOutcome } from './cli/runner.js';
import type { WarmPoolMetrics } from './pool/warmPool.js';
import { RetryLaterError } from '@claude-queue/shared';

/**
 * How a CLI run ended, before what it meant (the `code`):
 * `success` a success result; `error_result` a result reporting an error (API errors,
 * max turns, budget); `no_result` exited without a result; `signal` killed by a signal;
 * `timeout` past its timeout; `aborted` stopped on purpose (cancel, shutdown, lost
 * lock); `not_started` could not be spawned; `runner_error` the runner itself threw.
 */
export const CLI_EXIT_CLASSES = ['success', 'error_result', 'no_result', 'signal', 'timeout', 'aborted', 'not_started', 'runner_error'] as const;
export type CliExitClass = (typeof CLI_EXIT_CLASSES)[number];

/**
 * `cold`: a one-shot `claude --print` per job; `stream`: a pooled process started for a
 * job that found none ready; `prespawn`: a pooled process started ahead of any job.
 */
export type SpawnKind = 'cold' | 'stream' | 'prespawn';

export interface WorkerMetrics {
  /** This worker's own registry (never prom-client's global one). */
  registry: MetricsRegistry;
  jobDuration: Histogram<'status'>;
  queueWait: Histogram<string>;
  cliRuns: Counter<'outcome' | 'code'>;
  cliRunsInProgress: Gauge<string>;
  retries: Counter<'code'>;
  spawns: Counter<'kind'>;
  /** The warm pool's counts, for pool/warmPool.ts to call. */
  pool: WarmPoolMetrics;
  /** Exports the pool's processes (idle, busy) and the idle ones' memory, read at scrape time. */
  observePool(stats: () => { idle: number; busy: number; idleRssBytes: number }): void;
  /**
   * Webhook delivery attempts by outcome, for the webhook queue's processor to count:
   * `metrics.webhookDeliveries.inc({ outcome })`, with `outcome` one of the delivery
   * log's fixed outcomes (delivered, failed, exhausted, blocked, disabled), never a URL
   * or a status text.
   */
  webhookDeliveries: Counter<'outcome'>;
  /** Connections sandboxed runs tried to open and their egress proxy refused (no host label: hosts are tenants' data). */
  sandboxEgressRefused: Counter<string>;
  /** The CLI's version, from `claude --version` at start (healthServer.ts). */
  cliInfo: Gauge<'version'>;
}

export interface WorkerMetricsOptions {
  /** WORKER_CONCURRENCY, exported as claude_worker_concurrency. */
  concurrency: number;
}

export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];
  const spawns = new Counter({
    name: 'claude_spawns_total',
    help: 'CLI processes started, by kind: cold (a one-shot claude --print per job), stream (a pooled process started for a job that found none ready), prespawn (started ahead).',
    labelNames: ['kind'] as const,
    registers,
  });
  const reuses = new Counter({
    name: 'claude_pool_reuses_total',
    help: 'Jobs served by a pooled process that had served a job before (WARM_POOL=reuse).',
    registers,
  });
  const retirements = new Counter({
    name: 'claude_pool_retirements_total',
    help: 'Pooled processes retired, by reason (max_jobs, idle, rss, evicted, error, timeout, canceled, exited, stray_output, stray_process, reset_failed, shutdown).',
    labelNames: ['reason'] as const,
    registers,
  });
  new Gauge({
    name: 'claude_worker_concurrency',
    help: 'Jobs this worker runs at once at most (WORKER_CONCURRENCY).',
    registers,
  }).set(options.concurrency);
  return {
    registry,
    jobDuration: new Histogram({
      name: 'claude_job_duration_seconds',
      help: 'Time from the start of a job\'s last attempt to its final status (started_at to finished_at), by status.',
      labelNames: ['status'] as const,
      buckets: [...DURATION_BUCKETS_SECONDS],
      registers,
    }),
    queueWait: new Histogram({
      name: 'claude_job_queue_wait_seconds',
      help: 'Time from submit to the start of a job\'s first attempt (created_at to started_at): its wait in the tenant\'s intake and the claude queue.',
      buckets: [...DURATION_BUCKETS_SECONDS],
      registers,
    }),
    cliRuns: new Counter({
      name: 'claude_cli_runs_total',
      help: 'CLI runs by how they ended (outcome: success, error_result, no_result, signal, timeout, aborted, not_started, runner_error) and the job error code they mean (code; none on success).',
      labelNames: ['outcome', 'code'] as const,
      registers,
    }),
    cliRunsInProgress: new Gauge({
      name: 'claude_cli_runs_in_progress',
      help: 'CLI runs going on in this worker now.',
      registers,
    }),
    retries: new Counter({
      name: 'claude_job_retries_total',
      help: 'Attempts that failed with an error a retry may fix and were scheduled to run again, by error code.',
      labelNames: ['code'] as const,
      registers,
    }),
    spawns,
    pool: {
      spawned: (kind) => spawns.inc({ kind }),
      reused: () => reuses.inc(),
      retired: (reason) => retirements.inc({ reason }),
    },
    observePool(stats) {
      new Gauge({
        name: 'claude_pool_processes',
        help: 'Pooled CLI processes of this worker, by state: idle (ready for a job) or busy (serving one, or being reset).',
        labelNames: ['state'] as const,
        registers,
        collect() {
          const s = stats();
          this.set({ state: 'idle' }, s.idle);
          this.set({ state: 'busy' }, s.busy);
        },
      });
      new Gauge({
        name: 'claude_pool_idle_rss_bytes',
        help: "Resident memory of this worker's idle pooled processes (their whole sandboxes), in bytes.",
        registers,
        collect() {
          this.set(stats().idleRssBytes);
        },
      });
    },
    webhookDeliveries: new Counter({
      name: 'claude_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome (delivered, failed, exhausted, blocked, disabled).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    sandboxEgressRefused: new Counter({
      name: 'claude_sandbox_egress_refused_total',
      help: 'Connections a sandboxed run tried to open that its egress proxy refused (host not allowed, or not public).',
      registers,
    }),
    cliInfo: new Gauge({
      name: 'claude_cli_info',
      help: 'The CLI this worker runs: 1, labelled with the version `claude --version` printed at start.',
      labelNames: ['version'] as const,
      registers,
    }),
  };
}

/** How a run ended, in the order classifyOutcome reads it. */
export function exitClassOf(outcome: ClaudeRunOutcome, classified: Classified): CliExitClass {
  if (outcome.aborted) return 'aborted';
  if (outcome.timedOut) return 'timeout';
  if (outcome.result) return classified.ok ? 'success' : 'error_result';
  if (outcome.signal) return 'signal';
  if (outcome.exitCode === null) return 'not_started';
  return 'no_result';
}

/** The runner, counting one spawn of `kind` per run (a cold runner). */
export function instrumentSpawns(runner: ClaudeRunner, metrics: WorkerMetrics, kind: SpawnKind): ClaudeRunner {
  // Exported from the start at 0, so rate() has a series before the first job.
  metrics.spawns.inc({ kind }, 0);
  return {
    run(invocation) {
      metrics.spawns.inc({ kind });
      return runner.run(invocation);
    },
  };
}

/**
 * The runner, counting each run: spawns, runs in progress, and how each ended. The
 * outcome is classified here the same way the processor classifies it (a pure function).
 */
export function instrumentRunner(runner: ClaudeRunner, metrics: WorkerMetrics): ClaudeRunner {
  return {
    async run(invocation) {
      metrics.cliRunsInProgress.inc();
      try {
        const outcome = await runner.run(invocation);
        const classified = classifyOutcome(outcome);
        metrics.cliRuns.inc({ outcome: exitClassOf(outcome, classified), code: classified.ok ? 'none' : classified.error.code });
        return outcome;
      } catch (err) {
        metrics.cliRuns.inc({ outcome: 'runner_error', code: 'internal_error' });
        throw err;
      } finally {
        metrics.cliRunsInProgress.dec();
      }
    },
  };
}

const seconds = (ms: number) => Math.max(0, ms) / 1000;

/**
 * Observes every attempt the BullMQ worker ends: a retry (RetryLaterError) counts in
 * claude_job_retries_total; then the job record, read once, gives the first attempt's
 * wait and, for a final status, the last attempt's duration.
 */
export function observeClaudeWorker(worker: Worker<JobPayload>, jobs: JobStore, metrics: WorkerMetrics, logger: Logger): void {
  const observe = async (jobId: string) => {
    const record = await jobs.get(jobId);
    // Still running: this worker lost the lock and another one runs the job now.
    if (!record || record.status === 'running' || !record.started_at) return;
    const startedMs = Date.parse(record.started_at);
    // attempts counts attempts started: 1 is the first, whose start ends the wait.
    if (record.attempts === 1) metrics.queueWait.observe(seconds(startedMs - Date.parse(record.created_at)));
    if (FINAL_STATUSES.includes(record.status) && record.finished_at) {
      metrics.jobDuration.observe({ status: record.status }, seconds(Date.parse(record.finished_at) - startedMs));
    }
  };
  const observeSafely = (jobId: string) => {
    observe(jobId).catch((err: Error) => logger.debug({ job_id: jobId, err: { message: err.message } }, 'could not read a job for metrics'));
  };

  worker.on('completed', (job) => {
    // A job that had ended before it started has no started_at: observe() skips it.
    if (job.id) observeSafely(job.id);
  });
  worker.on('failed', (job, err) => {
    if (!job?.id) return;
    if (err instanceof RetryLaterError) metrics.retries.inc({ code: err.jobError.code });
    observeSafely(job.id);
  });
}
