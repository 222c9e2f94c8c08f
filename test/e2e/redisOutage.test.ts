/**
 * Redis goes away and comes back: the API refuses fast (503) instead of hanging,
 * workers finish what they started and carry on, and with AOF persistence a restart
 * loses no accepted job. Runs on its own redis-server, which it stops and starts.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, waitForRedis } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from '../support/apiServer.js';
import { createTestEnv, waitFor, type TestEnv } from '../support/env.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { startRedisServer, type RedisServer } from '../support/redisServer.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../support/fake-claude.mjs', import.meta.url));

const BOARD_LOGIN = 'gina:gina-board-password';

let redis: RedisServer;
let env: TestEnv;
let api: TestApi;
let worker: ClaudeWorker | undefined;
let tenant: { id: string; api_key: string };

function startWorker(): ClaudeWorker {
  return createClaudeWorker({
    config: env.workerConfig({ CLAUDE_BIN: FAKE_CLAUDE, WORKER_CONCURRENCY: '2' }),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH },
  });
}

beforeAll(async () => {
  redis = await startRedisServer({ appendOnly: true });
  env = await createTestEnv({ redisUrl: redis.url });
  api = await startTestApi(env.apiConfig({ BOARD_USERS: `${BOARD_LOGIN}:rw` }));
  tenant = await api.createTenant('outage');
});

afterAll(async () => {
  await worker?.close(1000);
  await api?.close();
  await env?.cleanup();
  await redis?.destroy();
});

it('answers 503 within a second while Redis is down, and serves again when it is back', async () => {
  await redis.stop();
  const started = Date.now();
  const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'while down' } });
  expect(Date.now() - started).toBeLessThan(1000);
  expect(res.status).toBe(503);
  expect(res.body.code).toBe('unavailable');
  expect((await api.request('GET', '/readyz')).status).toBe(503);
  expect((await api.request('GET', '/healthz')).status).toBe(200);
  // The board too: 503 with Retry-After as problem+json, not bull-board's own 500.
  const board = await api.request('GET', '/admin/queues/api/queues', { headers: { authorization: `Basic ${Buffer.from(BOARD_LOGIN).toString('base64')}` } });
  expect(board.status).toBe(503);
  expect(board.headers.get('retry-after')).toBe('5');
  expect(board.body).toMatchObject({ code: 'unavailable' });

  await redis.start();
  await waitForRedis(api.ctx.redis, 10_000);
  expect((await api.request('GET', '/readyz')).status).toBe(200);
  const job = await submitJob(api, tenant.api_key, { prompt: 'after the outage' });
  expect(job.status).toBe('queued');
});

it('loses no accepted job across a Redis restart (AOF), and a worker then runs them all', async () => {
  const jobs = await Promise.all([1, 2, 3].map((i) => submitJob(api, tenant.api_key, { prompt: `accepted before restart ${i}` })));
  await redis.stop();
  await redis.start();
  await waitForRedis(api.ctx.redis, 10_000);
  worker = startWorker();
  await worker.ready;
  const done = await Promise.all(jobs.map((j) => waitForFinal(api, tenant.api_key, j.id)));
  expect(done.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
});

it('lets a worker finish a job that was running while Redis restarted', async () => {
  worker ??= startWorker();
  await worker.ready;
  const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:sleep:1500 through the outage' });
  await waitFor(async () => ((await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key })).body.status === 'running' ? true : undefined));
  await redis.stop();
  await new Promise((r) => setTimeout(r, 500));
  await redis.start();
  await waitForRedis(api.ctx.redis, 10_000);
  const done = await waitForFinal(api, tenant.api_key, job.id);
  expect(done).toMatchObject({ status: 'succeeded', attempts: 1, result: { text: 'fake: FAKE:sleep:1500 through the outage' } });
});
