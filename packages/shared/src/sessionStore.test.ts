import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import type {} from '../../../test/support/env.js';
import { createKeys } from './keys.js';
import { SessionStore } from './sessionStore.js';

const prefix = `sess${randomBytes(4).toString('hex')}`;
let redis: Redis;
let sessions: SessionStore;

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
  sessions = new SessionStore(redis, createKeys(prefix));
});

afterAll(async () => {
  const found = await redis.keys(`${prefix}:*`);
  if (found.length) await redis.del(...found);
  redis.disconnect();
});

it('lets one job at a time continue a conversation', async () => {
  const release = await sessions.tryLock('s1', 'job-a', 'run-1', 10_000);
  expect(release).not.toBeNull();
  expect(await sessions.tryLock('s1', 'job-b', 'run-1', 10_000)).toBeNull();
  await release!();
  expect(await sessions.tryLock('s1', 'job-b', 'run-1', 10_000)).not.toBeNull();
});

it("lets a later run of the same job take the lock over, and the earlier run's release leave it alone", async () => {
  const first = await sessions.tryLock('s2', 'job-a', 'run-1', 10_000);
  const second = await sessions.tryLock('s2', 'job-a', 'run-2', 10_000);
  expect(second).not.toBeNull();
  await first!(); // the earlier run ends late: it must not free the later run's lock
  expect(await sessions.tryLock('s2', 'job-c', 'run-1', 10_000)).toBeNull();
  await second!();
  expect(await sessions.tryLock('s2', 'job-c', 'run-1', 10_000)).not.toBeNull();
});
