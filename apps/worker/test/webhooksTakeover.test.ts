/**
 * The event consumer group: events a consumer read and never acknowledged (its worker
 * died between XREADGROUP and XACK) are taken over after WEBHOOK_CLAIM_IDLE_MS by a
 * live worker and delivered, and then acknowledged.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, type JobResult } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '../src/createWorker.js';
import { WEBHOOK_CONSUMER_GROUP } from '../src/webhooks/eventConsumer.js';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { startJob } from '../../../test/support/jobMoves.js';

let env: TestEnv;
let api: TestApi;
let worker: ClaudeWorker | undefined;
let server: Server;
const ids: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    ids.push(String(req.headers['webhook-id']));
    req.resume().on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }));
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await env?.cleanup();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it("takes over a dead consumer's events after WEBHOOK_CLAIM_IDLE_MS and delivers them", async () => {
  const { redis, keys, life } = api.ctx;
  const tenant = await api.createTenant('takeover');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  // No worker runs yet: the job's moves are made by hand.
  const prompt = { prompt: 'x', webhook_url: url };
  const submitted = await life.submit(tenant.id, api.ctx.jobRequestSchema.parse(prompt));
  const job = submitted.ok ? submitted.record : expect.unreachable();
  await startJob(api.ctx, job.id);
  await life.succeed({ id: job.id, tenantId: tenant.id }, { session_id: 's' } as JobResult);

  // A consumer reads both events and dies before acknowledging them.
  await redis.xgroup('CREATE', keys.events(), WEBHOOK_CONSUMER_GROUP, '0', 'MKSTREAM');
  const read = (await redis.xreadgroup('GROUP', WEBHOOK_CONSUMER_GROUP, 'dead-worker', 'STREAMS', keys.events(), '>')) as Array<[string, unknown[]]>;
  expect(read[0]![1]).toHaveLength(2);

  worker = createClaudeWorker({
    config: env.workerConfig({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_CLAIM_IDLE_MS: '500' }),
    logger: createLogger('worker', 'silent'),
  });
  await worker.ready;
  await waitFor(() => (ids.length ? true : undefined), 10_000, 'the taken-over delivery');
  // job.started was not asked for: read, dropped and acknowledged like any event.
  expect(ids).toEqual([`${job.id}.job.succeeded`]);
  await waitFor(async () => {
    const [pending] = (await redis.xpending(keys.events(), WEBHOOK_CONSUMER_GROUP)) as [number];
    return pending === 0 ? true : undefined;
  }, 5000, 'the events to be acknowledged');
});
