/**
 * Webhook delivery in a worker process: the event consumer turns job events into
 * delivery jobs on the `webhooks` queue, and a BullMQ Worker of its own delivers them,
 * apart from the claude Worker so a slow receiver never holds a CLI slot. Every worker
 * process runs both; the consumer group and the delivery ids keep each event to one
 * delivery however many there are.
 */
import { Worker } from 'bullmq';
import {
  BatchStore,
  catalog,
  createKeys,
  createRedis,
  createWebhookQueue,
  defaultTenantLimits,
  DeliveryLog,
  enqueueWebhookDelivery,
  JobStore,
  retentionSeconds,
  Scheduler,
  secretsKeyFromConfig,
  TenantStore,
  TenantUsage,
  wantsWebhookEvent,
  webhookUrlFor,
  WebhookSecrets,
  logQueueErrors,
  type Logger,
  type RedisOutageLog,
  type ServiceEvent,
  type WebhookDeliveryPayload,
  type WorkerConfig,
} from '@claude-queue/shared';
import { DeliveryFailedError } from './deliveryFailedError.js';
import { EventConsumer } from './eventConsumer.js';
import { createWebhookProcessor, type WebhookProcessorOptions } from './deliveryProcessor.js';
import { webhookRetryDelayMs } from './retrySchedule.js';

export interface WebhookDeliveryOptions {
  config: WorkerConfig;
  logger: Logger;
  /** Counts each delivery attempt's outcome. */
  onOutcome?: WebhookProcessorOptions['onOutcome'];
  /** Where its Redis connections report an outage (the worker's, shared by all its connections). */
  outageLog?: RedisOutageLog;
}

export interface WebhookDelivery {
  /** Resolves when events are read and deliveries taken. */
  ready: Promise<void>;
  /** Stops reading events, lets deliveries in flight end (each within WEBHOOK_TIMEOUT_MS), closes every connection. */
  close(): Promise<void>;
}

export function startWebhookDelivery({ config, logger: parent, onOutcome, outageLog }: WebhookDeliveryOptions): WebhookDelivery {
  const logger = parent.child({ component: 'webhooks' });
  const keys = createKeys(config.QUEUE_PREFIX);
  // The worker's outage log: one summary for the process, not a line per connection and retry.
  const connection = createRedis(config.REDIS_URL, 'worker', {}, outageLog);
  const store = createRedis(config.REDIS_URL, 'worker', {}, outageLog);
  const reader = createRedis(config.REDIS_URL, 'worker', {}, outageLog);
  const jobs = new JobStore(store, keys);
  const tenants = new TenantStore(store, keys);
  // Read only here (a batch's end and its webhook settings); the scheduler is what submit needs.
  const batches = new BatchStore(store, keys, new Scheduler(store, keys, { defaults: defaultTenantLimits(config) }), retentionSeconds(config));
  const queue = createWebhookQueue(store, keys);
  logQueueErrors(queue, logger, 'queue error', outageLog);

  /** Enqueues the event's delivery if its job or batch wants it and has somewhere to send it. */
  async function handle(event: ServiceEvent, occurredAtMs: number): Promise<void> {
    const tenantDefault = (await tenants.get(event.tenant_id))?.webhook_url ?? null;
    const retry = { retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS };
    if (event.type === 'tenant.budget_reached') {
      // The tenant's own event: to its default URL only.
      if (tenantDefault) await enqueueWebhookDelivery(queue, { tenantId: event.tenant_id, type: event.type, period: event.period, eventAt: occurredAtMs }, retry);
      return;
    }
    if (event.type === 'batch.ended') {
      const batch = await batches.getForTenant(event.batch_id, event.tenant_id);
      if (!batch || !batch.webhook_events.includes(event.type) || !webhookUrlFor(batch.webhook_url, tenantDefault)) return;
      await enqueueWebhookDelivery(queue, { tenantId: event.tenant_id, batchId: batch.id, type: event.type, ending: event.attempt, eventAt: occurredAtMs }, retry);
      return;
    }
    const record = await jobs.get(event.job_id);
    if (!record || !wantsWebhookEvent(record, event.type) || !webhookUrlFor(record.request.webhook_url, tenantDefault)) return;
    await enqueueWebhookDelivery(queue, { tenantId: record.tenant_id, jobId: record.id, type: event.type, jobAttempt: event.attempt, eventAt: occurredAtMs }, retry);
  }

  const consumer = new EventConsumer({ reader, redis: store, keys, handle, claimIdleMs: config.WEBHOOK_CLAIM_IDLE_MS, logger });

  const worker = new Worker<WebhookDeliveryPayload>(
    catalog.webhooks.queue,
    createWebhookProcessor({
      onOutcome,
      jobs,
      batches,
      usage: new TenantUsage(store, keys),
      defaultLimits: defaultTenantLimits(config),
      tenants,
      secrets: new WebhookSecrets(store, keys, secretsKeyFromConfig(config)),
      deliveries: new DeliveryLog(store, keys, retentionSeconds(config)),
      logger,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      maxBodyBytes: config.WEBHOOK_MAX_BODY_BYTES,
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    }),
    {
      connection,
      prefix: keys.bullPrefix,
      concurrency: config.WEBHOOK_CONCURRENCY,
      settings: {
        backoffStrategy: (failures, _type, err) =>
          webhookRetryDelayMs(config.WEBHOOK_RETRY_SCHEDULE_MS, failures, err instanceof DeliveryFailedError ? err.retryAfterMs : null),
      },
    },
  );
  worker.on('error', (err) => logger.error({ err: { message: err.message } }, 'webhooks worker error'));
  // Attempts are logged by the processor; what it did not expect (Redis away) is logged here.
  worker.on('failed', (job, err) => {
    if (err instanceof DeliveryFailedError || err.name === 'UnrecoverableError') return;
    logger.warn({ delivery: job?.id, err: { message: err.message } }, 'webhook delivery attempt errored');
  });

  const ready = Promise.all([worker.waitUntilReady(), consumer.start()]).then(() => undefined);

  return {
    ready,
    async close() {
      await consumer.stop();
      await worker.close();
      await queue.close();
      connection.disconnect();
      store.disconnect();
    },
  };
}
