/**
 * One attempt to deliver one job event. Everything is read afresh at each attempt (the
 * job object, where to send it, the tenant's live secrets), so the BullMQ job holds ids
 * only and a rotation or a new default URL applies to retries too. Each attempt is
 * appended to the job's delivery log before the processor returns or throws.
 *
 * Never logged: the URL (it may carry a token), the body, the secrets. Ids only.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import {
  SecretsError,
  signWebhook,
  webhookDeliveryId,
  webhookUrlFor,
  type DeliveryAttempt,
  type DeliveryLog,
  type JobStore,
  type Logger,
  type TenantStore,
  type WebhookDeliveryPayload,
  type WebhookSecrets,
} from '@claude-queue/shared';
import { DeliveryFailedError } from './deliveryFailedError.js';
import { buildWebhookBody } from './webhookBody.js';
import { sendWebhook } from './sendWebhook.js';

export interface WebhookProcessorOptions {
  jobs: JobStore;
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
  const { jobs, tenants, secrets, deliveries, logger } = options;

  return async (job: Job<WebhookDeliveryPayload>): Promise<void> => {
    const { tenantId, jobId, type, jobAttempt, eventAt } = job.data;
    const id = webhookDeliveryId(jobId, type, jobAttempt);
    const attempt = job.attemptsMade + 1;
    const last = attempt >= (job.opts.attempts ?? 1);
    const log = logger.child({ job_id: jobId, tenant_id: tenantId, delivery_id: id, attempt });

    // A job record past its retention has nothing left to send, nor a log to write to.
    const record = await jobs.get(jobId);
    if (!record) return;
    const tenant = await tenants.get(tenantId);
    const url = webhookUrlFor(record, tenant?.webhook_url ?? null);
    if (!tenant || !url) return;

    const at = new Date().toISOString();
    const note = async (result: AttemptResult) => {
      await deliveries.append(jobId, { id, type, url, attempt, at, ...result });
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

    const body = buildWebhookBody(type, eventAt, record, options.maxBodyBytes);
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
