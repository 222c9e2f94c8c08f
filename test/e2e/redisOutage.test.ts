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
import { startApiProcess, startWorkerProcess, type AppProcess } from '../support/workerProcess.js';

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

it("logs an outage in a few JSON lines per process, not one per retry of every connection", { timeout: 60_000 }, async () => {
  const procs: Record<string, AppProcess> = {
    api: startApiProcess(env.processEnv({ PORT: '0' })),
    worker: startWorkerProcess(env.processEnv({ CLAUDE_BIN: FAKE_CLAUDE, SANDBOX: 'off' })),
  };
  try {
    await Promise.all(Object.values(procs).map((p) => p.ready));
    const before = Object.fromEntries(Object.entries(procs).map(([name, p]) => [name, p.output().length]));
    // Long enough for every connection to retry many times (every 50–500 ms).
    await redis.stop();
    await new Promise((r) => setTimeout(r, 3000));
    await redis.start();
    await waitFor(() => (Object.values(procs).every((p) => p.output().includes('"redis reachable again"')) ? true : undefined), 20_000, 'both to reconnect');

    for (const [name, p] of Object.entries(procs)) {
      const text = p.output().slice(before[name]);
      const lines = text.split('\n').filter(Boolean);
      // JSON, every line: no raw "[ioredis] Unhandled error event" stack, on stdout or stderr.
      const parsed = lines.map((l) => {
        try {
          return JSON.parse(l) as { msg: string; err?: Record<string, unknown> };
        } catch {
          throw new Error(`${name} printed a line that is not JSON: ${l}`);
        }
      });
      expect(p.errorOutput(), `${name}'s stderr`).toBe('');
      expect(parsed.filter((l) => l.msg === 'redis unreachable; reconnecting'), `${name}: ${text}`).toHaveLength(1);
      expect(parsed.filter((l) => l.msg === 'redis reachable again'), `${name}: ${text}`).toHaveLength(1);
      // The few lines an outage is worth (a reader noticing it may add one), not hundreds.
      expect(lines.length, `${name}: ${text}`).toBeLessThanOrEqual(4);
      expect(text).not.toContain('"type":"Object"');
      const unreachable = parsed.find((l) => l.msg === 'redis unreachable; reconnecting')!;
      expect(unreachable.err).toMatchObject({ code: 'ECONNREFUSED', message: expect.stringContaining('ECONNREFUSED') });
    }
  } finally {
    await Promise.all(Object.values(procs).map((p) => p.stop()));
  }
});
