/**
 * Per-tenant limits and fair scheduling, built in Redis so they hold across every API
 * and worker process (open-source BullMQ limits only whole queues).
 *
 * The path of a job (the moves themselves are the job life's: jobLife/jobLife.ts):
 *   submit     the job joins its tenant's intake (refused past max_queued).
 *   dispatch   a worker with free slots picks the next jobs fairly across tenants,
 *              within their rate and concurrency limits, takes their slots, and adds
 *              them to the BullMQ queue (a short run queue: at most the free slots).
 *   start      keeps the slot, or takes one for a retry or a hand-back, or answers how
 *              long to wait (the job is then delayed without spending an attempt or
 *              holding a worker slot).
 *   renew      while running, the processor renews its slot's lease.
 *   release    every move out of running frees the slot; a crashed worker's lease
 *              simply expires.
 *
 * The scripts and why they are correct with many workers: scripts.ts.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import type { EffectiveLimits } from '../limits.js';
import { runScript } from '../redisScript.js';
import { DISPATCH, PAUSE, RENEW, STALE_DISPATCHED } from './scripts.js';

export interface SchedulerOptions {
  /** The deployment's default limits (config.ts defaultTenantLimits). */
  defaults: EffectiveLimits;
  /** How long a slot is held without renewal: a dead worker's slots free up after it (default: 30 s). */
  leaseMs?: number;
}

export interface DispatchedJob {
  jobId: string;
  tenantId: string;
}

/** Priority of a job within its tenant: 1 runs first, 100 last (default: 50). */
export const DEFAULT_PRIORITY = 50;

/**
 * A tenant's keys as the dispatch script builds them, `<head><tenant id><tail>`, split
 * from keys.ts's own functions (so the patterns are written there only), as the JSON
 * array the script reads: [head, tenant hash tail, intake, running, starts, paused tails].
 */
function tenantKeyParts(keys: Keys): string {
  const MARK = '\u0000';
  const split = (key: string) => key.split(MARK) as [string, string];
  const [head, tenantTail] = split(keys.tenant(MARK));
  const tail = (key: string) => {
    const [h, t] = split(key);
    if (h !== head) throw new Error(`keys.ts: a tenant's keys must share one head (${h} vs ${head})`);
    return t;
  };
  return JSON.stringify([head, tenantTail, tail(keys.intake(MARK)), tail(keys.running(MARK)), tail(keys.starts(MARK)), tail(keys.pausedUntil(MARK))]);
}

export class Scheduler {
  readonly leaseMs: number;
  readonly defaultsJson: string;
  private readonly tenantKeys: string;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: SchedulerOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.defaultsJson = JSON.stringify(options.defaults);
    this.tenantKeys = tenantKeyParts(keys);
  }

  /** Picks up to `room` jobs to start, fairly across tenants and within their limits. */
  async dispatch(room: number, now = Date.now()): Promise<DispatchedJob[]> {
    const k = this.keys;
    const flat = await runScript<string, string, string[]>(
      this.redis,
      DISPATCH,
      { sched_tenants: k.schedTenants(), sched_lastv: k.schedLastVtime(), sched_vnow: k.schedVnow(), dispatched: k.dispatched() },
      {
        tenant_keys: this.tenantKeys,
        now_ms: now,
        room_arg: room,
        lease_ms: this.leaseMs,
        defaults: this.defaultsJson,
      },
    );
    const out: DispatchedJob[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ jobId: flat[i]!, tenantId: flat[i + 1]! });
    return out;
  }

  /** Keeps a running job's slot from expiring. */
  async renew(tenantId: string, jobId: string): Promise<void> {
    // Only while the job runs: a renewal racing the final release must not take the slot back.
    await runScript(this.redis, RENEW, { running: this.keys.running(tenantId), record: this.keys.job(jobId) }, { job_id: jobId, expires_ms: Date.now() + this.leaseMs });
  }

  /** Pauses a tenant's starts (the model API rate-limited its credential). */
  async pause(tenantId: string, untilMs: number): Promise<void> {
    await runScript(this.redis, PAUSE, { paused: this.keys.pausedUntil(tenantId) }, { until_arg: untilMs, now_ms: Date.now() });
  }

  /**
   * Jobs dispatched longer ago than `olderThanMs`, still queued and not started (a
   * hand-off to BullMQ that a dying worker lost); dispatched jobs that ended meanwhile
   * are forgotten.
   */
  async lostHandoffs(olderThanMs: number, now = Date.now()): Promise<DispatchedJob[]> {
    const flat = await runScript<string, string, string[]>(
      this.redis,
      STALE_DISPATCHED,
      { dispatched: this.keys.dispatched() },
      { record_pattern: this.keys.job('{job}'), cutoff_ms: now - olderThanMs },
    );
    const out: DispatchedJob[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ jobId: flat[i]!, tenantId: flat[i + 1]! });
    return out;
  }

  /** Jobs of a tenant waiting in its intake. */
  async queued(tenantId: string): Promise<number> {
    return this.redis.zcard(this.keys.intake(tenantId));
  }

  /** Jobs of a tenant holding a slot (live leases). */
  async running(tenantId: string, now = Date.now()): Promise<number> {
    return this.redis.zcount(this.keys.running(tenantId), now, '+inf');
  }

  /** Asks workers to dispatch now rather than at their next tick. */
  async nudge(): Promise<void> {
    await this.redis.publish(this.keys.dispatchChannel(), '1');
  }
}
