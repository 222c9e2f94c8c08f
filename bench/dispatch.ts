/**
 * `npm run bench:dispatch`: what one dispatch costs now (the script registered once and
 * called by its SHA, EVALSHA) against before (bench/baseline/dispatchBefore.ts: the
 * script as it was, its text sent with every call, EVAL), in one run on one Redis.
 *
 * The load is the fairness benchmark's (bench/fairness.ts): tenant A has 1,000 jobs
 * waiting, B and C 20 each; workers dispatch one job per call, as a worker with one free
 * slot does, and an idle worker's tick (nothing to dispatch) is measured too: every
 * worker sends one every 250 ms. Reported per dispatched job (per call for the idle
 * tick), the median of 7 alternating rounds of the load dispatched 5 times: Redis's CPU
 * (INFO cpu: the scripts and reading what was sent), the scripts' own time (INFO
 * commandstats), the client's CPU, and the bytes sent to Redis per call.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClaudeQueue, createKeys, JobLife, Scheduler, type EffectiveLimits, type Keys } from '@claude-queue/shared';
import { DISPATCH_BEFORE } from './baseline/dispatchBefore.js';
import { startRedisServer } from '../test/support/redisServer.js';

const UNLIMITED: EffectiveLimits = { rate: null, max_concurrency: null, max_queued: null, requests_per_minute: null, weight: 1, max_stored_bytes: null, budget_usd: null };
const LOAD = { A: 1000, B: 20, C: 20 };
const IDLE_TICKS = 2000;
/** The load dispatched this many times per round, for CPU figures above the clocks' grain. */
const REPEAT = 5;
/** Rounds of each, alternating; the median is reported. */
const ROUNDS = 7;

export interface DispatchBenchRow {
  mode: 'now: EVALSHA (registered)' | 'before: EVAL (text per call)';
  jobs: number;
  redisUsPerJob: number;
  scriptUsPerJob: number;
  clientUsPerJob: number;
  bytesPerCall: number;
  idleRedisUsPerTick: number;
  idleClientUsPerTick: number;
}

/** Redis's whole CPU (µs, user + system): the scripts and reading what was sent to it. */
async function redisUsec(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const n = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)![1]);
  return (n('used_cpu_user') + n('used_cpu_sys')) * 1e6;
}

/** The scripts' own time (µs), as Redis counts each command. */
async function scriptUsec(redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats');
  let total = 0;
  for (const m of stats.matchAll(/cmdstat_(eval|evalsha):calls=\d+,usec=(\d+)/g)) total += Number(m[2]);
  return total;
}

async function bytesIn(redis: Redis): Promise<number> {
  return Number(/total_net_input_bytes:(\d+)/.exec(await redis.info('stats'))![1]);
}

