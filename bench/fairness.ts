/**
 * `npm run bench:fairness`: does one tenant's backlog starve the others?
 *
 * Tenant A submits 1,000 jobs, then tenants B and C 20 each, on 3 worker processes
 * with the fast fake CLI (test/support/fake-claude.mjs). Baseline, in the same run:
 * B's 20 jobs on an empty queue. It prints how many of A's jobs started before B's and
 * C's last job started, and B's and C's waits (submit → start) against the baseline.
 */
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, loadApiConfig, waitForRedis, type JobView } from '@claude-queue/shared';
import { createApiContext, createApp } from '@claude-queue/api';
import { startRedisServer } from '../test/support/redisServer.js';
import { startWorkerProcess, type AppProcess } from '../test/support/workerProcess.js';

const A_JOBS = Number(process.env.BENCH_A_JOBS ?? 1000);
const OTHER_JOBS = Number(process.env.BENCH_OTHER_JOBS ?? 20);
const WORKERS = 3;
const CONCURRENCY = 2;
const FAKE_CLAUDE = fileURLToPath(new URL('../test/support/fake-claude.mjs', import.meta.url));
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

const redis = await startRedisServer();
const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-bench-'));
// The bench polls hard: lift the per-key request limit.
const env = { REDIS_URL: redis.url, QUEUE_PREFIX: 'bench', DATA_DIR: dataDir, ADMIN_TOKEN, LOG_LEVEL: 'warn', TENANT_REQUESTS_PER_MINUTE: '1000000' };
const config = loadApiConfig({ ...env, PORT: '0' });
const ctx = createApiContext(config, createLogger('api', 'warn'));
await waitForRedis(ctx.redis);
const server = createApp(ctx).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const workers: AppProcess[] = [];

async function call(method: string, route: string, key: string, body?: unknown): Promise<any> {
  const res = await fetch(url + route, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

async function submit(key: string, prompt: string): Promise<{ id: string; at: number }> {
  const at = Date.now();
  const job = await call('POST', '/v1/jobs', key, { prompt });
  return { id: job.id, at };
}

async function waitAll(key: string, ids: string[]): Promise<JobView[]> {
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    const jobs: JobView[] = await Promise.all(ids.map((id) => call('GET', `/v1/jobs/${id}`, key)));
    if (jobs.every((j) => j.status === 'succeeded' || j.status === 'failed')) return jobs;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('jobs did not finish within 10 minutes');
}

const waits = (jobs: JobView[], submitted: { at: number }[]) =>
  jobs.map((j, i) => Date.parse(j.started_at!) - submitted[i]!.at).sort((x, y) => x - y);
const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;

try {
  const tenants = await Promise.all(['a', 'b', 'c', 'baseline'].map((name) => call('POST', '/v1/admin/tenants', ADMIN_TOKEN, { name })));
  const [a, b, c, base] = tenants as { id: string; api_key: string }[];
  for (let i = 0; i < WORKERS; i++) {
    workers.push(startWorkerProcess({ PATH: process.env.PATH ?? '', ...env, CLAUDE_BIN: FAKE_CLAUDE, WORKER_CONCURRENCY: String(CONCURRENCY) }));
  }
  await Promise.all(workers.map((w) => w.ready));

  // Baseline: B-sized batch on an empty queue.
  const baseSubmitted = [];
  for (let i = 0; i < OTHER_JOBS; i++) baseSubmitted.push(await submit(base!.api_key, `baseline ${i}`));
  const baseJobs = await waitAll(base!.api_key, baseSubmitted.map((s) => s.id));

  // A's backlog, then B and C.
  const started = Date.now();
  const aSubmitted = [];
  for (let i = 0; i < A_JOBS; i += 50) {
    aSubmitted.push(...(await Promise.all(Array.from({ length: Math.min(50, A_JOBS - i) }, (_, j) => submit(a!.api_key, `a ${i + j}`)))));
  }
  const bSubmitted = [];
  const cSubmitted = [];
  for (let i = 0; i < OTHER_JOBS; i++) {
    bSubmitted.push(await submit(b!.api_key, `b ${i}`));
    cSubmitted.push(await submit(c!.api_key, `c ${i}`));
  }
  const [bJobs, cJobs] = await Promise.all([
    waitAll(b!.api_key, bSubmitted.map((s) => s.id)),
    waitAll(c!.api_key, cSubmitted.map((s) => s.id)),
  ]);
  const lastOtherStart = Math.max(...[...bJobs, ...cJobs].map((j) => Date.parse(j.started_at!)));
  const aNow: JobView[] = await Promise.all(aSubmitted.map((s) => call('GET', `/v1/jobs/${s.id}`, a!.api_key)));
  const aStartedBefore = aNow.filter((j) => j.started_at && Date.parse(j.started_at) <= lastOtherStart).length;
  const aWaiting = aNow.filter((j) => j.status === 'queued').length;
  const othersArrived = bSubmitted[0]!.at;
  const aDuringOthers = aNow.filter((j) => j.started_at && Date.parse(j.started_at) >= othersArrived && Date.parse(j.started_at) <= lastOtherStart).length;

  const rows = [
    ['baseline: 20 jobs, empty queue', median(waits(baseJobs, baseSubmitted)), Math.max(...waits(baseJobs, baseSubmitted))],
    [`B: 20 jobs behind A's ${A_JOBS}`, median(waits(bJobs, bSubmitted)), Math.max(...waits(bJobs, bSubmitted))],
    [`C: 20 jobs behind A's ${A_JOBS}`, median(waits(cJobs, cSubmitted)), Math.max(...waits(cJobs, cSubmitted))],
  ];
  console.log(`\nfairness: ${WORKERS} workers x ${CONCURRENCY} slots, fake CLI, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  console.log('| who | median wait (ms) | max wait (ms) |');
  console.log('| --- | ---: | ---: |');
  for (const [who, med, max] of rows) console.log(`| ${who} | ${med} | ${max} |`);
  console.log(`\nA's jobs started before B's and C's last job started: ${aStartedBefore} of ${A_JOBS}`);
  console.log(`  of them after B and C arrived (round robin would give A about half of B+C's ${2 * OTHER_JOBS}): ${aDuringOthers}`);
  console.log(`A's jobs still waiting when B and C had all finished: ${aWaiting} of ${A_JOBS}`);
} finally {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  server.closeAllConnections();
  server.close();
  await ctx.close();
  await redis.destroy();
  await rm(dataDir, { recursive: true, force: true });
}
