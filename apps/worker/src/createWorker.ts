/**
 * Builds a worker process's parts from its config: used by main.ts and by tests,
 * which run several workers in one process or one per child process.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'bullmq';
import {
  catalog,
  createClaudeQueue,
  createFailedLogins,
  createKeys,
  createRedis,
  defaultTenantLimits,
  describeRedisUrl,
  logQueueErrors,
  RedisOutageLog,
  retentionSeconds,
  sessionTtlSeconds,
  JobEventLog,
  JobLife,
  RedisConversationStore,
  JobStore,
  RetryLaterError,
  Scheduler,
  secretsKeyFromConfig,
  SessionStore,
  TenantStore,
  type JobPayload,
  type Logger,
  type WorkerConfig,
} from '@claude-queue/shared';
import { createSpawnRunner } from './cli/spawnRunner.js';
import { ConversationSync } from './conversations/conversationSync.js';
import { Dispatcher } from './dispatcher.js';
import { createReadinessCheck, startHealthServer, UNSANDBOXED_WARNING, type HealthServer } from './healthServer.js';
import { createWorkerMetrics, instrumentRunner, instrumentSpawns, observeClaudeWorker, type WorkerMetrics } from './metrics.js';
import { Janitor } from './janitor.js';
import type { ClaudeRunner } from './cli/runner.js';
import { ABORT_REASONS, createClaudeProcessor } from './jobs/jobProcessor.js';
import { startWebhookDelivery } from './webhooks/startWebhookDelivery.js';
import { createSandbox } from './sandbox/createSandbox.js';
import { hasDeploymentCredential, MISSING_CREDENTIAL_MESSAGE, MODEL_CREDENTIAL_VARS } from './sandbox/modelCredentials.js';
import { createPoolRunner } from './pool/poolRunner.js';
import { WarmPool } from './pool/warmPool.js';

export interface ClaudeWorkerOptions {
  config: WorkerConfig;
  logger: Logger;
  /** Overrides the runner (default: one `claude --print` spawn per job). */
  runner?: ClaudeRunner;
  env?: NodeJS.ProcessEnv;
}

export interface ClaudeWorker {
  worker: Worker<JobPayload>;
  /** Resolves when the worker takes jobs and listens for cancels. */
  ready: Promise<void>;
  /**
   * This worker's Prometheus metrics, served on METRICS_PORT with /healthz and /readyz;
   * webhook delivery counts into `metrics.webhookDeliveries`.
   */
  metrics: WorkerMetrics;
  /**
   * Stops taking jobs, lets running ones finish for up to `graceMs`
   * (default: SHUTDOWN_GRACE_MS), then hands the rest back to the queue without
   * spending an attempt, and closes every connection.
   */
  close(graceMs?: number): Promise<void>;
}

/** The claude executable installed with @anthropic-ai/claude-code, unless CLAUDE_BIN says otherwise. */
export function resolveClaudeBin(configured: string | undefined): string {
  if (configured) return configured;
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@anthropic-ai/claude-code/package.json');
  return path.join(path.dirname(pkg), 'bin', 'claude.exe');
}

