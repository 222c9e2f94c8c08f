/**
 * The body of a delivery: `{type, timestamp, data}` with the job object (or, for
 * `batch.ended`, the batch) as `data`
 * (Standard Webhooks' payload shape). A body over WEBHOOK_MAX_BODY_BYTES leaves the
 * result out (`result: null`, `result_url` to fetch it); if the request echo (the
 * prompt can be 256 KiB) still keeps it too large, that goes as well.
 */
import { toView, type BatchView, type BudgetReached, type JobRecord, type ServiceEventType } from '@claude-queue/shared';

export interface WebhookBody {
  type: ServiceEventType;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: Record<string, unknown>;
}

export function buildWebhookBody(type: ServiceEventType, eventAt: number, record: JobRecord, maxBytes: number): string {
  const view: Record<string, unknown> = { ...toView(record) };
  const body = (data: Record<string, unknown>) => JSON.stringify({ type, timestamp: new Date(eventAt).toISOString(), data } satisfies WebhookBody);
  let text = body(view);
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const link = `/v1/jobs/${record.id}`;
  text = body({ ...view, result: null, result_url: link });
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  return body({ ...view, request: null, result: null, result_url: link });
}

/** A batch's end: the batch as `GET /v1/batches/{id}` shows it (small: counts, not results). */
export function batchWebhookBody(type: 'batch.ended', eventAt: number, batch: BatchView): string {
  return JSON.stringify({ type, timestamp: new Date(eventAt).toISOString(), data: { ...batch } } satisfies WebhookBody);
}

/** A tenant's budget reached: the period, the budget and what was spent. */
export function tenantWebhookBody(type: 'tenant.budget_reached', eventAt: number, data: BudgetReached): string {
  return JSON.stringify({ type, timestamp: new Date(eventAt).toISOString(), data: { ...data } } satisfies WebhookBody);
}
