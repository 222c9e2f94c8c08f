/**
 * The service against running the CLI directly, in each WARM_POOL mode, with the real
 * CLI against the fake model API on loopback, every run sandboxed (bubblewrap):
 *
 * 1. Overhead: one job at a time, submit → result visible (`POST /v1/jobs` with
 *    `Prefer: wait`, which answers when the job is final), against the CLI's own wall
 *    time for the same run done directly (cold: a `claude --print` spawn in the same
 *    sandbox; prespawn: the first turn of a process started ahead; reuse: a turn of a
 *    kept process after `/clear`).
 * 2. Throughput at saturation: BENCH_JOBS jobs submitted at once through the service
 *    (1 API, 1 worker, WORKER_CONCURRENCY slots), against the same prompts run directly
 *    as that many parallel `claude --print` processes with the same flags and sandbox.
 * 3. Latency: median and p99 of (1), by mode.
 * 4. CPU and memory: the machine's busy CPU seconds per job during (2) (/proc/stat: every
 *    process a job costs, wherever it runs), the peak resident memory of the runs'
 *    processes, and an idle pooled process's.
 *
 * Jobs of one at a time come 1.5 s apart, as separate requests would: long enough for a
 * prespawned process to be ready (what `prespawn` is for), the same for every mode.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createApiContext, createApp } from '@claude-queue/api';
import { conversationPaths, createLogger, loadApiConfig, loadWorkerConfig, waitForRedis, type JobView } from '@claude-queue/shared';
import { buildChildEnv, buildClaudeArgs, createClaudeWorker, createSandbox, createSpawnRunner, resolveClaudeBin, withStreamInput } from '@claude-queue/worker';
import { StreamProcess } from '../apps/worker/src/pool/streamProcess.js';
import { processTree } from '../apps/worker/src/pool/processTree.js';
import { startFakeAnthropic } from '../test/support/fakeAnthropic.js';
import { startRedisServer } from '../test/support/redisServer.js';

export type PoolMode = 'off' | 'prespawn' | 'reuse';

export interface ServiceBenchOptions {
  /** Jobs in the saturation run (default: BENCH_JOBS or 300). */
  jobs?: number;
  /** Jobs one at a time, per mode (default: BENCH_SEQUENTIAL or 15). */
  sequential?: number;
  /** Worker slots, and the direct run's parallel processes (default: 2). */
  concurrency?: number;
  modes?: PoolMode[];
  /** Prompts of the direct baseline of (2) (default: as many as jobs). */
  directJobs?: number;
}

export interface Distribution {
  median: number;
  p99: number;
}

export interface ModeResult {
  mode: PoolMode;
  /** (1), (3): submit → final, ms. */
  endToEndMs: Distribution;
  /** The CLI's own wall time for the same run, directly, ms. */
  directMs: Distribution;
  /** (2) */
  jobsPerSecond: number;
  /** (4) */
  cpuSecondsPerJob: number;
  /** Of which this process (API, worker, egress proxies, the fake model) and Redis. */
  serviceCpuSecondsPerJob: number;
  peakRunMemoryMb: number;
  idlePooledProcessMb: number | null;
}

export interface ServiceBenchResult {
  jobs: number;
  concurrency: number;
  /** The direct baseline of (2): parallel `claude --print`. */
  direct: { jobsPerSecond: number; cpuSecondsPerJob: number };
  modes: ModeResult[];
}

const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const TICKS_PER_SECOND = 100;
const GAP_MS = 1500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function machineBusySeconds(): number {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks as number[];
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
}

export function distribution(values: number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { median: s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2, p99: at(0.99) };
}

/** Resident memory of every process below this one but this one (CLI runs, sandboxes), sampled until stopped. */
function sampleRunMemory(): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    const mine = process.pid;
    const bytes = processTree(mine)
      .filter((p) => p.pid !== mine)
      .reduce((sum, p) => sum + p.rssBytes, 0);
    peak = Math.max(peak, bytes);
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return peak / 2 ** 20;
    },
  };
}

