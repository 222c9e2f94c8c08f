/**
 * One attempt to deliver one event of a job or a batch. Everything is read afresh at
 * each attempt (the job or batch, where to send it, the tenant's live secrets), so the
 * BullMQ job holds ids only and a rotation or a new default URL applies to retries too.
 * Each attempt is appended to the job's (or batch's) delivery log before the processor
 * returns or throws.
 *
 * Never logged: the URL (it may carry a token), the body, the secrets. Ids only.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import {
  deliveryIdOf,
  resolveLimits,
  SecretsError,
  signWebhook,
  webhookUrlFor,
  type BatchStore,
  type DeliveryAttempt,
  type EffectiveLimits,
  type TenantUsage,
  type DeliveryLog,
  type JobStore,
  type Logger,
  type TenantStore,
  type WebhookDeliveryPayload,
  type WebhookSecrets,
} from '@claude-queue/shared';
import { DeliveryFailedError } from './deliveryFailedError.js';
import { batchWebhookBody, buildWebhookBody, tenantWebhookBody } from './webhookBody.js';
import { sendWebhook } from './sendWebhook.js';

export interface WebhookProcessorOptions {
  jobs: JobStore;
  batches: BatchStore;
  usage: TenantUsage;
  /** The deployment's tenant limits (a tenant's budget is its override or this). */
  defaultLimits: EffectiveLimits;
  tenants: TenantStore;
  secrets: WebhookSecrets;
  deliveries: DeliveryLog;
  logger: Logger;
  timeoutMs: number;
  maxBodyBytes: number;
  allowPrivate: boolean;
  /** Counts each attempt's outcome (the worker's claude_webhook_deliveries_total). */
  onOutcome?: (outcome: DeliveryAttempt['outcome']) => void;
}

const USER_AGENT = 'claude-queue-webhooks/1';

type AttemptResult = Pick<DeliveryAttempt, 'status_code' | 'error' | 'duration_ms' | 'outcome'>;

export function createWebhookProcessor(options: WebhookProcessorOptions) {
  const { jobs, batches, tenants, usage, secrets, deliveries, logger } = options;

  /** What the event is about, as of now: where its log is kept, its own URL and its body; null once it expired. */
  async function subjectOf(data: WebhookDeliveryPayload) {
    if (data.type === 'tenant.budget_reached') {
      const tenant = await tenants.get(data.tenantId);
      const budget = tenant ? resolveLimits(tenant.limits, options.defaultLimits).budget_usd : null;
      const reached = await usage.budgetReached(data.tenantId, data.period, budget);
      return tenant && { kind: 'tenant' as const, id: tenant.id, ownUrl: null, body: () => tenantWebhookBody(data.type, data.eventAt, reached) };
    }
    if (data.type === 'batch.ended') {
      const batch = await batches.getForTenant(data.batchId, data.tenantId);
      return batch && { kind: 'batch' as const, id: batch.id, ownUrl: batch.webhook_url, body: () => batchWebhookBody(data.type, data.eventAt, batch) };
    }
    const record = await jobs.get(data.jobId);
    return record && { kind: 'job' as const, id: record.id, ownUrl: record.request.webhook_url ?? null, body: () => buildWebhookBody(data.type, data.eventAt, record, options.maxBodyBytes) };
  }

  return async (job: Job<WebhookDeliveryPayload>): Promise<void> => {
    const { tenantId, type } = job.data;
    const id = deliveryIdOf(job.data);
    const attempt = job.attemptsMade + 1;
    const last = attempt >= (job.opts.attempts ?? 1);
    const about = 'batchId' in job.data ? { batch_id: job.data.batchId } : 'jobId' in job.data ? { job_id: job.data.jobId } : {};
    const log = logger.child({ ...about, tenant_id: tenantId, delivery_id: id, attempt });

    // A job or batch past its retention has nothing left to send, nor a log to write to.
    const subject = await subjectOf(job.data);
    if (!subject) return;
    const tenant = await tenants.get(tenantId);
    const url = webhookUrlFor(subject.ownUrl, tenant?.webhook_url ?? null);
    if (!tenant || !url) return;

    const at = new Date().toISOString();
    const note = async (result: AttemptResult) => {
      await deliveries.append(subject, { id, type, url, attempt, at, ...result });
      options.onOutcome?.(result.outcome);
      log.info({ outcome: result.outcome, status_code: result.status_code, duration_ms: result.duration_ms }, 'webhook attempt');
    };
    /** A failure a later attempt may not meet: retried on the schedule until the last attempt. */
    const fail = async (result: Omit<AttemptResult, 'outcome'>, retryAfterMs: number | null = null): Promise<never> => {
      await note({ ...result, outcome: last ? 'exhausted' : 'failed' });
      throw new DeliveryFailedError(`delivery failed (${result.status_code ?? result.error})`, retryAfterMs);
    };

    if (await tenants.isWebhookUrlDisabled(tenantId, url)) {
      await note({ status_code: null, error: 'disabled: the receiver answered 410 Gone', duration_ms: 0, outcome: 'disabled' });
      throw new UnrecoverableError('webhook URL disabled');
    }

    let keys: Buffer[];
    try {
      keys = await secrets.signingKeys(tenantId);
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err;
      // Sealed under another SECRETS_KEY or none: an operator can fix that before the schedule runs out.
      return fail({ status_code: null, error: 'webhook_secret_unreadable', duration_ms: 0 });
    }
    if (keys.length === 0) return fail({ status_code: null, error: 'no_webhook_secret', duration_ms: 0 });

    const body = subject.body();
    const timestamp = Math.floor(Date.now() / 1000);
    const result = await sendWebhook({
      url,
      body,
      timeoutMs: options.timeoutMs,
      allowPrivate: options.allowPrivate,
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(keys, id, timestamp, body),
      },
    });

    if (result.kind === 'blocked') {
      await note({ status_code: null, error: `blocked: ${result.reason}`, duration_ms: result.durationMs, outcome: 'blocked' });
      throw new UnrecoverableError('webhook address blocked');
    }
    if (result.kind === 'error') return fail({ status_code: null, error: result.error, duration_ms: result.durationMs });
    const { status } = result;
    if (status >= 200 && status < 300) {
      return note({ status_code: status, error: null, duration_ms: result.durationMs, outcome: 'delivered' });
    }
    if (status === 410) {
      // Standard Webhooks: 410 Gone means "stop sending here".
      await tenants.disableWebhookUrl(tenantId, url);
      await note({ status_code: status, error: null, duration_ms: result.durationMs, outcome: 'disabled' });
      throw new UnrecoverableError('webhook URL gone (410)');
    }
    return fail({ status_code: status, error: null, duration_ms: result.durationMs }, result.retryAfterMs);
  };
}
