/**
 * The table of a job's life (moves.ts), walked whole against real Redis: from every
 * status, every move either happens, with each of its side effects exactly once, or is
 * refused and changes nothing.
 */
import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type {} from '../../../../test/support/env.js';
import { FINAL_STATUSES, JOB_STATUSES, type JobPayload, type JobResult, type JobStatus } from '../job.js';
import { JobStore, type JobRecord } from '../jobStore.js';
import { createKeys, type Keys } from '../keys.js';
import { createClaudeQueue, type ClaudeQueue } from '../queue.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { JobLife, type JobRef } from './jobLife.js';
import { MOVES, type MoveName } from './moves.js';

let redis: Redis;
let keys: Keys;
let life: JobLife;
let jobs: JobStore;
let queue: ClaudeQueue;
const TENANT = 'walker';
const UNLIMITED = { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1, max_stored_bytes: null, budget_usd: null };

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  keys = createKeys(`life${randomBytes(4).toString('hex')}`);
  queue = createClaudeQueue(redis, keys);
  life = new JobLife(redis, keys, new Scheduler(redis, keys, { defaults: UNLIMITED }), { retentionSeconds: 3600, queue });
  jobs = new JobStore(redis, keys);
  await redis.hset(keys.tenant(TENANT), 'id', TENANT);
});

afterAll(async () => {
  await queue.close();
  const found = await redis.keys(`${keys.prefix}:*`);
  if (found.length) await redis.del(...found);
  redis.disconnect();
});

/** What BullMQ hands a processor, as far as the moves read it. */
const bullJob = (record: JobRecord) =>
  ({ id: record.id, data: { tenantId: record.tenant_id }, attemptsMade: record.attempts, moveToDelayed: async () => undefined }) as unknown as Job<JobPayload>;
const refOf = (record: JobRecord): JobRef => ({ id: record.id, tenantId: record.tenant_id });
const result = { text: 't', session_id: 's', num_turns: 1, duration_ms: 1, total_cost_usd: 0.5, usage: { input_tokens: 7 }, structured_output: null } as JobResult;
const error = { code: 'cli_error', message: 'm', retryable: true } as const;

/** Every move, made the way its callers make it. */
const make: Record<Exclude<MoveName, 'submit'>, (r: JobRecord) => Promise<unknown>> = {
  start: (r) => life.start(bullJob(r), undefined, r),
  retryLater: (r) => life.retryLater(refOf(r), error, 1000, []),
  handBack: (r) => life.handBack(bullJob(r), undefined),
  succeed: (r) => life.succeed(refOf(r), result),
  fail: (r) => life.fail(refOf(r), { ...error, retryable: false }),
  cancel: (r) => life.cancel(refOf(r), 'caller'),
  recoverLost: (r) => life.recoverLost(refOf(r), []),
  reopen: (r) => life.reopen(refOf(r)),
};

/** A new job brought to `status` by the moves themselves. */
async function jobIn(status: JobStatus): Promise<JobRecord> {
  const submitted = await life.submit(TENANT, { prompt: 'walk' });
  if (!submitted.ok) throw new Error('submit refused');
  const id = submitted.record.id;
  const get = async () => (await jobs.get(id))!;
  if (status === 'queued') return get();
  // As a dispatch would: out of the intake, into the run queue.
  await redis.zrem(keys.intake(TENANT), id);
  await make.start(await get());
  if (status === 'succeeded') await make.succeed(await get());
  if (status === 'failed') await make.fail(await get()).catch(() => undefined);
  if (status === 'canceled') await make.cancel(await get());
  return get();
}

/** What the side effects of a move are counted by. */
async function observe(id: string) {
  const statusEvents = (await redis.xrange(keys.jobEvents(id), '-', '+')).filter(([, f]) => f[1] === 'status').length;
  const serviceEvents = (await redis.xrange(keys.events(), '-', '+')).filter(([, f]) => f.includes(id)).length;
  const usage = await redis.hgetall(keys.usageDay(TENANT, new Date().toISOString().slice(0, 10)));
  return {
    statusEvents,
    serviceEvents,
    usage,
    holdsSlot: (await redis.zscore(keys.running(TENANT), id)) !== null,
    inIntake: (await redis.zscore(keys.intake(TENANT), id)) !== null,
    ttl: await redis.ttl(keys.job(id)),
  };
}

