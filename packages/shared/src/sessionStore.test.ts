import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import type {} from '../../../test/support/env.js';
import { JobLife } from './jobLife/jobLife.js';
import { createKeys } from './keys.js';
import { createClaudeQueue } from './queue.js';
import { Scheduler } from './scheduler/scheduler.js';
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
  const release = await sessions.tryTurn('s1', 'job-a', 'run-1', 10_000);
  expect(release).not.toBeNull();
  expect(await sessions.tryTurn('s1', 'job-b', 'run-1', 10_000)).toBeNull();
  await release!();
  expect(await sessions.tryTurn('s1', 'job-b', 'run-1', 10_000)).not.toBeNull();
});

it("lets a later run of the same job take the lock over, and the earlier run's release leave it alone", async () => {
  const first = await sessions.tryTurn('s2', 'job-a', 'run-1', 10_000);
  const second = await sessions.tryTurn('s2', 'job-a', 'run-2', 10_000);
  expect(second).not.toBeNull();
  await first!(); // the earlier run ends late: it must not free the later run's lock
  expect(await sessions.tryTurn('s2', 'job-c', 'run-1', 10_000)).toBeNull();
  await second!();
  expect(await sessions.tryTurn('s2', 'job-c', 'run-1', 10_000)).not.toBeNull();
});

it("runs a session's turns one at a time in the order they were submitted, whatever became of the earlier ones", async () => {
  const keys = createKeys(prefix);
  const queue = createClaudeQueue(redis, keys);
  const life = new JobLife(redis, keys, new Scheduler(redis, keys, { defaults: { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1, max_stored_bytes: null, budget_usd: null } }), {
    retentionSeconds: 60,
    queue,
  });
  await redis.hset(keys.tenant('t'), 'id', 't');
  const session_id = randomUUID();
  const ids: string[] = [];
  for (const prompt of ['one', 'two', 'three']) {
    const submitted = await life.submit('t', { prompt, session_id });
    if (!submitted.ok) throw new Error('refused');
    ids.push(submitted.record.id);
  }
  const [one, two, three] = ids as [string, string, string];
  // Only the first may go, however often the others ask.
  expect(await sessions.tryTurn(session_id, three, 'r', 10_000)).toBeNull();
  expect(await sessions.tryTurn(session_id, two, 'r', 10_000)).toBeNull();
  const releaseOne = await sessions.tryTurn(session_id, one, 'r', 10_000);
  expect(releaseOne).not.toBeNull();
  await releaseOne!();
  // Released but not ended (a retry waiting, say): still its turn.
  expect(await sessions.tryTurn(session_id, two, 'r', 10_000)).toBeNull();
  // It fails for good: the next turn runs all the same.
  await life.fail({ id: one, tenantId: 't' }, { code: 'cli_error', message: 'm', retryable: false }).catch(() => undefined);
  expect(await sessions.tryTurn(session_id, three, 'r', 10_000)).toBeNull();
  const releaseTwo = await sessions.tryTurn(session_id, two, 'r', 10_000);
  expect(releaseTwo).not.toBeNull();
  await life.cancel({ id: two, tenantId: 't' }, 'caller');
  await releaseTwo!();
  expect(await sessions.tryTurn(session_id, three, 'r', 10_000)).not.toBeNull();
  await queue.close();
});
