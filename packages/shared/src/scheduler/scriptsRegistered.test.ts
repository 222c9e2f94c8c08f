/**
 * The scripts are sent once and called by their SHA: watched with MONITOR while the
 * scheduler dispatches and jobs move, no command that touches this test's keys is an
 * EVAL with script text: the text goes once, by SCRIPT LOAD, when Redis answers
 * NOSCRIPT (a new Redis, or one restarted with its script cache empty).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import type {} from '../../../../test/support/env.js';
import { JobLife } from '../jobLife/jobLife.js';
import { createKeys } from '../keys.js';
import { createClaudeQueue } from '../queue.js';
import { Scheduler } from './scheduler.js';

let redis: Redis;
let monitor: Awaited<ReturnType<Redis['monitor']>>;

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  monitor = await new Redis(inject('redisUrl')).monitor();
});

afterAll(async () => {
  monitor.disconnect();
  redis.disconnect();
});

it('dispatches and moves jobs with EVALSHA, never the script text again', async () => {
  const keys = createKeys(`sha${randomBytes(4).toString('hex')}`);
  const scheduler = new Scheduler(redis, keys, { defaults: { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1, max_stored_bytes: null, budget_usd: null } });
  const queue = createClaudeQueue(redis, keys);
  const life = new JobLife(redis, keys, scheduler, { retentionSeconds: 60, queue });
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((a) => a.includes(keys.prefix))) seen.push(args);
  });
  await redis.hset(keys.tenant('t'), 'id', 't');
  for (let round = 0; round < 20; round++) {
    const submitted = await life.submit('t', { prompt: 'p' });
    expect(submitted.ok).toBe(true);
    await scheduler.dispatch(4);
    // An idle tick too: nothing left to dispatch.
    await scheduler.dispatch(4);
  }
  await redis.ping();
  await queue.close();
  const scripted = seen.filter(([command]) => /^eval(sha)?$/i.test(command!));
  // 40 dispatches and 20 submits, each by its SHA; never the text with a call.
  expect(scripted.filter(([c]) => c!.toLowerCase() === 'evalsha').length).toBeGreaterThanOrEqual(60);
  expect(scripted.filter(([command]) => command!.toLowerCase() === 'eval')).toEqual([]);
});

it('loads a script again, once, when Redis has lost it (a restart)', async () => {
  const keys = createKeys(`sha${randomBytes(4).toString('hex')}`);
  const scheduler = new Scheduler(redis, keys, { defaults: { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1, max_stored_bytes: null, budget_usd: null } });
  await scheduler.dispatch(1);
  const loads: string[][] = [];
  const onCommand = (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'script') loads.push(args);
  };
  monitor.on('monitor', onCommand);
  // As a restarted Redis: its script cache empty (every client of it reloads, transparently).
  await redis.script('FLUSH');
  expect(await scheduler.dispatch(1)).toEqual([]);
  expect(await scheduler.dispatch(1)).toEqual([]);
  await redis.ping();
  monitor.off('monitor', onCommand);
  // Other clients of this Redis (BullMQ) load theirs again too: count the dispatch script's.
  expect(loads.filter((a) => a[1]?.toLowerCase() === 'load' && a[2]?.includes('tenant_keys'))).toHaveLength(1);
});