const moves = Object.keys(make) as Array<keyof typeof make>;

describe('the table of a job’s life', () => {
  for (const name of moves) {
    const { from, to } = MOVES[name] as { from: readonly JobStatus[]; to: JobStatus };
    for (const status of JOB_STATUSES) {
      const allowed = from.includes(status);
      it(`${name} from ${status}: ${allowed ? `moves to ${to}` : 'refused'}`, async () => {
        const record = await jobIn(status);
        const before = await observe(record.id);
        // A move made throws what BullMQ must be told (an ending's error, a retry's).
        await make[name](record).catch(() => undefined);
        const after = await observe(record.id);
        const now = (await jobs.get(record.id))!;
        if (!allowed) {
          expect(now).toEqual(record);
          expect(after).toEqual(before);
          return;
        }
        expect(now.status).toBe(to);
        // One status event, announced once.
        expect(after.statusEvents).toBe(before.statusEvents + 1);
        // Starts and endings, once each, on the service-wide stream (webhooks).
        const final = FINAL_STATUSES.includes(to);
        expect(after.serviceEvents).toBe(before.serviceEvents + (to === 'running' || final ? 1 : 0));
        // An ending counts once in the day's usage, with what the attempt spent.
        const counted = (k: string) => Number(after.usage[k] ?? 0) - Number(before.usage[k] ?? 0);
        for (const s of FINAL_STATUSES) expect(counted(s), s).toBe(final && s === to ? 1 : 0);
        expect(counted('cost_usd')).toBeCloseTo(name === 'succeed' ? 0.5 : 0);
        // The slot: held while running, freed by every move out of it.
        expect(after.holdsSlot).toBe(to === 'running');
        // Back in the intake only when an operator reopens it; out of it once ended (the
        // intake is left by a dispatch, which this walk skips before a start).
        expect(after.inIntake).toBe(name === 'reopen' || (!final && before.inIntake));
        // Retention starts at the ending; a job that may run again has none.
        if (final) expect(after.ttl).toBeGreaterThan(0);
        else expect(after.ttl).toBe(-1);
      });
    }
  }

  it('submit writes the record and its place in the intake together, or neither', async () => {
    const before = await redis.keys(`${keys.prefix}:job:*`);
    await redis.hset(keys.tenant(TENANT), 'limits', JSON.stringify({ max_queued: 0 }));
    const refused = await life.submit(TENANT, { prompt: 'no room' });
    await redis.hdel(keys.tenant(TENANT), 'limits');
    expect(refused).toMatchObject({ ok: false, reason: 'queue_full' });
    await redis.hset(keys.tenant(TENANT), 'disabled', '1');
    expect(await life.submit(TENANT, { prompt: 'disabled' })).toEqual({ ok: false, reason: 'tenant_disabled' });
    await redis.hset(keys.tenant(TENANT), 'disabled', '0');
    expect(await life.submit('no-such-tenant', { prompt: 'x' })).toEqual({ ok: false, reason: 'tenant_not_found' });
    expect(await redis.keys(`${keys.prefix}:job:*`)).toEqual(before);

    const accepted = await life.submit(TENANT, { prompt: 'room' });
    if (!accepted.ok) throw new Error('refused');
    const seen = await observe(accepted.record.id);
    expect(seen).toMatchObject({ statusEvents: 1, serviceEvents: 0, inIntake: true, holdsSlot: false, ttl: -1 });
    expect(await jobs.get(accepted.record.id)).toEqual(accepted.record);
  });

  it('lets nothing leave an ending but an operator reopening a failure', () => {
    for (const [name, move] of Object.entries(MOVES)) {
      for (const s of move.from as readonly JobStatus[]) if (FINAL_STATUSES.includes(s)) expect([name, s]).toEqual(['reopen', 'failed']);
    }
  });
});
