/**
 * Redeliveries of a job's webhooks, bounded. Each one enqueues every event afresh with
 * all of its retries (WEBHOOK_RETRY_SCHEDULE_MS: a day and a half of attempts by
 * default), on the webhooks queue every tenant's deliveries share; unbounded, one
 * tenant's loop of calls would fill it. So: one redelivery in flight per job and URL,
 * and at most REDELIVERIES_PER_MINUTE per tenant.
 *
 * "In flight" is read from BullMQ, the one owner of a delivery's state: the marker holds
 * the BullMQ ids of the latest redelivery's jobs, and that redelivery is over once none
 * of them waits, is delayed or runs (each delivered, failed for good, or trimmed).
 * Nothing has to clear the marker, so a worker that dies mid-delivery can't leave a job
 * that can never be redelivered again.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { luaScript, runScript, type Keys, type WebhookQueue } from '@claude-queue/shared';

/** Redeliveries one tenant may ask for in any 60 s. */
export const REDELIVERIES_PER_MINUTE = 10;
const WINDOW_MS = 60_000;

export type RedeliveryClaim =
  /** Go ahead: enqueue the jobs named in the claim. */
  | { kind: 'claimed' }
  /** The previous redelivery to this URL still has deliveries waiting or running. */
  | { kind: 'in_progress' }
  /** The tenant asked for REDELIVERIES_PER_MINUTE in the last minute. */
  | { kind: 'rate_limited'; retryAfterSeconds: number };

/** BullMQ states of a delivery job that is over (`unknown`: removed by its queue's trimming). */
const OVER = new Set(['completed', 'failed', 'unknown']);

/** Replaces the marker only if it still holds what the caller saw, so of two racing calls one wins. */
const REPLACE_MARKER = luaScript('redelivery_replace_marker', {
  keys: ['marker'],
  args: ['seen', 'value', 'ttl_seconds'],
  body: `
if (redis.call('get', marker) or '') ~= seen then return 0 end
redis.call('set', marker, value, 'EX', ttl_seconds)
return 1
`,
});

/** A sliding window: counts the tenant's redeliveries of the last window_ms, and adds this one if there is room. */
const TAKE_RATE = luaScript('redelivery_take_rate', {
  keys: ['recent'],
  args: ['now_ms', 'window_ms', 'max', 'member'],
  body: `
redis.call('zremrangebyscore', recent, '-inf', tonumber(now_ms) - tonumber(window_ms))
if redis.call('zcard', recent) >= tonumber(max) then
  local oldest = redis.call('zrange', recent, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + tonumber(window_ms) - tonumber(now_ms)
end
redis.call('zadd', recent, now_ms, member)
redis.call('pexpire', recent, window_ms)
return 0
`,
});

export interface RedeliveriesOptions {
  /** How long a marker is kept: past the longest a redelivery's attempts can take (the job's retention). */
  markerTtlSeconds: number;
  /** For tests of the window (default: Date.now). */
  now?: () => number;
}

export class Redeliveries {
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly queue: WebhookQueue,
    private readonly options: RedeliveriesOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Claims a redelivery of `jobId`'s events to `url`, whose BullMQ jobs will be
   * `bullJobIds`: the caller enqueues them only on `claimed`. A call found in progress
   * before the rate is counted doesn't count against it.
   */
  async claim(tenantId: string, jobId: string, url: string, redelivery: string, bullJobIds: readonly string[]): Promise<RedeliveryClaim> {
    const marker = this.keys.redelivery(jobId, createHash('sha256').update(url).digest('hex'));
    const seen = (await this.redis.get(marker)) ?? '';
    if (seen && (await this.anyInFlight(JSON.parse(seen) as string[]))) return { kind: 'in_progress' };

    const waitMs = await runScript<'recent', 'now_ms' | 'window_ms' | 'max' | 'member', number>(
      this.redis,
      TAKE_RATE,
      { recent: this.keys.redeliveryRate(tenantId) },
      { now_ms: this.now(), window_ms: WINDOW_MS, max: REDELIVERIES_PER_MINUTE, member: redelivery },
    );
    if (waitMs > 0) return { kind: 'rate_limited', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };

    const replaced = await runScript<'marker', 'seen' | 'value' | 'ttl_seconds', number>(
      this.redis,
      REPLACE_MARKER,
      { marker },
      { seen, value: JSON.stringify(bullJobIds), ttl_seconds: this.options.markerTtlSeconds },
    );
    // Another call claimed it between our read and now: its redelivery is the one in flight.
    return replaced === 1 ? { kind: 'claimed' } : { kind: 'in_progress' };
  }

  private async anyInFlight(bullJobIds: readonly string[]): Promise<boolean> {
    const states = await Promise.all(bullJobIds.map((id) => this.queue.getJobState(id)));
    return states.some((state) => !OVER.has(state));
  }
}
