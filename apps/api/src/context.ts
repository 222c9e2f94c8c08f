/**
 * The API process's parts: one Redis connection for stores and the producer queue,
 * built from config. `createApp` takes it, so tests build the same object.
 */
import {
  createClaudeQueue,
  createWebhookQueue,
  DeliveryLog,
  WebhookSecrets,
  type WebhookQueue,
  createJobRequestSchema,
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
  JobStore,
  RedisConversationStore,
  BatchStore,
  type ConversationStore,
  secretsKeyFromConfig,
  Scheduler,
  SessionStore,
  TenantStore,
  TenantUsage,
  type ApiConfig,
  type ClaudeQueue,
  type FailedLogins,
  type Keys,
  type Logger,
  type SecretsKey,
} from '@claude-queue/shared';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createBoardQueues } from './board/boardQueues.js';
import { IdempotencyStore } from './idempotency.js';
import { JobWatcher } from './jobWatcher.js';
import { LiveRequests } from './liveRequests.js';
import { createApiMetrics, type ApiMetrics } from './metrics.js';

export interface ApiContext {
  config: ApiConfig;
  logger: Logger;
  redis: Redis;
  keys: Keys;
  queue: ClaudeQueue;
  tenants: TenantStore;
  jobs: JobStore;
  /** Every change of a job's status: submit, cancel, reopen… (jobLife/jobLife.ts). */
  life: JobLife;
  sessions: SessionStore;
  batches: BatchStore;
  /** A tenant's stored bytes and budget as they stand (the job life's scripts count them). */
  usage: TenantUsage;
  /** Conversations' stored state (what DELETE /v1/sessions/{id} removes). */
  conversations: ConversationStore;
  idempotency: IdempotencyStore;
  scheduler: Scheduler;
  events: JobEventLog;
  /** Long-polls and event streams of this process wait on it: one subscription for all. */
  watcher: JobWatcher;
  /** Leases of the tenants' open streams and long-polls, counted across API processes (MAX_STREAMS_PER_TENANT). */
  liveRequests: LiveRequests;
  jobRequestSchema: ReturnType<typeof createJobRequestSchema>;
  /** SECRETS_KEY, parsed at start (a malformed one stops the process); null when unset. */
  secretsKey: SecretsKey | null;
  /** This process's Prometheus registry, served at GET /metrics. */
  metrics: ApiMetrics;
  /** Tenants' webhook signing secrets (rotation). */
  webhookSecrets: WebhookSecrets;
  /** Every webhook delivery attempt, per job. */
  deliveries: DeliveryLog;
  /** Producer of the webhooks queue (redeliveries). */
  webhookQueue: WebhookQueue;
  /** A handle on every queue of the catalog, for the board at /admin/queues. */
  boardQueues: Queue[];
  /** Wrong credentials per client address, shared by every check of one (middleware/failedLogins.ts). */
  failedLogins: FailedLogins;
  close(): Promise<void>;
}

export function createApiContext(config: ApiConfig, logger: Logger): ApiContext {
  const keys = createKeys(config.QUEUE_PREFIX);
  // Fail fast while Redis is away (503 within a second) instead of queueing commands.
  // Both connections report an outage to one log: once, summarized, and when it ends.
  const outageLog = new RedisOutageLog(logger, { redis: describeRedisUrl(config.REDIS_URL) });
  const redis = createRedis(config.REDIS_URL, 'client', {}, outageLog);
  // BullMQ's queues (the claude and webhooks queues, the board's, the metrics') get a
  // connection of their own: BullMQ defines its scripts (64) as commands on the client it
  // is given, and ioredis copies every defined command into each MULTI and pipeline made
  // on that client (48 µs a MULTI; 11% of a submit's CPU, profiled).
  const bullRedis = createRedis(config.REDIS_URL, 'client', {}, outageLog);
  const queue = createClaudeQueue(bullRedis, keys);
  const scheduler = new Scheduler(redis, keys, { defaults: defaultTenantLimits(config) });
  const metrics = createApiMetrics({ redis: bullRedis, keys, scheduler, logger, outageLog });
  // A subscriber connection queues its SUBSCRIBE until Redis answers and resubscribes by itself.
  const watcher = new JobWatcher(createRedis(config.REDIS_URL, 'worker', {}, outageLog), keys, logger);
  logQueueErrors(queue, logger, 'queue error', outageLog);
  const webhookQueue = createWebhookQueue(bullRedis, keys);
  logQueueErrors(webhookQueue, logger, 'queue error', outageLog);
  const secretsKey = secretsKeyFromConfig(config);
  const liveRequests = new LiveRequests(redis, keys, config.MAX_STREAMS_PER_TENANT, logger);
  const boardQueues = createBoardQueues(bullRedis, keys, logger, outageLog);
  return {
    config,
    logger,
    redis,
    keys,
    queue,
    tenants: new TenantStore(redis, keys),
    jobs: new JobStore(redis, keys),
    life: new JobLife(redis, keys, scheduler, { retentionSeconds: retentionSeconds(config), sessionTtlSeconds: sessionTtlSeconds(config), queue }),
    sessions: new SessionStore(redis, keys, sessionTtlSeconds(config)),
    conversations: new RedisConversationStore(redis, keys, sessionTtlSeconds(config)),
    batches: new BatchStore(redis, keys, scheduler, retentionSeconds(config)),
    usage: new TenantUsage(redis, keys),
    idempotency: new IdempotencyStore(redis, keys, config.IDEMPOTENCY_TTL_HOURS * 3600),
    scheduler,
    events: new JobEventLog(redis, keys, retentionSeconds(config)),
    watcher,
    liveRequests,
    metrics,
    jobRequestSchema: createJobRequestSchema({
      maxPromptBytes: config.MAX_PROMPT_BYTES,
      timeoutMaxMs: config.JOB_TIMEOUT_MAX_MS,
      allowedPermissionModes: config.ALLOWED_PERMISSION_MODES,
      deniedTools: config.DENIED_TOOLS,
      allowStdioMcp: config.MCP_ALLOW_STDIO,
      allowPrivateMcp: config.MCP_ALLOW_PRIVATE,
    }),
    secretsKey,
    webhookSecrets: new WebhookSecrets(redis, keys, secretsKey),
    deliveries: new DeliveryLog(redis, keys, retentionSeconds(config)),
    webhookQueue,
    boardQueues,
    failedLogins: createFailedLogins({ redis, keys, maxFailures: config.LOGIN_FAILURES_MAX, windowSeconds: config.LOGIN_FAILURES_WINDOW_SECONDS }),
    async close() {
      await Promise.all(boardQueues.map((q) => q.close()));
      await metrics.close();
      await webhookQueue.close();
      watcher.close();
      liveRequests.close();
      await queue.close();
      redis.disconnect();
      bullRedis.disconnect();
      outageLog.close();
    },
  };
}
