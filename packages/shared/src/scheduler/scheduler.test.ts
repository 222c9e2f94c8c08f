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
import type { Job } from 'bullmq';
import type { JobPayload, JobResult } from '../job.js';
import { JobLife } from '../jobLife/jobLife.js';
import { JobStore } from '../jobStore.js';
import { createKeys, type Keys } from '../keys.js';
import type { EffectiveLimits, TenantLimits } from '../limits.js';
import { createClaudeQueue, type ClaudeQueue } from '../queue.js';
import { Scheduler } from './scheduler.js';

const UNLIMITED: EffectiveLimits = { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1, max_stored_bytes: null, budget_usd: null };

let redis: Redis;
let keys: Keys;
let scheduler: Scheduler;
let life: JobLife;
let queue: ClaudeQueue;
/** Every prefix this file used: cleaned at the end, and nothing else. */
const prefixes: string[] = [];
/** Job id → the name a test gave it. */
const names = new Map<string, string>();
const idOf = (name: string) => [...names].find(([, n]) => n === name)![0];

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});

beforeEach(async () => {
  const prefix = `sched${randomBytes(4).toString('hex')}`;
  prefixes.push(prefix);
  keys = createKeys(prefix);
  scheduler = new Scheduler(redis, keys, { defaults: UNLIMITED, leaseMs: 30_000 });
  await queue?.close();
  queue = createClaudeQueue(redis, keys);
  life = new JobLife(redis, keys, scheduler, { retentionSeconds: 3600, queue });
});

afterAll(async () => {
  await queue?.close();
  for (const prefix of prefixes) {
    const found = await redis.keys(`${prefix}:*`);
    if (found.length) await redis.del(...found);
  }
  redis.disconnect();
});

async function setLimits(tenantId: string, limits: TenantLimits) {
  await redis.hset(keys.tenant(tenantId), 'id', tenantId, 'limits', JSON.stringify(limits));
}

async function submit(tenantId: string, name: string, priority?: number, lifeOf = life) {
  await redis.hset(keys.tenant(tenantId), 'id', tenantId);
  const outcome = await lifeOf.submit(tenantId, { prompt: name, ...(priority ? { priority } : {}) });
  if (outcome.ok) names.set(outcome.record.id, name);
  return outcome;
}

async function submitMany(tenantId: string, n: number, priority?: number) {
  for (let i = 0; i < n; i++) expect((await submit(tenantId, `${tenantId}-${i}`, priority)).ok).toBe(true);
}

/** What BullMQ hands the processor: only what a start reads of it (moveToDelayed is BullMQ's "later"). */
const bullJob = (id: string, tenantId: string) => ({ id, data: { tenantId }, attemptsMade: 0, moveToDelayed: async () => undefined }) as unknown as Job<JobPayload>;

/** Starts a job as a worker would: 0 when it runs, else the ms to wait. */
async function start(tenantId: string, id: string, now = Date.now()): Promise<number> {
  const record = await new JobStore(redis, keys).get(id);
  const outcome = await life.start(bullJob(id, tenantId), undefined, record!, now);
  if (outcome.kind === 'ended') throw new Error(`job ${id} has ended`);
  return outcome.kind === 'started' ? 0 : outcome.waitMs;
}

const succeed = (tenantId: string, id: string) => life.succeed({ id, tenantId }, { session_id: 's' } as JobResult);

/** Dispatches one job at a time and starts it at once, as idle workers would; returns the tenants in order. */
async function drain(count: number, now = Date.now()): Promise<string[]> {
  const order: string[] = [];
  for (let i = 0; i < count; i++) {
    const [next] = await scheduler.dispatch(1, now);
    if (!next) break;
    expect(await start(next.tenantId, next.jobId, now)).toBe(0);
    await succeed(next.tenantId, next.jobId);
    order.push(next.tenantId);
  }
  return order;
}