/** One round: the load submitted, then dispatched to the end one job per call, then idle ticks. */
async function round(redis: Redis, mode: DispatchBenchRow['mode']): Promise<DispatchBenchRow> {
  const keys: Keys = createKeys(`bd${randomBytes(3).toString('hex')}`);
  const scheduler = new Scheduler(redis, keys, { defaults: UNLIMITED, leaseMs: 600_000 });
  const queue = createClaudeQueue(redis, keys);
  const life = new JobLife(redis, keys, scheduler, { retentionSeconds: 3600, queue });
  for (let r = 0; r < REPEAT; r++) {
    for (const [tenant, n] of Object.entries(LOAD)) {
      await redis.hset(keys.tenant(tenant), 'id', tenant);
      for (let i = 0; i < n; i++) await life.submit(tenant, { prompt: 'x' });
    }
  }
  // The call as it was: the script's text sent every time, the tenants' keys built from the prefix.
  const k = keys;
  const evalDispatch = (room: number) =>
    redis.eval(DISPATCH_BEFORE, 4, k.schedTenants(), k.schedLastVtime(), k.schedVnow(), k.dispatched(), k.prefix, Date.now(), room, 600_000, scheduler.defaultsJson) as Promise<string[]>;
  const dispatchOne = mode === 'before: EVAL (text per call)' ? async () => (await evalDispatch(1)).length / 2 : async () => (await scheduler.dispatch(1)).length;
  // The run queue empties as workers start jobs: here, at once.
  const started = async () => void (await redis.del(k.dispatched()));

  const usec0 = await redisUsec(redis);
  const script0 = await scriptUsec(redis);
  const bytes0 = await bytesIn(redis);
  const cpu0 = process.cpuUsage();
  let jobs = 0;
  let calls = 0;
  for (;;) {
    const n = await dispatchOne();
    calls++;
    if (n === 0) break;
    jobs += n;
    await started();
  }
  const cpu = process.cpuUsage(cpu0);
  const usec = (await redisUsec(redis)) - usec0;
  const scriptUs = (await scriptUsec(redis)) - script0;
  const bytes = (await bytesIn(redis)) - bytes0;

  const idleUsec0 = await redisUsec(redis);
  const idleCpu0 = process.cpuUsage();
  for (let i = 0; i < IDLE_TICKS; i++) await dispatchOne();
  const idleCpu = process.cpuUsage(idleCpu0);
  const idleUsec = (await redisUsec(redis)) - idleUsec0;
  await queue.close();
  return {
    mode,
    jobs,
    redisUsPerJob: usec / jobs,
    scriptUsPerJob: scriptUs / jobs,
    clientUsPerJob: (cpu.user + cpu.system) / jobs,
    // The DEL after each dispatch is in both modes alike.
    bytesPerCall: bytes / calls,
    idleRedisUsPerTick: idleUsec / IDLE_TICKS,
    idleClientUsPerTick: (idleCpu.user + idleCpu.system) / IDLE_TICKS,
  };
}

export async function runDispatchBench(): Promise<DispatchBenchRow[]> {
  const server = await startRedisServer();
  const redis = new Redis(server.url);
  try {
    // Warm up both paths, then alternate so that neither gets the quieter moment.
    await round(redis, 'now: EVALSHA (registered)');
    await round(redis, 'before: EVAL (text per call)');
    const rows: DispatchBenchRow[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const order: DispatchBenchRow['mode'][] = i % 2 ? ['before: EVAL (text per call)', 'now: EVALSHA (registered)'] : ['now: EVALSHA (registered)', 'before: EVAL (text per call)'];
      for (const mode of order) rows.push(await round(redis, mode));
    }
    const mean = (mode: DispatchBenchRow['mode']) => {
      const of = rows.filter((r) => r.mode === mode);
      // The median round: this machine's noise comes in bursts.
      const avg = (f: (r: DispatchBenchRow) => number) => of.map(f).sort((a, b) => a - b)[Math.floor(of.length / 2)]!;
      return {
        mode,
        jobs: of[0]!.jobs,
        redisUsPerJob: avg((r) => r.redisUsPerJob),
        scriptUsPerJob: avg((r) => r.scriptUsPerJob),
        clientUsPerJob: avg((r) => r.clientUsPerJob),
        bytesPerCall: avg((r) => r.bytesPerCall),
        idleRedisUsPerTick: avg((r) => r.idleRedisUsPerTick),
        idleClientUsPerTick: avg((r) => r.idleClientUsPerTick),
      };
    };
    return [mean('before: EVAL (text per call)'), mean('now: EVALSHA (registered)')];
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

export function dispatchBenchTable(rows: DispatchBenchRow[]): string {
  const f = (n: number) => n.toFixed(1);
  return [
    '| dispatch call | jobs | Redis CPU µs / job | of which the script | client CPU µs / job | bytes sent / call | idle tick: Redis µs | idle tick: client µs |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.jobs} | ${f(r.redisUsPerJob)} | ${f(r.scriptUsPerJob)} | ${f(r.clientUsPerJob)} | ${Math.round(r.bytesPerCall)} | ${f(r.idleRedisUsPerTick)} | ${f(r.idleClientUsPerTick)} |`,
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(dispatchBenchTable(await runDispatchBench()));
}
