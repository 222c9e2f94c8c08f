/**
 * `npm run bench:depth`: what a deep queue costs.
 *
 * BENCH_JOBS (100,000) jobs with 1 KB prompts across BENCH_TENANTS (1,000) tenants,
 * submitted through the API in bulk (autocannon in a child process, BENCH_CONNECTIONS
 * concurrent requests, the tenants' keys in turn), no worker while they queue. Measured:
 *
 * 1. Redis memory per queued job: INFO used_memory after the jobs minus before, per job,
 *    minus the 1 KB prompt. Target: ≤ 3 KB beyond the prompt. With MEMORY USAGE of one
 *    job's keys, to say where it goes.
 * 2. Submit latency at depth against an empty queue: the same BENCH_PROBE submits (same
 *    body, tenants, connections) first on the empty queue (they are the first jobs of the
 *    fill; before them, BENCH_WARMUP_JOBS submits of a tenant of their own warm the API
 *    up), then on top of the full one. Target: p99 at depth within 2× of empty.
 * 3. A new tenant's first job with the others' jobs queued: an in-process worker with a
 *    fast fake runner (answers at once) drains the backlog; BENCH_NEW_TENANTS new tenants
 *    each submit one job, one after the other, and its queue wait (started_at −
 *    created_at) is set against the wait of a job on an empty queue, measured the same
 *    way with the same worker settings before the fill. Also counted: the others' jobs
 *    that started while it waited (fair queuing puts it in the current round of the
 *    rotation: at most one job per waiting tenant ahead of it, not the backlog).
 *
 * BENCH_REDIS_CONFIG="name value,…" runs it with Redis settings changed (CONFIG SET
 * before anything), for what-ifs such as "stream-node-max-bytes 512".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, loadWorkerConfig, type JobView } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeRunner, type ClaudeWorker } from '@claude-queue/worker';
import { busyMachineWarning, fmt, instantSuccess, isMain, measure, PROMPT_1KB, startApi, startLoadGenerator, SUBMIT_BODY, type ApiHarness, type MeasuredRun, type Tenant } from './harness.js';

export interface DepthBenchOptions {
  /** Jobs queued (default: BENCH_JOBS or 100,000). */
  jobs?: number;
  /** Tenants they are spread over (default: BENCH_TENANTS or 1,000). */
  tenants?: number;
  /** Submits per latency probe, empty and at depth (default: BENCH_PROBE or 5,000). */
  probe?: number;
  /** Concurrent connections submitting (default: BENCH_CONNECTIONS or 16). */
  connections?: number;
  /** New tenants whose first job's wait is measured, and jobs on the empty queue (default: BENCH_NEW_TENANTS or 5). */
  newTenants?: number;
  /** Slots of the worker (default: BENCH_WORKER_CONCURRENCY or 8). */
  workerConcurrency?: number;
  /** Warm-up submits before the empty-queue probe, by a tenant of their own (default: BENCH_WARMUP_JOBS or 3,000). */
  warmup?: number;
}

export const DEPTH_TARGETS = { extraBytesPerJob: 3 * 1024, p99Ratio: 2 } as const;

export interface WaitSample {
  waitMs: number;
  /** Other tenants' jobs the worker started while this one waited. */
  othersStarted: number;
}

