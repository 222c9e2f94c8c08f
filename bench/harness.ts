/**
 * What the API benchmarks (api.ts, depth.ts) share: a private redis-server, the API
 * built in this process (createApiContext/createApp) on a loopback port, tenants made
 * through the admin API, and the load generator (loadgen.ts) in a child process.
 *
 * The API logs as deployed: LOG_LEVEL info (one line per request), written to
 * /dev/null instead of stdout, so the cost of every line is paid but not printed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import type { ClaudeRunOutcome } from '@claude-queue/worker';
import { createApiContext, createApp, type ApiContext } from '@claude-queue/api';
import { createLogger, loadApiConfig, waitForRedis } from '@claude-queue/shared';
import { startRedisServer, type RedisServer } from '../test/support/redisServer.js';
import type { LoadResult, LoadSpec } from './loadgen.js';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** A 1 KB (1,024 bytes of ASCII) prompt, and the submit body carrying it. */
export const PROMPT_1KB = 'Summarise the following text in three sentences. '.repeat(30).slice(0, 1024);
export const SUBMIT_BODY = JSON.stringify({ prompt: PROMPT_1KB });

export interface Tenant {
  id: string;
  api_key: string;
}

export interface ApiHarness {
  url: string;
  ctx: ApiContext;
  redisServer: RedisServer;
  /** The environment the API was configured with (for a worker in the same run). */
  env: Record<string, string>;
  /** A connection of the benchmark's own, for INFO and key reads. */
  probe: Redis;
  usedMemory(): Promise<number>;
  /** redis-server's CPU time so far (user + system), ms. */
  redisCpuMs(): Promise<number>;
  /** Commands redis-server has processed so far. */
  redisCommands(): Promise<number>;
  createTenants(n: number, namePrefix?: string): Promise<Tenant[]>;
  close(): Promise<void>;
}

/** /dev/null, written line by line like pino's default (synchronous) stdout: every line is serialised and written, nobody reads them. */
function devNull(): { write(msg: string): void } {
  const fd = openSync('/dev/null', 'w');
  return { write: (msg: string) => void writeSync(fd, msg) };
}

export async function startApi(overrides: Record<string, string> = {}): Promise<ApiHarness> {
  const redisServer = await startRedisServer();
  try {
    return await startApiOn(redisServer, overrides);
  } catch (err) {
    await redisServer.destroy();
    throw err;
  }
}

async function startApiOn(redisServer: RedisServer, overrides: Record<string, string>): Promise<ApiHarness> {
  const env: Record<string, string> = {
    REDIS_URL: redisServer.url,
    QUEUE_PREFIX: 'bench',
    ADMIN_TOKEN,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    // Limits are checked on every request, but must not refuse the benchmark's load.
    TENANT_REQUESTS_PER_MINUTE: '1000000000',
    TENANT_MAX_QUEUED: '1000000000',
    ...overrides,
  };
  // BENCH_REDIS_CONFIG="name value,name value": CONFIG SET on the private Redis first (what-ifs).
  const redisConfig = (process.env.BENCH_REDIS_CONFIG ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  if (redisConfig.length) {
    const admin = new Redis(redisServer.url);
    for (const pair of redisConfig) {
      const [name, ...value] = pair.split(/\s+/);
      await admin.config('SET', name!, value.join(' '));
    }
    admin.disconnect();
  }
  const config = loadApiConfig({ ...env, PORT: '0' });
  const ctx = createApiContext(config, createLogger('api', config.LOG_LEVEL, { destination: devNull() }));
  await waitForRedis(ctx.redis);
  const server: Server = createApp(ctx).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const probe = new Redis(redisServer.url);

  const info = async (section: string, field: string) => {
    const text = await probe.info(section);
    return Number(new RegExp(`^${field}:([0-9.]+)`, 'm').exec(text)![1]);
  };

  return {
    url,
    ctx,
    redisServer,
    env,
    probe,
    usedMemory: () => info('memory', 'used_memory'),
    async redisCpuMs() {
      return ((await info('cpu', 'used_cpu_user')) + (await info('cpu', 'used_cpu_sys'))) * 1000;
    },
    redisCommands: () => info('stats', 'total_commands_processed'),
    async createTenants(n, namePrefix = 'bench') {
      const out: Tenant[] = new Array(n);
      let next = 0;
      const one = async () => {
        for (let i = next++; i < n; i = next++) {
          const res = await fetch(`${url}/v1/admin/tenants`, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name: `${namePrefix}-${i}` }),
          });
          if (res.status !== 201) throw new Error(`creating a tenant: ${res.status} ${await res.text()}`);
          out[i] = (await res.json()) as Tenant;
        }
      };
      await Promise.all(Array.from({ length: Math.min(20, n) }, one));
      return out;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await ctx.close();
      probe.disconnect();
      await redisServer.destroy();
    },
  };
}