export async function runServiceBench(options: ServiceBenchOptions = {}): Promise<ServiceBenchResult> {
  const jobs = options.jobs ?? Number(process.env.BENCH_JOBS ?? 300);
  const sequential = options.sequential ?? Number(process.env.BENCH_SEQUENTIAL ?? 15);
  const concurrency = options.concurrency ?? 2;
  const modes = options.modes ?? ['off', 'prespawn', 'reuse'];
  const directJobs = options.directJobs ?? jobs;

  const redisServer = await startRedisServer();
  const model = await startFakeAnthropic();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-bench-service-'));
  const env = {
    REDIS_URL: redisServer.url,
    QUEUE_PREFIX: 'svc',
    DATA_DIR: dataDir,
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    TENANT_REQUESTS_PER_MINUTE: '100000000',
    TENANT_MAX_QUEUED: '1000000',
    // The saturation run long-polls every one of its jobs at once, all of one tenant.
    MAX_STREAMS_PER_TENANT: '1000000',
    WORKER_CONCURRENCY: String(concurrency),
    WARM_POOL_SIZE: String(concurrency),
  };
  const cliEnv = { PATH: process.env.PATH, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'sk-ant-bench' };
  const logger = createLogger('bench', 'warn');
  const ctx = createApiContext(loadApiConfig({ ...env, PORT: '0' }), createLogger('api', 'warn'));
  await waitForRedis(ctx.redis);
  const server = createApp(ctx).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const sandbox = createSandbox({ config: loadWorkerConfig(env), claudeBin: resolveClaudeBin(undefined), env: cliEnv, logger });
  await sandbox.start();
  const args = buildClaudeArgs({ prompt: '' });
  const childEnv = buildChildEnv(cliEnv, { maxRetries: 0 });
  let run = 0;
  const freshDirs = async () => {
    const id = `direct-${run++}`;
    const dirs = conversationPaths(dataDir, 'direct', id);
    await Promise.all([mkdir(dirs.workspace, { recursive: true }), mkdir(dirs.home, { recursive: true })]);
    return { id, dirs };
  };

  /** One `claude --print` in the sandbox, as a WARM_POOL=off job runs, ms. */
  const directCold = async (prompt: string) => {
    const { id, dirs } = await freshDirs();
    const outcome = await createSpawnRunner({ sandbox }).run({ tenantId: 'direct', jobId: id, args, env: childEnv, hosts: [], conversation: { id, paths: dirs, continued: false }, prompt, timeoutMs: 120_000 });
    if (outcome.result?.is_error !== false) throw new Error(`a direct run failed: ${outcome.stderrTail}`);
    return outcome.wallMs;
  };

  const directPooled = async (mode: 'prespawn' | 'reuse'): Promise<number[]> => {
    const walls: number[] = [];
    if (mode === 'reuse') {
      const { dirs } = await freshDirs();
      const p = new StreamProcess(await sandbox.prepare({ args: withStreamInput(args), dirs, env: childEnv, hosts: [] }), 1000);
      await p.turn({ prompt: 'warm up', timeoutMs: 120_000 });
      for (let i = 0; i < sequential; i++) {
        await p.reset(5000);
        const outcome = await p.turn({ prompt: `direct reuse ${i}`, timeoutMs: 120_000 });
        walls.push(outcome.wallMs);
      }
      p.retire('shutdown');
      await p.whenExited();
    } else {
      for (let i = 0; i < sequential; i++) {
        const { dirs } = await freshDirs();
        const p = new StreamProcess(await sandbox.prepare({ args: withStreamInput(args), dirs, env: childEnv, hosts: [] }), 1000);
        await sleep(GAP_MS); // started ahead, as the pool does
        walls.push((await p.turn({ prompt: `direct prespawn ${i}`, timeoutMs: 120_000 })).wallMs);
        p.retire('shutdown');
        await p.whenExited();
      }
    }
    return walls;
  };

  const createTenant = async (name: string) =>
    (await (
      await fetch(`${url}/v1/admin/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      })
    ).json()) as { id: string; api_key: string };

  const submit = async (key: string, prompt: string, wait: boolean): Promise<JobView> => {
    const res = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(wait ? { prefer: 'wait=60' } : {}) },
      body: JSON.stringify({ prompt }),
    });
    return (await res.json()) as JobView;
  };

  const waitFinal = async (key: string, id: string): Promise<JobView> => {
    for (;;) {
      const res = await fetch(`${url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}`, prefer: 'wait=60' } });
      const job = (await res.json()) as JobView;
      if (['succeeded', 'failed', 'canceled'].includes(job.status)) return job;
    }
  };

  const results: ModeResult[] = [];
  let direct: ServiceBenchResult['direct'] | null = null;
  try {
    // The direct baseline of (2): `concurrency` parallel claude --print, as many prompts.
    {
      const cpu0 = machineBusySeconds();
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < directJobs) await directCold(`direct saturation ${next++}`);
        }),
      );
      direct = { jobsPerSecond: directJobs / ((performance.now() - t0) / 1000), cpuSecondsPerJob: (machineBusySeconds() - cpu0) / directJobs };
      console.error(`direct: ${direct.jobsPerSecond.toFixed(2)} jobs/s`);
    }

    for (const mode of modes) {
      const worker = createClaudeWorker({ config: loadWorkerConfig({ ...env, WARM_POOL: mode }), logger: createLogger('worker', 'warn'), env: cliEnv });
      await worker.ready;
      const tenant = await createTenant(`bench-${mode}`);
      try {
        // (1)/(3): one at a time.
        const walls: number[] = [];
        await submit(tenant.api_key, 'first of its kind', true); // the signature's first job starts the pool's demand
        for (let i = 0; i < sequential; i++) {
          await sleep(GAP_MS);
          const t0 = performance.now();
          const job = await submit(tenant.api_key, `one at a time ${i}`, true);
          if (job.status !== 'succeeded') throw new Error(`${mode}: a job ended ${job.status}: ${JSON.stringify(job.error)}`);
          walls.push(performance.now() - t0);
        }
        const directWalls =
          mode === 'off' ? await (async () => { const w: number[] = []; for (let i = 0; i < sequential; i++) { await sleep(GAP_MS); w.push(await directCold(`direct one ${i}`)); } return w; })() : await directPooled(mode);
        await sleep(GAP_MS);
        const idleMb = mode === 'off' ? null : idleRssMb(await worker.metrics.registry.getSingleMetricAsString('claude_pool_idle_rss_bytes'), await worker.metrics.registry.getSingleMetricAsString('claude_pool_processes'));

        // (2)/(4): all at once.
        const memory = sampleRunMemory();
        const own0 = process.cpuUsage();
        const redis0 = await redisCpuSeconds(ctx.redis);
        const cpu0 = machineBusySeconds();
        const t0 = performance.now();
        const submitted = await Promise.all(Array.from({ length: jobs }, (_, i) => submit(tenant.api_key, `saturation ${mode} ${i}`, false)));
        const finals = await Promise.all(submitted.map((j) => waitFinal(tenant.api_key, j.id)));
        const seconds = (performance.now() - t0) / 1000;
        const cpu = machineBusySeconds() - cpu0;
        const own = process.cpuUsage(own0);
        const serviceCpu = (own.user + own.system) / 1e6 + ((await redisCpuSeconds(ctx.redis)) - redis0);
        const peakMb = memory.stop();
        const failed = finals.filter((j) => j.status !== 'succeeded').length;
        if (failed) throw new Error(`${mode}: ${failed} of ${jobs} jobs did not succeed`);
        results.push({
          mode,
          endToEndMs: distribution(walls),
          directMs: distribution(directWalls),
          jobsPerSecond: jobs / seconds,
          cpuSecondsPerJob: cpu / jobs,
          serviceCpuSecondsPerJob: serviceCpu / jobs,
          peakRunMemoryMb: peakMb,
          idlePooledProcessMb: idleMb,
        });
        console.error(`${mode}: ${(jobs / seconds).toFixed(2)} jobs/s, e2e median ${distribution(walls).median.toFixed(0)} ms`);
      } finally {
        await worker.close(5000);
      }
    }
  } finally {
    await sandbox.close();
    server.closeAllConnections();
    server.close();
    await ctx.close();
    await model.close();
    await redisServer.destroy();
    await rm(dataDir, { recursive: true, force: true });
  }
  return { jobs, concurrency, direct: direct!, modes: results };
}

async function redisCpuSeconds(redis: { info(section: string): Promise<string> }): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** Memory of one idle pooled process, from the worker's own gauges. */
function idleRssMb(rssText: string, processesText: string): number | null {
  const bytes = Number(/^claude_pool_idle_rss_bytes (\S+)$/m.exec(rssText)?.[1] ?? NaN);
  const idle = Number(/^claude_pool_processes\{state="idle"\} (\S+)$/m.exec(processesText)?.[1] ?? NaN);
  return idle > 0 ? bytes / idle / 2 ** 20 : null;
}

export function formatServiceBench(r: ServiceBenchResult): string {
  const byMode = (m: PoolMode) => r.modes.find((x) => x.mode === m);
  const cold = byMode('off');
  const rows = r.modes.map((m) => {
    const overhead = m.endToEndMs.median - m.directMs.median;
    return `| ${m.mode} | ${m.endToEndMs.median.toFixed(0)} | ${m.endToEndMs.p99.toFixed(0)} | ${m.directMs.median.toFixed(0)} | ${overhead.toFixed(0)} | ${m.jobsPerSecond.toFixed(2)} | ${m.cpuSecondsPerJob.toFixed(2)} (${m.serviceCpuSecondsPerJob.toFixed(2)}) | ${m.peakRunMemoryMb.toFixed(0)} | ${m.idlePooledProcessMb === null ? '–' : m.idlePooledProcessMb.toFixed(0)} |`;
  });
  const lines = [
    `| WARM_POOL | e2e median ms | e2e p99 ms | CLI directly, median ms | added by the service ms | jobs/s at saturation | CPU s per job (of which API, worker, Redis) | peak runs' memory MB | idle pooled process MB |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Direct baseline of the saturation run: ${r.concurrency} parallel \`claude --print\` in the sandbox, ${r.jobs} prompts: ${r.direct.jobsPerSecond.toFixed(2)} jobs/s, ${r.direct.cpuSecondsPerJob.toFixed(2)} CPU s per job.`,
  ];
  if (cold) {
    lines.push(`Cold through the service / direct: ${(cold.jobsPerSecond / r.direct.jobsPerSecond).toFixed(2)}× (target ≥ 0.9×).`);
    for (const m of r.modes.filter((x) => x.mode !== 'off')) {
      lines.push(
        `${m.mode}: throughput ${(m.jobsPerSecond / cold.jobsPerSecond).toFixed(1)}× cold (target for reuse ≥ 10×), median latency ${(cold.endToEndMs.median / m.endToEndMs.median).toFixed(1)}× lower than cold (target for reuse ≥ 10×).`,
      );
    }
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runServiceBench();
  console.log(`\nService against the CLI directly (${cpus().length} cores, ${result.jobs} jobs at saturation, ${result.concurrency} slots)\n`);
  console.log(formatServiceBench(result));
}