export interface DepthBenchResult {
  options: Required<DepthBenchOptions>;
  memory: {
    jobs: number;
    usedBefore: number;
    usedAfter: number;
    bytesPerJob: number;
    /** bytesPerJob minus the prompt's 1,024 bytes. */
    extraBytesPerJob: number;
    /** MEMORY USAGE of one job's keys, and its share of its tenant's sorted sets. */
    breakdown: Record<string, number>;
  };
  fillSec: number;
  fillPerSec: number;
  submitEmpty: MeasuredRun;
  submitAtDepth: MeasuredRun;
  /** Jobs waiting when the new tenants submitted. */
  queuedAtDepth: number;
  waitEmpty: WaitSample[];
  waitNewTenant: WaitSample[];
  /** Jobs/s the worker started during the new tenants' measurement. */
  drainPerSec: number;
  targets: { memory: boolean; p99: boolean; allOk: boolean };
  holds: boolean;
  wallSec: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runDepthBench(options: DepthBenchOptions = {}): Promise<DepthBenchResult> {
  const opts: Required<DepthBenchOptions> = {
    jobs: options.jobs ?? Number(process.env.BENCH_JOBS ?? 100_000),
    tenants: options.tenants ?? Number(process.env.BENCH_TENANTS ?? 1000),
    probe: options.probe ?? Number(process.env.BENCH_PROBE ?? 5000),
    connections: options.connections ?? Number(process.env.BENCH_CONNECTIONS ?? 16),
    newTenants: options.newTenants ?? Number(process.env.BENCH_NEW_TENANTS ?? 5),
    workerConcurrency: options.workerConcurrency ?? Number(process.env.BENCH_WORKER_CONCURRENCY ?? 8),
    warmup: options.warmup ?? Number(process.env.BENCH_WARMUP_JOBS ?? 3000),
  };
  if (opts.probe > opts.jobs) opts.probe = opts.jobs;
  const started = Date.now();
  const api = await startApi();
  const gen = await startLoadGenerator(api.url);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-bench-depth-'));
  // Every run the fake runner was given: when, and whose.
  const runs: Array<{ at: number; tenantId: string }> = [];
  const runner: ClaudeRunner = {
    async run(invocation) {
      runs.push({ at: Date.now(), tenantId: invocation.tenantId });
      return instantSuccess();
    },
  };
  const workerEnv = {
    ...api.env,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: String(opts.workerConcurrency),
    // The runner is the fake above: no CLI, no sandbox. The readiness probe runs the fake CLI.
    SANDBOX: 'off',
    CLAUDE_BIN: fileURLToPath(new URL('../test/support/fake-claude.mjs', import.meta.url)),
  };
  const startWorker = async (): Promise<ClaudeWorker> => {
    const w = createClaudeWorker({ config: loadWorkerConfig(workerEnv), logger: createLogger('worker', 'error'), runner });
    await w.ready;
    return w;
  };
  let worker: ClaudeWorker | null = null;

  try {
    const tenants = await api.createTenants(opts.tenants);
    const keys = tenants.map((t) => t.api_key);

    // 3 (baseline): a job's queue wait on an empty queue, with the worker idle.
    worker = await startWorker();
    const [emptyTenant] = await api.createTenants(1, 'empty-queue');
    const waitEmpty: WaitSample[] = [];
    for (let i = 0; i < opts.newTenants; i++) waitEmpty.push(await timedJob(api, emptyTenant!, runs));
    await worker.close(1000);
    worker = null;

    // 1 and 2: the fill, its first BENCH_PROBE submits on the empty queue.
    const queuedNow = async () => {
      const p = api.probe.pipeline();
      for (const t of tenants) p.zcard(api.ctx.keys.intake(t.id));
      return ((await p.exec()) ?? []).reduce((n, [, v]) => n + Number(v), 0);
    };
    // Warm-up (JIT, Redis script cache) by a tenant of its own, so the empty-queue probe
    // is not a cold start: its jobs stay queued, before the memory baseline and outside the count.
    const [warmTenant] = await api.createTenants(1, 'warm-up');
    await gen.run({ connections: opts.connections, kind: 'submit', keys: [warmTenant!.api_key], body: SUBMIT_BODY, amount: opts.warmup });
    const usedBefore = await api.usedMemory();
    const fillStarted = Date.now();
    const submitEmpty = await measure(api, gen, { connections: opts.connections, kind: 'submit', keys, body: SUBMIT_BODY, amount: opts.probe });
    const rest = opts.jobs - opts.probe;
    let fill: MeasuredRun | null = null;
    if (rest > 0) fill = await measure(api, gen, { connections: opts.connections, kind: 'submit', keys, body: SUBMIT_BODY, amount: rest });
    const fillSec = (Date.now() - fillStarted) / 1000;
    const queuedJobs = await queuedNow();
    const usedAfter = await api.usedMemory();
    const bytesPerJob = (usedAfter - usedBefore) / queuedJobs;
    const breakdown = await memoryBreakdown(api, tenants[0]!, queuedJobs / tenants.length);

    const submitAtDepth = await measure(api, gen, { connections: opts.connections, kind: 'submit', keys, body: SUBMIT_BODY, amount: opts.probe });
    const queuedAtDepth = await queuedNow();

    // 3: new tenants' first jobs while the worker drains the others' backlog.
    worker = await startWorker();
    // Let it get going on the backlog first (a few hundred jobs, or half a small one).
    const going = runs.length + Math.min(200, Math.floor(queuedAtDepth / 2));
    for (const deadline = Date.now() + 30_000; runs.length < going && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    const drainFrom = { at: Date.now(), runs: runs.length };
    const waitNewTenant: WaitSample[] = [];
    for (const t of await api.createTenants(opts.newTenants, 'new')) waitNewTenant.push(await timedJob(api, t, runs));
    const drainPerSec = ((runs.length - drainFrom.runs) / (Date.now() - drainFrom.at)) * 1000;

    const clean = (r: MeasuredRun | null) => !r || (r.non2xx === 0 && r.errors === 0 && r.timeouts === 0);
    const extraBytesPerJob = bytesPerJob - Buffer.byteLength(PROMPT_1KB);
    const targets = {
      memory: extraBytesPerJob <= DEPTH_TARGETS.extraBytesPerJob,
      p99: submitAtDepth.p99Ms <= DEPTH_TARGETS.p99Ratio * submitEmpty.p99Ms,
      allOk: clean(submitEmpty) && clean(fill) && clean(submitAtDepth) && queuedJobs === opts.jobs,
    };
    return {
      options: opts,
      memory: { jobs: queuedJobs, usedBefore, usedAfter, bytesPerJob, extraBytesPerJob, breakdown },
      fillSec,
      fillPerSec: queuedJobs / fillSec,
      submitEmpty,
      submitAtDepth,
      queuedAtDepth,
      waitEmpty,
      waitNewTenant,
      drainPerSec,
      targets,
      holds: Object.values(targets).every(Boolean),
      wallSec: (Date.now() - started) / 1000,
    };
  } finally {
    await worker?.close(1000);
    gen.close();
    await api.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Submits one job, waits for it to end (Prefer: wait), and reads its queue wait from the record. */
async function timedJob(api: ApiHarness, tenant: Tenant, runs: Array<{ at: number; tenantId: string }>): Promise<WaitSample> {
  const res = await fetch(`${api.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.api_key}`, 'content-type': 'application/json', prefer: 'wait=60' },
    body: SUBMIT_BODY,
  });
  const job = (await res.json()) as JobView;
  if (!job.started_at) throw new Error(`job ${job.id} did not start within 60 s (${res.status}, ${job.status})`);
  const created = Date.parse(job.created_at);
  const startedAt = Date.parse(job.started_at);
  const othersStarted = runs.filter((r) => r.tenantId !== tenant.id && r.at >= created && r.at < startedAt).length;
  return { waitMs: startedAt - created, othersStarted };
}

/** Where one queued job's bytes are: its keys, and its share of its tenant's sorted sets. */
async function memoryBreakdown(api: ApiHarness, tenant: Tenant, jobsPerTenant: number): Promise<Record<string, number>> {
  const k = api.ctx.keys;
  const [jobId] = await api.probe.zrange(k.tenantJobs(tenant.id), 0, 0);
  const usage = async (key: string) => Number((await api.probe.call('memory', 'usage', key, 'samples', '0')) ?? 0);
  const encoding = async (key: string) => String(await api.probe.object('ENCODING', key));
  return {
    [`job hash (${await encoding(k.job(jobId!))})`]: await usage(k.job(jobId!)),
    [`job events stream (${await encoding(k.jobEvents(jobId!))})`]: await usage(k.jobEvents(jobId!)),
    [`tenant jobs index, per job (${await encoding(k.tenantJobs(tenant.id))})`]: (await usage(k.tenantJobs(tenant.id))) / jobsPerTenant,
    [`tenant intake, per job (${await encoding(k.intake(tenant.id))})`]: (await usage(k.intake(tenant.id))) / jobsPerTenant,
  };
}

export function depthBenchTable(r: DepthBenchResult): string {
  const yes = (b: boolean) => (b ? 'holds' : 'MISSED');
  const kb = (b: number) => `${fmt(b / 1024, 2)} KB`;
  const probeRow = (name: string, m: MeasuredRun) =>
    `| ${name} | ${fmt(m.total)} | ${fmt(m.requestsPerSec)} | ${fmt(m.p50Ms, 1)} | ${fmt(m.p99Ms, 1)} | ${fmt(m.maxMs, 1)} | ${m.non2xx} | ${fmt(m.cpu.apiPct)} / ${fmt(m.cpu.redisPct)} / ${fmt(m.cpu.loadgenPct)} / ${fmt(m.cpu.otherPct)} |`;
  const waits = (xs: WaitSample[]) => xs.map((w) => w.waitMs);
  const others = (xs: WaitSample[]) => xs.map((w) => w.othersStarted);
  const lines = [
    `depth: ${fmt(r.memory.jobs)} jobs (1 KB prompts) over ${fmt(r.options.tenants)} tenants, submitted through the API by ${r.options.connections} connections in ${fmt(r.fillSec, 1)} s (${fmt(r.fillPerSec)}/s); wall time ${fmt(r.wallSec, 1)} s${process.env.BENCH_REDIS_CONFIG ? `; Redis CONFIG SET ${process.env.BENCH_REDIS_CONFIG}` : ''}`,
    '',
    '| Redis memory | value |',
    '| --- | ---: |',
    `| used_memory before / after the fill | ${fmt(r.memory.usedBefore / 2 ** 20, 1)} MB / ${fmt(r.memory.usedAfter / 2 ** 20, 1)} MB |`,
    `| per queued job | ${kb(r.memory.bytesPerJob)} |`,
    `| per queued job beyond the 1 KB prompt (target ≤ 3 KB) | ${kb(r.memory.extraBytesPerJob)} |`,
    ...Object.entries(r.memory.breakdown).map(([what, bytes]) => `| … ${what} | ${fmt(bytes)} B |`),
    '',
    `| submits (POST /v1/jobs) | requests | requests/s | p50 (ms) | p99 (ms) | max (ms) | non-2xx | CPU, % of a core: API / Redis / autocannon / rest |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    probeRow(`baseline: empty queue (after ${fmt(r.options.warmup)} warm-up submits)`, r.submitEmpty),
    probeRow(`at depth: ${fmt(r.memory.jobs)} queued`, r.submitAtDepth),
    '',
    `| queue wait (created → started) | jobs | median (ms) | max (ms) | others' jobs started meanwhile (median / max) |`,
    '| --- | ---: | ---: | ---: | ---: |',
    `| baseline: a job on an empty queue | ${r.waitEmpty.length} | ${fmt(median(waits(r.waitEmpty)))} | ${fmt(Math.max(...waits(r.waitEmpty)))} | ${median(others(r.waitEmpty))} / ${Math.max(...others(r.waitEmpty))} |`,
    `| a new tenant's first job, ${fmt(r.queuedAtDepth)} of others queued | ${r.waitNewTenant.length} | ${fmt(median(waits(r.waitNewTenant)))} | ${fmt(Math.max(...waits(r.waitNewTenant)))} | ${median(others(r.waitNewTenant))} / ${Math.max(...others(r.waitNewTenant))} |`,
    '',
    `- memory ≤ 3 KB per job beyond the prompt: ${yes(r.targets.memory)} (${kb(r.memory.extraBytesPerJob)})`,
    `- submit p99 at depth within 2× of empty: ${yes(r.targets.p99)} (${fmt(r.submitAtDepth.p99Ms, 1)} ms vs ${fmt(r.submitEmpty.p99Ms, 1)} ms: ${fmt(r.submitAtDepth.p99Ms / r.submitEmpty.p99Ms, 2)}×)`,
    `- every submit 2xx and every job queued: ${yes(r.targets.allOk)}`,
    `- each wait, empty queue: ${r.waitEmpty.map((w) => w.waitMs).join(', ')} ms; new tenants: ${r.waitNewTenant.map((w) => `${w.waitMs} ms (${w.othersStarted} others' jobs)`).join(', ')}`,
    `- new tenant's wait: ${fmt(median(waits(r.waitNewTenant)) / Math.max(1, median(waits(r.waitEmpty))), 1)}× the empty queue's (median); the worker (${r.options.workerConcurrency} slots, fake runner, in the API's process) started ${fmt(r.drainPerSec)} jobs/s meanwhile, one per tenant per round of ${fmt(r.options.tenants)}`,
    ...busyMachineWarning({ 'submits on the empty queue': r.submitEmpty, 'submits at depth': r.submitAtDepth }),
  ];
  return lines.join('\n');
}

if (isMain(import.meta.url)) {
  const result = await runDepthBench();
  console.log(`\n${depthBenchTable(result)}`);
  process.exitCode = result.holds ? 0 : 1;
}
