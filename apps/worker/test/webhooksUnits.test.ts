/** Webhook pieces without Redis: signatures against `standardwebhooks`, the retry delay, Retry-After, the body's size rule. */
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook, webhookSigningKey, type JobRecord } from '@claude-queue/shared';
import { parseRetryAfter, webhookRetryDelayMs } from '../src/webhooks/retrySchedule.js';
import { buildWebhookBody } from '../src/webhooks/webhookBody.js';

describe('signWebhook', () => {
  it('makes secrets of 32 random bytes that standardwebhooks verifies, one signature per key', () => {
    const [a, b] = [generateWebhookSecret(), generateWebhookSecret()];
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(webhookSigningKey(a)).toHaveLength(32);
    const body = JSON.stringify({ type: 'job.succeeded', data: { text: 'ünïcode ✓' } });
    const ts = Math.floor(Date.now() / 1000);
    const signature = signWebhook([webhookSigningKey(a), webhookSigningKey(b)], 'msg-1', ts, body);
    expect(signature.split(' ')).toHaveLength(2);
    for (const secret of [a, b]) {
      const headers = { 'webhook-id': 'msg-1', 'webhook-timestamp': String(ts), 'webhook-signature': signature };
      expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
      expect(() => new Webhook(secret).verify(body + ' ', headers)).toThrow();
    }
  });
});

describe('webhookRetryDelayMs', () => {
  const schedule = [5_000, 300_000, 1_800_000];

  it('follows the schedule with ±20 % jitter, the last delay repeating', () => {
    expect(webhookRetryDelayMs(schedule, 1, null, () => 0.5)).toBe(5_000);
    expect(webhookRetryDelayMs(schedule, 2, null, () => 0)).toBe(240_000);
    expect(webhookRetryDelayMs(schedule, 3, null, () => 1)).toBe(2_160_000);
    expect(webhookRetryDelayMs(schedule, 9, null, () => 0.5)).toBe(1_800_000);
    expect(webhookRetryDelayMs([0], 1, null)).toBe(0);
  });

  it("never comes back before the receiver's Retry-After, honoured up to a day", () => {
    expect(webhookRetryDelayMs(schedule, 1, 60_000, () => 0.5)).toBe(60_000);
    expect(webhookRetryDelayMs(schedule, 2, 60_000, () => 0.5)).toBe(300_000);
    expect(webhookRetryDelayMs(schedule, 1, 30 * 24 * 3600_000, () => 0.5)).toBe(24 * 3600_000);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores the rest', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});

describe('buildWebhookBody', () => {
  const record = (prompt: string, text: string): JobRecord => ({
    id: '0190aaaa-0000-7000-8000-000000000000',
    tenant_id: 'tenant-1',
    status: 'succeeded',
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: '2026-01-01T00:00:01.000Z',
    finished_at: '2026-01-01T00:00:02.000Z',
    attempts: 1,
    next_attempt_at: null,
    attempt_history: [],
    request: { prompt },
    result: { text, session_id: 's', num_turns: 1, duration_ms: 1, total_cost_usd: 0, usage: null, structured_output: null },
    error: null,
    metadata: null,
  });
  const at = Date.parse('2026-01-01T00:00:02.000Z');

  it('sends the job object, without its tenant', () => {
    const body = JSON.parse(buildWebhookBody('job.succeeded', at, record('hi', 'hello'), 10_000));
    expect(body).toMatchObject({ type: 'job.succeeded', timestamp: '2026-01-01T00:00:02.000Z', data: { result: { text: 'hello' } } });
    expect(body.data.tenant_id).toBeUndefined();
    expect(body.data.result_url).toBeUndefined();
  });

  it('leaves out a result that makes it too large, then the request if it still is', () => {
    const withoutResult = buildWebhookBody('job.succeeded', at, record('hi', 'x'.repeat(5000)), 2000);
    expect(Buffer.byteLength(withoutResult)).toBeLessThanOrEqual(2000);
    expect(JSON.parse(withoutResult).data).toMatchObject({ result: null, result_url: '/v1/jobs/0190aaaa-0000-7000-8000-000000000000', request: { prompt: 'hi' } });
    const withoutRequest = JSON.parse(buildWebhookBody('job.succeeded', at, record('p'.repeat(5000), 'x'.repeat(5000)), 2000));
    expect(withoutRequest.data).toMatchObject({ result: null, request: null, result_url: expect.any(String) });
  });
});
