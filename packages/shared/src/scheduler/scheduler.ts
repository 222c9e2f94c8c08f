/**
 * Per-tenant limits and fair scheduling, built in Redis so they hold across every API
 * and worker process (open-source BullMQ limits only whole queues).
 *
 * The path of a job:
 *   submit     API: the job joins its tenant's intake (refused past max_queued).
 *   dispatch   a worker with free slots picks the next jobs fairly across tenants,
 *              within their rate and concurrency limits, takes their slots, and adds
 *              them to the BullMQ queue (a short run queue: at most the free slots).
 *   acquire    the processor, at start: keeps the slot, or takes one for a retry or a
 *              hand-back, or answers how long to wait (the job is then delayed without
 *              spending an attempt or holding a worker slot).
 *   renew      while running, the processor renews its slot's lease.
 *   release    every ending frees the slot: final statuses in JobStore.transition,
 *              retries and hand-backs here; a crashed worker's lease simply expires.
 *
 * The scripts and why they are correct with many workers: scripts.ts.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import type { EffectiveLimits } from '../limits.js';
import { ACQUIRE, DISPATCH, PAUSE, RENEW, SUBMIT, WITHDRAW } from './scripts.js';

export interface SchedulerOptions {
  /** The deployment's default limits (config.ts defaultTenantLimits). */
  defaults: EffectiveLimits;
  /** How long a slot is held without renewal: a dead worker's slots free up after it (default: 30 s). */
  leaseMs?: number;
}

export type SubmitOutcome = { accepted: true; queued: number } | { accepted: false; queued: number; maxQueued: number };

export interface DispatchedJob {
  jobId: string;
  tenantId: string;
}

/** Priority of a job within its tenant: 1 runs first, 100 last (default: 50). */
export const DEFAULT_PRIORITY = 50;

export class Scheduler {
  readonly leaseMs: number;
  private readonly defaultsJson: string;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: SchedulerOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.defaultsJson = JSON.stringify(options.defaults);
  }

  /** Adds a job to its tenant's intake, unless the tenant's queue quota is full. */
  async submit(tenantId: string, jobId: string, priority = DEFAULT_PRIORITY): Promise<SubmitOutcome> {
    const k = this.keys;
    const [ok, queued, max] = (await this.redis.eval(
      SUBMIT,
      7,
      k.intake(tenantId),
      k.schedTenants(),
      k.schedLastVtime(),
      k.schedVnow(),
      k.schedSeq(),
      k.tenant(tenantId),
      k.job(jobId),
      jobId,
      tenantId,
      priority,
      this.defaultsJson,
    )) as [number, number, number?];
    return ok === 1 ? { accepted: true, queued } : { accepted: false, queued, maxQueued: max! };
  }

  /** Picks up to `room` jobs to start, fairly across tenants and within their limits. */
  async dispatch(room: number, now = Date.now()): Promise<DispatchedJob[]> {
    const k = this.keys;
    const flat = (await this.redis.eval(
      DISPATCH,
      4,
      k.schedTenants(),
      k.schedLastVtime(),
      k.schedVnow(),
      k.dispatched(),
      k.prefix,
      now,
      room,
      this.leaseMs,
      this.defaultsJson,
    )) as string[];
    const out: DispatchedJob[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ jobId: flat[i]!, tenantId: flat[i + 1]! });
    return out;
  }

  /** At a run's start: 0 to go ahead (the slot is held), or the ms to wait. */
  async acquire(tenantId: string, jobId: string, now = Date.now()): Promise<number> {
    const k = this.keys;
    return (await this.redis.eval(
      ACQUIRE,
      5,
      k.running(tenantId),
      k.starts(tenantId),
      k.pausedUntil(tenantId),
      k.tenant(tenantId),
      k.dispatched(),
      jobId,
      now,
      this.leaseMs,
      this.defaultsJson,
    )) as number;
  }

  /** Keeps a running job's slot from expiring. */
  async renew(tenantId: string, jobId: string): Promise<void> {
    // Only while the job runs: a renewal racing the final release must not take the slot back.
    await this.redis.eval(RENEW, 2, this.keys.running(tenantId), this.keys.job(jobId), jobId, Date.now() + this.leaseMs);
  }

  /** Frees a job's slot (a retry or a hand-back; final statuses free it in JobStore.transition). */
  async release(tenantId: string, jobId: string): Promise<void> {
    await this.redis.zrem(this.keys.running(tenantId), jobId);
  }

  /** Takes a job that has not started out of the scheduler (cancel). */
  async withdraw(tenantId: string, jobId: string): Promise<void> {
    const k = this.keys;
    await this.redis.eval(WITHDRAW, 4, k.intake(tenantId), k.dispatched(), k.running(tenantId), k.starts(tenantId), jobId);
  }

  /** Pauses a tenant's starts (the model API rate-limited its credential). */
  async pause(tenantId: string, untilMs: number): Promise<void> {
    await this.redis.eval(PAUSE, 1, this.keys.pausedUntil(tenantId), untilMs, Date.now());
  }

  /** Jobs dispatched longer ago than `olderThanMs` and still not started (a lost hand-off). */
  async staleDispatched(olderThanMs: number, now = Date.now()): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.dispatched(), '-inf', now - olderThanMs);
  }

  /** Forgets a dispatched job that will never start (its record is gone or final). */
  async forgetDispatched(jobId: string): Promise<void> {
    await this.redis.zrem(this.keys.dispatched(), jobId);
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
