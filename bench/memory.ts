/**
 * `npm run bench:memory`: Redis memory stays bounded under continuous load.
 *
 * 50,000 jobs (BENCH_JOBS) go through the whole service (HTTP submit, scheduler,
 * BullMQ, job records, events, sessions) with a fast CLI double in place of the CLI,
 * and short retention (JOB_RETENTION_HOURS = 20 s, SESSION_TTL_DAYS = 20 s, janitor
 * every 5 s). Redis `used_memory` is sampled as the jobs go. The baseline, from the same
 * run: what storage would be if nothing expired, the cost per job measured over the
 * first samples (before anything could expire) times the jobs so far. Bounded means the
 * measured samples level off while that line keeps rising.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createApiContext, createApp } from '@claude-queue/api';
import { createLogger, loadApiConfig, loadWorkerConfig, waitForRedis } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeRunner } from '@claude-queue/worker';
import { startRedisServer } from '../test/support/redisServer.js';
import { instantSuccess } from './harness.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 50_000);
const SAMPLE_EVERY = JOBS / 10;
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** Answers at once, as the CLI would after a successful run. */
const fastRunner: ClaudeRunner = { run: async () => instantSuccess() };

const redisServer = await startRedisServer();
const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-bench-mem-'));
const env = {
  REDIS_URL: redisServer.url,
  QUEUE_PREFIX: 'mem',
  DATA_DIR: dataDir,
  ADMIN_TOKEN,
  LOG_LEVEL: 'warn',
  TENANT_REQUESTS_PER_MINUTE: '100000000',
  TENANT_MAX_QUEUED: '1000000',
  JOB_RETENTION_HOURS: String(20 / 3600),
  SESSION_TTL_DAYS: String(20 / 86_400),
  JANITOR_INTERVAL_MS: '5000',
  WORKER_CONCURRENCY: '50',
};
const ctx = createApiContext(loadApiConfig({ ...env, PORT: '0' }), createLogger('api', 'warn'));
await waitForRedis(ctx.redis);
const server = createApp(ctx).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const workers = [1, 2].map(() => createClaudeWorker({ config: loadWorkerConfig(env), logger: createLogger('worker', 'warn'), runner: fastRunner }));
await Promise.all(workers.map((w) => w.ready));
const probe = new Redis(redisServer.url);

async function usedMemory(): Promise<number> {
  const info = await probe.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

try {
  const tenant = (await (
    await fetch(`${url}/v1/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'load' }),
    })
  ).json()) as { id: string; api_key: string };
  const submit = (i: number) =>
    fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.api_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: `load job ${i} `.padEnd(200, '.') }),
    }).then((r) => r.arrayBuffer());

  const started = Date.now();
  const samples: Array<{ jobs: number; seconds: number; usedMb: number; keys: number; finished: number }> = [];
  for (let done = 0; done < JOBS; ) {
    const batch = Math.min(100, JOBS - done);
    await Promise.all(Array.from({ length: batch }, (_, i) => submit(done + i)));
    done += batch;
    // Keep the backlog moderate, as a steady load would.
    while ((await ctx.scheduler.queued(tenant.id)) > 2000) await new Promise((r) => setTimeout(r, 50));
    if (done % SAMPLE_EVERY === 0) {
      const usage = await ctx.redis.hget(ctx.keys.usageDay(tenant.id, new Date().toISOString().slice(0, 10)), 'succeeded');
      samples.push({ jobs: done, seconds: (Date.now() - started) / 1000, usedMb: (await usedMemory()) / 2 ** 20, keys: await probe.dbsize(), finished: Number(usage ?? 0) });
      console.error(`${done} jobs submitted, ${(await usedMemory()) / 2 ** 20} MB`);
    }
  }
  // Per-job cost before anything expired: the second sample is still within one retention window.
  const perJobMb = samples[1]!.usedMb / samples[1]!.jobs;
  console.log(`\nmemory: ${JOBS} jobs with a fast CLI double, retention 20 s, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  console.log('| jobs submitted | finished | elapsed (s) | Redis used_memory (MB) | if nothing expired (MB) | keys |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of samples) {
    console.log(`| ${s.jobs} | ${s.finished} | ${s.seconds.toFixed(0)} | ${s.usedMb.toFixed(1)} | ${(perJobMb * s.jobs).toFixed(0)} | ${s.keys} |`);
  }
  console.log(`\nper job before expiry: ${((perJobMb * 2 ** 20) / 1024).toFixed(1)} KB`);
} finally {
  await Promise.all(workers.map((w) => w.close(1000)));
  server.closeAllConnections();
  server.close();
  await ctx.close();
  probe.disconnect();
  await redisServer.destroy();
  await rm(dataDir, { recursive: true, force: true });
}