export function createClaudeWorker(options: ClaudeWorkerOptions): ClaudeWorker {
  const { config, logger } = options;
  const keys = createKeys(config.QUEUE_PREFIX);
  // Workers ride out Redis restarts: their connections queue commands and reconnect. An
  // outage is worth a warning, not a crash, and one (summarized), not one per retry.
  const outageLog = new RedisOutageLog(logger, { redis: describeRedisUrl(config.REDIS_URL) });
  const connection = createRedis(config.REDIS_URL, 'worker', {}, outageLog);
  const store = createRedis(config.REDIS_URL, 'worker', {}, outageLog);
  const subscriber = createRedis(config.REDIS_URL, 'worker', {}, outageLog);
  const jobs = new JobStore(store, keys);
  // A crashed worker's slots come free when their leases lapse: twice the job lock,
  // renewed every third of it while the job runs.
  const scheduler = new Scheduler(store, keys, { defaults: defaultTenantLimits(config), leaseMs: 2 * config.WORKER_LOCK_DURATION_MS });
  // On BullMQ's own connection: its scripts, defined on the client it gets, would make
  // every MULTI on `store` copy them (apps/api/src/context.ts says more).
  const producer = createClaudeQueue(connection, keys);
  logQueueErrors(producer, logger, 'queue error', outageLog);
  const life = new JobLife(store, keys, scheduler, { retentionSeconds: retentionSeconds(config), queue: producer });
  const metrics = createWorkerMetrics({ concurrency: config.WORKER_CONCURRENCY });
  const claudeBin = resolveClaudeBin(config.CLAUDE_BIN);
  // Every run goes into the sandbox SANDBOX names; a worker that can't set it up won't start.
  const sandbox = createSandbox({
    config,
    claudeBin,
    env: options.env ?? process.env,
    onRefused: () => metrics.sandboxEgressRefused.inc(),
    logger,
  });
  const cold = createSpawnRunner({ sandbox, killGraceMs: config.WORKER_KILL_GRACE_MS });
  const pool =
    options.runner || config.WARM_POOL === 'off'
      ? null
      : new WarmPool({
          mode: config.WARM_POOL,
          size: config.WARM_POOL_SIZE,
          maxJobs: config.WARM_POOL_MAX_JOBS,
          idleMs: config.WARM_POOL_IDLE_MS,
          maxRssBytes: config.WARM_POOL_MAX_RSS_MB * 1024 * 1024,
          killGraceMs: config.WORKER_KILL_GRACE_MS,
          sandbox,
          dataDir: config.DATA_DIR,
          metrics: metrics.pool,
          logger,
        });
  if (pool) metrics.observePool(() => pool.stats());
  const baseRunner = options.runner ?? (pool ? createPoolRunner(pool, instrumentSpawns(cold, metrics, 'cold')) : instrumentSpawns(cold, metrics, 'cold'));
  // Every run is counted; spawns where they happen (a cold run, the pool).
  const runner = instrumentRunner(baseRunner, metrics);
  const runJob = createClaudeProcessor({
    jobs,
    life,
    conversations: new ConversationSync(new RedisConversationStore(store, keys, sessionTtlSeconds(config)), config.SESSION_MAX_BYTES),
    sessions: new SessionStore(store, keys, sessionTtlSeconds(config)),
    scheduler,
    events: new JobEventLog(store, keys, retentionSeconds(config)),
    tenants: new TenantStore(store, keys),
    secretsKey: secretsKeyFromConfig(config),
    runner,
    config,
    logger,
    env: options.env,
  });
  // Slots in use decide how much this worker dispatches; a start or an end is a moment to.
  let active = 0;
  const processor: typeof runJob = async (job, token, signal) => {
    active++;
    dispatcher.poke();
    try {
      return await runJob(job, token, signal);
    } finally {
      active--;
      dispatcher.poke();
    }
  };
  const dispatcher = new Dispatcher({
    scheduler,
    queue: producer,
    // A worker whose CLI does not run takes no jobs: they would only fail as cli_error.
    freeSlots: () => (readiness.cliUsable() ? config.WORKER_CONCURRENCY - active : 0),
    attempts: config.JOB_ATTEMPTS,
    logger,
  });
  const worker = new Worker<JobPayload>(catalog.claude.queue, processor, {
    connection,
    prefix: keys.bullPrefix,
    concurrency: config.WORKER_CONCURRENCY,
    // No job before the sandbox is up and the CLI answered: `run()` once ready.
    autorun: false,
    // A worker killed mid-job is noticed within lockDuration + stalledInterval; its
    // job is then taken by another worker (recovery time: see README, Reliability).
    lockDuration: config.WORKER_LOCK_DURATION_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    // The processor counts its job's lost workers against WORKER_MAX_STALLED_COUNT and
    // fails it as worker_lost (JobLife.recoverLost); BullMQ never fails a job for it.
    maxStalledCount: 1_000_000,
    settings: {
      // The processor decided the delay by error class and wrote it to the record.
      backoffStrategy: (_attemptsMade, _type, err) => (err instanceof RetryLaterError ? err.retryDelayMs : config.JOB_BACKOFF_MS),
    },
  });
  worker.on('error', (err) => logger.error({ err: { message: err.message } }, 'worker error'));
  observeClaudeWorker(worker, jobs, metrics, logger);

  // The lock moved to another worker (this one stalled): stop our run at once so one
  // job never runs on two workers.
  worker.on('lockRenewalFailed', (jobIds) => {
    for (const id of jobIds) worker.cancelJob(id, ABORT_REASONS.lockLost);
  });

  const janitor = new Janitor({
    redis: store,
    keys,
    jobs,
    dataDir: config.DATA_DIR,
    retentionSeconds: retentionSeconds(config),
    sessionTtlSeconds: sessionTtlSeconds(config),
    intervalMs: config.JANITOR_INTERVAL_MS,
    logger,
  });

  // Cancel requests are broadcast: only the worker holding the job acts on one.
  // Dispatch nudges: the API has new work.
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === keys.dispatchChannel()) return dispatcher.poke();
    if (worker.cancelJob(message, ABORT_REASONS.canceled)) logger.info({ job_id: message }, 'cancel requested');
  });
  // Webhook delivery has its own connections, queue and Worker (webhooks/).
  const webhooks = startWebhookDelivery({ config, logger, outageLog, onOutcome: (outcome) => metrics.webhookDeliveries.inc({ outcome }) });
  // METRICS_PORT: /metrics, /healthz and /readyz for Prometheus and orchestrators.
  let stopping = false;
  let health: HealthServer | null = null;
  // Jobs of tenants without credentials of their own fail as auth_failed: say so at start.
  const hasCredential = hasDeploymentCredential(options.env ?? process.env);
  if (!hasCredential) logger.warn({ variables: [...MODEL_CREDENTIAL_VARS] }, MISSING_CREDENTIAL_MESSAGE);
  const readiness = createReadinessCheck({
    hasCredential,
    redis: store,
    claudeBin,
    sandbox,
    isStopping: () => stopping,
    onCliVersion: (version) => metrics.cliInfo.set({ version }, 1),
    logger,
  });
  // The sandbox first (it refuses to start when runs can't be isolated), then the CLI is
  // probed inside it, before the dispatcher asks readiness.cliUsable().
  const sandboxStarted = sandbox.start().then(() => {
    if (sandbox.kind === 'off') logger.warn(UNSANDBOXED_WARNING);
  });
  const cliProbed = sandboxStarted.then(() => readiness.start());
  const healthStarted =
    config.METRICS_PORT > 0
      ? (
        startHealthServer({
          port: config.METRICS_PORT,
          host: config.METRICS_HOST,
          registry: metrics.registry,
          token: config.METRICS_TOKEN,
          failedLogins: createFailedLogins({ redis: store, keys, maxFailures: config.LOGIN_FAILURES_MAX, windowSeconds: config.LOGIN_FAILURES_WINDOW_SECONDS }),
          readiness: readiness.check,
          logger,
        }).then((s) => {
          health = s;
        }))
      : undefined;
  const ready = Promise.all([
    sandboxStarted,
    cliProbed,
    healthStarted,
    webhooks.ready,
    worker.waitUntilReady(),
    subscriber.subscribe(keys.cancelChannel(), keys.dispatchChannel()),
  ]).then(() => {
    void worker.run().catch((err: Error) => logger.error({ err: { message: err.message } }, 'worker stopped taking jobs'));
    dispatcher.start();
    janitor.start();
  });

  return {
    worker,
    ready,
    metrics,
    async close(graceMs = config.SHUTDOWN_GRACE_MS) {
      stopping = true;
      // Take no more work from the intakes, then none from the queue.
      janitor.stop();
      await dispatcher.stop();
      const closing = worker.close();
      const deadline = setTimeout(() => {
        logger.warn({ grace_ms: graceMs }, 'grace period over: handing running jobs back to the queue');
        worker.cancelAllJobs(ABORT_REASONS.shutdown);
      }, graceMs);
      await closing;
      clearTimeout(deadline);
      await webhooks.close();
      await producer.close();
      subscriber.disconnect();
      connection.disconnect();
      store.disconnect();
      await health?.close();
      await pool?.close();
      await sandbox.close();
      outageLog.close();
    },
  };
}
