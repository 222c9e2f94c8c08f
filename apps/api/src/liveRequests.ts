/**
 * Live requests: a tenant's open event streams (GET /v1/jobs/{id}/events) and
 * `Prefer: wait` long-polls, which each hold a connection, a socket buffer and a
 * subscription listener for as long as a job takes. At most MAX_STREAMS_PER_TENANT per
 * tenant, counted across every API process, so one tenant can't take the connections
 * all tenants share; past it, 429 too_many_streams.
 *
 * Counted in Redis, not per process: a per-process count would let a tenant hold the
 * limit times the number of API processes, and behind a load balancer no process could
 * tell a client how many it holds. Each live request holds a lease, a member of the
 * tenant's sorted set scored by its expiry; this process renews its leases every
 * LEASE_MS / 3 and removes each when its request ends. A process that dies renews
 * nothing, so its leases lapse within LEASE_MS instead of counting for ever. Times are
 * Redis's own (TIME in the scripts), so API processes' clocks needn't agree.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { luaScript, runScript, type Keys, type Logger } from '@claude-queue/shared';
import { HttpProblem } from './problem.js';

/** A crashed API process's leases count for at most this long. */
export const LEASE_MS = 30_000;
const RENEW_EVERY_MS = LEASE_MS / 3;

/**
 * What a refusal asks the client to wait: a slot frees when any of the tenant's streams
 * or long-polls ends (a job ending, a wait of at most 60 s, a stream's
 * STREAM_MAX_SECONDS), which can't be known here; this is a polite pace for asking again.
 */
const RETRY_AFTER_SECONDS = 5;

const redisNowMs = `
local t = redis.call('time')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Drops lapsed leases, then takes one if the tenant has fewer than `max`: 1, else 0. */
const ACQUIRE = luaScript('live_request_acquire', {
  keys: ['leases'],
  args: ['lease_id', 'lease_ms', 'max'],
  lib: redisNowMs,
  body: `
redis.call('zremrangebyscore', leases, '-inf', now_ms)
if redis.call('zcard', leases) >= tonumber(max) then return 0 end
redis.call('zadd', leases, now_ms + tonumber(lease_ms), lease_id)
redis.call('pexpire', leases, lease_ms)
return 1
`,
});

/**
 * Extends this process's leases of one tenant (the rest of the arguments). A lease that
 * lapsed meanwhile (Redis was away longer than LEASE_MS) is added back: its request is
 * still open, and the count should say so.
 */
const RENEW = luaScript('live_request_renew', {
  keys: ['leases'],
  args: ['lease_ms'],
  lib: redisNowMs,
  body: `
for i = rest_start, #ARGV do redis.call('zadd', leases, now_ms + tonumber(lease_ms), ARGV[i]) end
redis.call('pexpire', leases, lease_ms)
return 0
`,
});

/** One live request's lease; `release` when the request ends (safe to call twice). */
export interface LiveRequestLease {
  release(): void;
}

export class LiveRequests {
  /** This process's leases: lease id → tenant. */
  private readonly held = new Map<string, string>();
  private readonly renewal: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly maxPerTenant: number,
    private readonly logger: Logger,
  ) {
    this.renewal = setInterval(() => void this.renew(), RENEW_EVERY_MS);
    this.renewal.unref();
  }

  /** Takes one of the tenant's live-request slots, or throws 429 too_many_streams. */
  async acquire(tenantId: string): Promise<LiveRequestLease> {
    const leaseId = randomUUID();
    const key = this.keys.tenantLiveRequests(tenantId);
    const taken = await runScript<'leases', 'lease_id' | 'lease_ms' | 'max', number>(
      this.redis,
      ACQUIRE,
      { leases: key },
      { lease_id: leaseId, lease_ms: LEASE_MS, max: this.maxPerTenant },
    );
    if (taken !== 1) {
      throw new HttpProblem(
        429,
        'too_many_streams',
        `this tenant has ${this.maxPerTenant} event streams and Prefer: wait requests open (MAX_STREAMS_PER_TENANT); close one, or poll without Prefer: wait`,
        { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } },
      );
    }
    this.held.set(leaseId, tenantId);
    return {
      release: () => {
        if (!this.held.delete(leaseId)) return;
        // Not awaited: the request is over either way, and a lease Redis didn't hear about lapses by itself.
        this.redis.zrem(key, leaseId).catch(() => undefined);
      },
    };
  }

  /** Live requests this process holds (for tests and metrics). */
  get size(): number {
    return this.held.size;
  }

  private async renew(): Promise<void> {
    const byTenant = new Map<string, string[]>();
    for (const [leaseId, tenantId] of this.held) byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), leaseId]);
    await Promise.all(
      [...byTenant].map(([tenantId, leaseIds]) =>
        runScript(this.redis, RENEW, { leases: this.keys.tenantLiveRequests(tenantId) }, { lease_ms: LEASE_MS }, leaseIds).catch((err: Error) => {
          this.logger.warn({ tenant_id: tenantId, err: { message: err.message } }, 'cannot renew live-request leases');
        }),
      ),
    );
  }

  close(): void {
    clearInterval(this.renewal);
  }
}