export interface LoadGenerator {
  run(spec: Omit<LoadSpec, 'url'>): Promise<LoadResult>;
  close(): void;
}

/** Forks loadgen.ts (plain `--import tsx`: none of this process's flags, such as --cpu-prof). */
export async function startLoadGenerator(url: string): Promise<LoadGenerator> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./loadgen.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, CQ_BENCH_LOADGEN: '1', NODE_OPTIONS: '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
  });
  return {
    run(spec) {
      return new Promise((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}`));
        child.once('exit', onExit);
        child.once('message', (msg: { result?: LoadResult; error?: string }) => {
          child.off('exit', onExit);
          if (msg.result) resolve(msg.result);
          else reject(new Error(`load generator: ${msg.error}`));
        });
        child.send({ ...spec, url });
      });
    },
    close() {
      child.disconnect();
    },
  };
}

/** Machine-wide CPU time so far (all cores), busy and total, ms (from /proc/stat). */
function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy * tick, total: (busy + idle! + iowait!) * tick };
}

/**
 * A load run with the CPU each process used meanwhile, as % of one core (2 cores: 200).
 * `otherPct` is what the rest of the machine used in the same time: above a few %, the
 * run shared the cores with something else and its figures are low.
 */
export interface MeasuredRun extends LoadResult {
  cpu: { apiPct: number; redisPct: number; loadgenPct: number; otherPct: number };
  /** Redis commands per request (MULTI and EXEC count; the benchmark's own INFO calls are a handful). */
  redisCommandsPerRequest: number;
}

/**
 * With BENCH_CPU_PROFILE=<dir>, the API process's CPU profile of the run is written to
 * `<dir>/<name>.cpuprofile` (V8's sampling profiler, through node:inspector; it costs a
 * little throughput, so profile in a run of its own). `npm run bench:profile-top` reads it.
 */
async function profiled<T>(name: string | undefined, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_CPU_PROFILE;
  if (!dir || !name) return fn();
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await post('Profiler.stop');
    session.disconnect();
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}

export async function measure(api: ApiHarness, gen: LoadGenerator, spec: Omit<LoadSpec, 'url'>, profileName?: string): Promise<MeasuredRun> {
  return profiled(profileName, () => measureRun(api, gen, spec));
}

async function measureRun(api: ApiHarness, gen: LoadGenerator, spec: Omit<LoadSpec, 'url'>): Promise<MeasuredRun> {
  const apiCpu = process.cpuUsage();
  const redisCpu = await api.redisCpuMs();
  const commands = await api.redisCommands();
  const machine = machineCpuMs();
  const t0 = performance.now();
  const r = await gen.run(spec);
  const wallMs = performance.now() - t0;
  const machineBusy = machineCpuMs().busy - machine.busy;
  const apiUsed = process.cpuUsage(apiCpu);
  const redisUsed = (await api.redisCpuMs()) - redisCpu;
  const redisCommandsPerRequest = ((await api.redisCommands()) - commands) / Math.max(1, r.total);
  const pct = (ms: number) => (ms / wallMs) * 100;
  const apiMs = (apiUsed.user + apiUsed.system) / 1000;
  return {
    ...r,
    cpu: {
      apiPct: pct(apiMs),
      redisPct: pct(redisUsed),
      loadgenPct: pct(r.cpuMs),
      otherPct: Math.max(0, pct(machineBusy - apiMs - redisUsed - r.cpuMs)),
    },
    redisCommandsPerRequest,
  };
}

/** A warning when other processes took more than `limitPct` of a core during any of the runs: their figures are low. */
export function busyMachineWarning(runs: Record<string, MeasuredRun>, limitPct = 25): string[] {
  return Object.entries(runs)
    .filter(([, r]) => r.cpu.otherPct > limitPct)
    .map(([name, r]) => `- WARNING: other processes used ${fmt(r.cpu.otherPct)}% of a core during "${name}": its figures are not the API's alone; run again on an idle machine`);
}

export const isMain = (metaUrl: string) => process.argv[1] !== undefined && fileURLToPath(metaUrl) === process.argv[1];

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** What the CLI reports after a successful run, at once: a runner double for benchmarks of everything but the CLI. */
export function instantSuccess(): ClaudeRunOutcome {
  return {
    result: {
      type: 'result',
      subtype: 'success',
      is_error: false,
      api_error_status: null,
      result: 'ok',
      session_id: randomUUID(),
      num_turns: 1,
      duration_ms: 1,
      total_cost_usd: 0.0001,
      usage: { input_tokens: 10, output_tokens: 2 },
    },
    exitCode: 0,
    signal: null,
    timedOut: false,
    aborted: false,
    stderrTail: '',
    unparseable: false,
    wallMs: 1,
  };
}