describe('Scheduler', () => {
  it("fills in each tenant's keys from keys.ts's patterns", async () => {
    await submit('ten', 'job-1');
    const [d] = await scheduler.dispatch(1);
    expect(d).toEqual({ jobId: idOf('job-1'), tenantId: 'ten' });
    expect(await redis.zscore(keys.running('ten'), idOf('job-1'))).not.toBeNull();
    expect(await redis.zscore(keys.dispatched(), idOf('job-1'))).not.toBeNull();
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
    await submit('a', 'a-low', 90);
    await submit('a', 'a-high', 1);
    await submit('b', 'b-1');
    await submit('b', 'b-2');
    const jobs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const [d] = await scheduler.dispatch(1);
      jobs.push(names.get(d!.jobId)!);
      await start(d!.tenantId, d!.jobId);
    }
    expect(jobs).toEqual(['a-high', 'b-1', 'a-low', 'b-2']);
  });

  it('never dispatches past max_concurrency, and a release makes room', async () => {
    await setLimits('capped', { max_concurrency: 2 });
    await submitMany('capped', 5);
    expect(await scheduler.dispatch(10)).toHaveLength(2);
    expect(await scheduler.dispatch(10)).toHaveLength(0);
    await start('capped', idOf('capped-0'));
    await succeed('capped', idOf('capped-0'));
    expect((await scheduler.dispatch(10)).map((d) => names.get(d.jobId))).toEqual(['capped-2']);
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
    await submitMany('capped', 2);
    const [first] = await scheduler.dispatch(1);
    expect(await start('capped', first!.jobId)).toBe(0);
    // The first fails in a way a retry may fix: its slot frees, the second takes it.
    await expect(life.retryLater({ id: first!.jobId, tenantId: 'capped' }, { code: 'cli_error', message: 'm', retryable: true }, 1000, [])).rejects.toThrow();
    const [second] = await scheduler.dispatch(1);
    expect(await start('capped', second!.jobId)).toBe(0);
    // The retry, coming back, finds the slot taken, then free.
    expect(await start('capped', first!.jobId)).toBeGreaterThan(0);
    await succeed('capped', second!.jobId);
    expect(await start('capped', first!.jobId)).toBe(0);
  });

  it('refuses a submit past max_queued, and unlimited (null) overrides a default', async () => {
    await setLimits('small', { max_queued: 2 });
    await submitMany('small', 2);
    expect(await submit('small', 'one-too-many')).toEqual({ ok: false, reason: 'queue_full', queued: 2, maxQueued: 2 });
    const strict = new JobLife(redis, keys, new Scheduler(redis, keys, { defaults: { ...UNLIMITED, max_queued: 1 } }), { retentionSeconds: 3600, queue });
    await setLimits('free', { max_queued: null });
    for (let i = 0; i < 3; i++) expect((await submit('free', `free-${i}`, undefined, strict)).ok).toBe(true);
  });

  it('holds a disabled tenant\'s jobs in place until it is enabled again', async () => {
    await submitMany('off', 2);
    await submitMany('on', 2);
    await redis.hset(keys.tenant('off'), 'disabled', '1');
    expect(await drain(10)).toEqual(['on', 'on']);
    // Nor does one of its retries start, and it takes no new job.
    expect(await start('off', idOf('off-0'))).toBeGreaterThan(0);
    expect(await submit('off', 'refused')).toEqual({ ok: false, reason: 'tenant_disabled' });
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

  it('takes back the start and the slot of a dispatched job deferred before it ran (a busy conversation)', async () => {
    await setLimits('rated', { rate: { max: 1, per_seconds: 60 }, max_concurrency: 1 });
    await submitMany('rated', 2);
    const [first] = await scheduler.dispatch(1);
    expect(await scheduler.dispatch(1)).toHaveLength(0);
    await expect(life.defer(bullJob(first!.jobId, 'rated'), undefined, 1000)).rejects.toThrow();
    // Neither the rate window nor the slot still counts the job that never started.
    expect((await scheduler.dispatch(1)).map((d) => names.get(d.jobId))).toEqual(['rated-1']);
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
    await redis.zrem(keys.running('t'), 'long-run');
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
