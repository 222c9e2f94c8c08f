/**
 * The scheduler's decisions against real Redis: fair order across tenants, weights,
 * priorities, and every limit. Time is passed in (`now`), so rate windows are tested
 * without waiting for them.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type {} from '../../../../test/support/env.js';
import { createKeys, type Keys } from '../keys.js';
import type { EffectiveLimits, TenantLimits } from '../limits.js';
import { Scheduler } from './scheduler.js';

const UNLIMITED: EffectiveLimits = { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1 };

let redis: Redis;
let keys: Keys;
let scheduler: Scheduler;
/** Every prefix this file used: cleaned at the end, and nothing else. */
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});

beforeEach(() => {
  const prefix = `sched${randomBytes(4).toString('hex')}`;
  prefixes.push(prefix);
  keys = createKeys(prefix);
  scheduler = new Scheduler(redis, keys, { defaults: UNLIMITED, leaseMs: 30_000 });
});

afterAll(async () => {
  for (const prefix of prefixes) {
    const found = await redis.keys(`${prefix}:*`);
    if (found.length) await redis.del(...found);
  }
  redis.disconnect();
});

async function setLimits(tenantId: string, limits: TenantLimits) {
  await redis.hset(keys.tenant(tenantId), 'limits', JSON.stringify(limits));
}

async function submitMany(tenantId: string, n: number, priority?: number) {
  for (let i = 0; i < n; i++) {
    const outcome = await scheduler.submit(tenantId, `${tenantId}-${i}`, priority);
    expect(outcome.accepted).toBe(true);
  }
}

/** Dispatches one job at a time and starts it at once, as idle workers would; returns the tenants in order. */
async function drain(count: number, now = Date.now()): Promise<string[]> {
  const order: string[] = [];
  for (let i = 0; i < count; i++) {
    const [next] = await scheduler.dispatch(1, now);
    if (!next) break;
    expect(await scheduler.acquire(next.tenantId, next.jobId, now)).toBe(0);
    await scheduler.release(next.tenantId, next.jobId);
    order.push(next.tenantId);
  }
  return order;
}

