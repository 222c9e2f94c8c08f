/**
 * The scripts are sent once and called by their SHA: watched with MONITOR while the
 * scheduler dispatches and jobs move, no command that touches this test's keys is an
 * EVAL with script text after each script's first call (ioredis sends the text only if
 * Redis answers NOSCRIPT).
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
  const scheduler = new Scheduler(redis, keys, { defaults: { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1 } });
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
  const byText = scripted.filter(([command]) => command!.toLowerCase() === 'eval');
  // 40 dispatches and 20 submits, each by its SHA; the text at most once per script.
  expect(scripted.filter(([c]) => c!.toLowerCase() === 'evalsha').length).toBeGreaterThanOrEqual(58);
  expect(byText.length).toBeLessThanOrEqual(2);
});
