/**
 * GET /v1/jobs costs what it returns: a list filtered by status over many jobs of other
 * statuses judges them by their status alone and reads only the page's records whole.
 * Measured on a private Redis (its counters are this file's alone): the bytes Redis sent
 * and the HGETALLs it ran while the API answered one list.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { startRedisServer, type RedisServer } from '../../../test/support/redisServer.js';
import { submitJob } from '../../../test/support/jobs.js';

/** Jobs the list must pass over, each with a prompt that a whole-record read would carry. */
const OTHERS = 150;
const BIG_PROMPT_BYTES = 32 * 1024;

let redisServer: RedisServer;
let env: TestEnv;
let api: TestApi;
let observer: Redis;

beforeAll(async () => {
  redisServer = await startRedisServer();
  env = await createTestEnv({ redisUrl: redisServer.url });
  api = await startTestApi(env.apiConfig());
  observer = new Redis(redisServer.url);
});

afterAll(async () => {
  observer?.disconnect();
  await api?.close();
  await env?.cleanup();
  await redisServer?.destroy();
});

/** Redis's own counters: bytes it has sent to clients, and HGETALLs it has run. */
async function redisCounters(): Promise<{ outputBytes: number; hgetalls: number }> {
  const stats = await observer.info('stats');
  const commands = await observer.info('commandstats');
  return {
    outputBytes: Number(/total_net_output_bytes:(\d+)/.exec(stats)![1]),
    hgetalls: Number(/cmdstat_hgetall:calls=(\d+)/.exec(commands)?.[1] ?? 0),
  };
}

it('a filtered list over many non-matching jobs reads their status, not their records', async () => {
  const tenant = await api.createTenant('lister');
  // The one match is the oldest: newest first, the list passes over every other job to reach it.
  const match = await submitJob(api, tenant.api_key, { prompt: 'the one to find' });
  expect((await api.request('POST', `/v1/jobs/${match.id}/cancel`, { key: tenant.api_key })).status).toBe(200);
  for (let i = 0; i < OTHERS; i += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, j) => submitJob(api, tenant.api_key, { prompt: `${i + j} ${'p'.repeat(BIG_PROMPT_BYTES)}` })),
    );
  }

  const before = await redisCounters();
  const res = await api.request('GET', '/v1/jobs?status=canceled&limit=10', { key: tenant.api_key });
  const after = await redisCounters();

  expect(res.status).toBe(200);
  expect(res.body.data.map((j: { id: string }) => j.id)).toEqual([match.id]);
  expect(res.body.next_cursor).toBeNull();
  // Not even one of the others' records: each alone is BIG_PROMPT_BYTES (all of them: ~4.8 MB).
  expect(after.outputBytes - before.outputBytes).toBeLessThan(BIG_PROMPT_BYTES);
  // The page's one record, and the tenant that authentication reads.
  expect(after.hgetalls - before.hgetalls).toBeLessThanOrEqual(2);

  // Unfiltered, the page is still whole records, newest first.
  const all = await api.request('GET', '/v1/jobs?limit=3', { key: tenant.api_key });
  expect(all.body.data).toHaveLength(3);
  expect(all.body.data[0].request.prompt).toMatch(new RegExp(`^${OTHERS - 1} p{${BIG_PROMPT_BYTES}}$`));
});