describe('Scheduler', () => {
  it('builds per-tenant keys in Lua with the same patterns as keys.ts', async () => {
    await scheduler.submit('ten', 'job-1');
    const [d] = await scheduler.dispatch(1);
    expect(d).toEqual({ jobId: 'job-1', tenantId: 'ten' });
    expect(await redis.zscore(keys.running('ten'), 'job-1')).not.toBeNull();
    expect(await redis.zscore(keys.dispatched(), 'job-1')).not.toBeNull();
  });

  it("interleaves a late tenant's jobs with a big backlog instead of queueing them behind it", async () => {
    await submitMany('a', 100);
    expect(await drain(10)).toEqual(Array(10).fill('a'));
    await submitMany('b', 5);
    const next = await drain(10);
    expect(next).toEqual(['b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a']);
  });

  it('gives a tenant with weight 3 three starts for every one of a tenant with weight 1', async () => {
    await setLimits('heavy', { weight: 3 });
    await submitMany('light', 20);
    await submitMany('heavy', 20);
    const order = await drain(16);
    expect(order.filter((t) => t === 'heavy')).toHaveLength(12);
    expect(order.filter((t) => t === 'light')).toHaveLength(4);
  });

  it('lets an idle tenant earn no credit: coming back, it shares, it does not burst', async () => {
    await submitMany('a', 50);
    await submitMany('c', 1);
    await drain(30);
    await submitMany('c', 10);
    const order = await drain(10);
    expect(order.filter((t) => t === 'c')).toHaveLength(5);
  });

  it("orders a tenant's own jobs by priority, without jumping ahead of another tenant's share", async () => {
    await scheduler.submit('a', 'a-low', 90);
    await scheduler.submit('a', 'a-high', 1);
    await scheduler.submit('b', 'b-1');
    await scheduler.submit('b', 'b-2');
    const jobs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const [d] = await scheduler.dispatch(1);
      jobs.push(d!.jobId);
      await scheduler.acquire(d!.tenantId, d!.jobId);
    }
    expect(jobs).toEqual(['a-high', 'b-1', 'a-low', 'b-2']);
  });

  it('never dispatches past max_concurrency, and a release makes room', async () => {
    await setLimits('capped', { max_concurrency: 2 });
    await submitMany('capped', 5);
    expect(await scheduler.dispatch(10)).toHaveLength(2);
    expect(await scheduler.dispatch(10)).toHaveLength(0);
    await scheduler.acquire('capped', 'capped-0');
    await scheduler.release('capped', 'capped-0');
    expect((await scheduler.dispatch(10)).map((d) => d.jobId)).toEqual(['capped-2']);
  });

  it('frees the slot of a job whose worker died once its lease lapses', async () => {
    await setLimits('capped', { max_concurrency: 1 });
    await submitMany('capped', 2);
    const now = Date.now();
    expect(await scheduler.dispatch(10, now)).toHaveLength(1);
    expect(await scheduler.dispatch(10, now + 29_000)).toHaveLength(0);
    // dispatched-but-not-started counts against room too: start it, then let it die.
    await redis.del(keys.dispatched());
    expect(await scheduler.dispatch(10, now + 30_001)).toHaveLength(1);
  });

  it('starts at most rate.max jobs per window', async () => {
    await setLimits('rated', { rate: { max: 5, per_seconds: 10 } });
    await submitMany('rated', 15);
    const t0 = Date.now();
    expect(await drain(15, t0)).toHaveLength(5);
    expect(await drain(15, t0 + 9_999)).toHaveLength(0);
    expect(await drain(15, t0 + 10_001)).toHaveLength(5);
  });

  it('makes a retry that comes back wait while its tenant is at its limit', async () => {
    await setLimits('capped', { max_concurrency: 1 });
    await submitMany('capped', 1);
    const [d] = await scheduler.dispatch(1);
    expect(await scheduler.acquire('capped', d!.jobId)).toBe(0);
    // Another job of the tenant, coming back from a retry, finds the slot taken.
    expect(await scheduler.acquire('capped', 'retrying-job')).toBeGreaterThan(0);
    await scheduler.release('capped', d!.jobId);
    expect(await scheduler.acquire('capped', 'retrying-job')).toBe(0);
  });

  it('refuses a submit past max_queued, and unlimited (null) overrides a default', async () => {
    await setLimits('small', { max_queued: 2 });
    await submitMany('small', 2);
    expect(await scheduler.submit('small', 'one-too-many')).toEqual({ accepted: false, queued: 2, maxQueued: 2 });
    const strict = new Scheduler(redis, keys, { defaults: { ...UNLIMITED, max_queued: 1 } });
    await setLimits('free', { max_queued: null });
    for (let i = 0; i < 3; i++) expect((await strict.submit('free', `free-${i}`)).accepted).toBe(true);
  });

  it('holds a disabled tenant\'s jobs in place until it is enabled again', async () => {
    await submitMany('off', 2);
    await submitMany('on', 2);
    await redis.hset(keys.tenant('off'), 'disabled', '1');
    expect(await drain(10)).toEqual(['on', 'on']);
    expect(await scheduler.acquire('off', 'off-retry')).toBeGreaterThan(0);
    await redis.hset(keys.tenant('off'), 'disabled', '0');
    expect(await drain(10)).toEqual(['off', 'off']);
  });

  it("skips a paused tenant (the model API's 429) and keeps serving the others", async () => {
    await submitMany('paused', 3);
    await submitMany('other', 3);
    const now = Date.now();
    await scheduler.pause('paused', now + 5000);
    expect(await drain(10, now)).toEqual(['other', 'other', 'other']);
    expect(await drain(10, now + 5001)).toEqual(['paused', 'paused', 'paused']);
  });

  it('takes back the start and the slot of a dispatched job withdrawn before it ran (a busy conversation)', async () => {
    await setLimits('rated', { rate: { max: 1, per_seconds: 60 }, max_concurrency: 1 });
    await submitMany('rated', 2);
    const [first] = await scheduler.dispatch(1);
    expect(await scheduler.dispatch(1)).toHaveLength(0);
    await scheduler.withdraw('rated', first!.jobId);
    // Neither the rate window nor the slot still counts the job that never started.
    expect((await scheduler.dispatch(1)).map((d) => d.jobId)).toEqual(['rated-1']);
  });

  it('renews a running job\'s lapsed lease, but never one whose job has ended', async () => {
    const jobKey = keys.job('long-run');
    await redis.hset(jobKey, { id: 'long-run', status: 'running' });
    await scheduler.renew('t', 'long-run');
    expect(await scheduler.running('t')).toBe(1);
    await redis.zrem(keys.running('t'), 'long-run'); // as if the lease lapsed and was trimmed
    await scheduler.renew('t', 'long-run');
    expect(await scheduler.running('t')).toBe(1);
    await redis.hset(jobKey, 'status', 'succeeded');
    await scheduler.release('t', 'long-run');
    await scheduler.renew('t', 'long-run');
    expect(await scheduler.running('t')).toBe(0);
  });

  it('keeps the run queue short: no more dispatched-but-not-started jobs than the room asked for', async () => {
    await submitMany('a', 10);
    expect(await scheduler.dispatch(3)).toHaveLength(3);
    expect(await scheduler.dispatch(3)).toHaveLength(0);
    expect(await scheduler.dispatch(4)).toHaveLength(1);
  });
});
