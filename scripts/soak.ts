/**
 * `npm run soak` (not part of `npm test`): one tenant can't take down the others.
 *
 * A flooding tenant submits and cancels jobs at its full request rate
 * (`requests_per_minute`, default 600) with every field near its maximum size, for
 * SOAK_SECONDS (default 300), while a steady tenant submits one ordinary job a second.
 * The baseline, in the same run: the steady tenant alone for SOAK_BASELINE_SECONDS
 * (default 60) first. What must hold:
 * - every job of the steady tenant succeeds, with its submit → final latency (p50, p99)
 *   as in the baseline;
 * - Redis `used_memory` stays within the flooding tenant's `max_stored_bytes`
 *   (SOAK_QUOTA_MB, default 64) plus a stated margin over the baseline's, however long
 *   the flood goes on: the quota refuses what would not fit (429 storage_full), and
 *   finished records expire after SOAK_RETENTION_SECONDS (default 60).
 *
 * Everything runs here: a private redis-server, the API in this process, two worker
 * processes' worth of workers in this process with a runner double that takes
 * SOAK_RUN_MS (default 200 ms) per job in place of the CLI (this measures the service's
 * shared parts, not the model). Exit code 0 only if every claim holds.
 */
import { createLogger, defaultTenantLimits, loadWorkerConfig } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeRunner } from '@claude-queue/worker';
import { ADMIN_TOKEN, fmt, instantSuccess, startApi } from '../bench/harness.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const BASELINE_SECONDS = Number(process.env.SOAK_BASELINE_SECONDS ?? 60);
const QUOTA = Number(process.env.SOAK_QUOTA_MB ?? 64) * 2 ** 20;
const RETENTION_SECONDS = Number(process.env.SOAK_RETENTION_SECONDS ?? 60);
const RUN_MS = Number(process.env.SOAK_RUN_MS ?? 200);
/** What Redis may hold beyond the baseline and the quota: allocator rounding of large values (jemalloc's size classes are up to 25% apart) and the keys around the records. */
const MARGIN = { fraction: 0.25, bytes: 16 * 2 ** 20 };

const runner: ClaudeRunner = {
  run: async () => {
    await new Promise((r) => setTimeout(r, RUN_MS));
    return instantSuccess();
  },
};

/** A job request with every field near what the API accepts. */
function floodRequest(i: number): Record<string, unknown> {
  const text = (n: number) => `flood ${i} `.padEnd(n, 'x');
  return {
    prompt: text(256 * 1024 - 64),
    system_prompt: text(32 * 1024),
    append_system_prompt: text(32 * 1024),
    json_schema: { type: 'object', description: text(30 * 1024) },
    metadata: { note: text(3500) },
    allowed_tools: Array.from({ length: 50 }, (_, t) => `mcp__flood${t}__tool_${'y'.repeat(40)}`),
  };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

const api = await startApi({ JOB_RETENTION_HOURS: String(RETENTION_SECONDS / 3600), LOG_LEVEL: 'warn', TENANT_REQUESTS_PER_MINUTE: '600', TENANT_MAX_QUEUED: '10000' });
const workerConfig = loadWorkerConfig({ ...api.env, WORKER_CONCURRENCY: '4', LOG_LEVEL: 'warn' });
const workers = [1, 2].map(() => createClaudeWorker({ config: workerConfig, logger: createLogger('worker', 'warn'), runner }));
let failed = false;
try {
  await Promise.all(workers.map((w) => w.ready));
  const admin = async (body: unknown) => {
    const res = await fetch(`${api.url}/v1/admin/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`creating a tenant: ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string; api_key: string };
  };
  const flood = await admin({ name: 'flood', limits: { max_stored_bytes: QUOTA } });
  const steady = await admin({ name: 'steady' });
  const call = (key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });

  /** The steady tenant: one job a second, each timed from submit to its final answer (long-poll). */
  async function steadyPhase(seconds: number): Promise<{ latencies: number[]; succeeded: number; other: number }> {
    const latencies: number[] = [];
    let succeeded = 0;
    let other = 0;
    const one = async (i: number) => {
      const t = performance.now();
      const res = await call(steady.api_key, 'POST', '/v1/jobs', { prompt: `steady ${i}` }, { prefer: 'wait=30' });
      let job = (await res.json()) as { id: string; status: string };
      while (res.status < 300 && !['succeeded', 'failed', 'canceled'].includes(job.status)) {
        job = (await (await call(steady.api_key, 'GET', `/v1/jobs/${job.id}`, undefined, { prefer: 'wait=30' })).json()) as typeof job;
      }
      latencies.push(performance.now() - t);
      if (job.status === 'succeeded') succeeded++;
      else other++;
    };
    const runs: Promise<void>[] = [];
    for (let i = 0; i < seconds; i++) {
      runs.push(one(i));
      await new Promise((r) => setTimeout(r, 1000));
    }
    await Promise.all(runs);
    return { latencies, succeeded, other };
  }

  const baseMemory = await api.usedMemory();
  const baseline = await steadyPhase(BASELINE_SECONDS);
  const afterBaseline = await api.usedMemory();

  // The flood: submit, cancel, as fast as its rate limit lets it (429s are answered and counted).
  const codes = new Map<string, number>();
  const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1);
  let stop = false;
  let maxMemory = 0;
  let maxLua = 0;
  let maxStored = 0;
  const sampler = setInterval(async () => {
    const info = await api.probe.info('memory');
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    maxMemory = Math.max(maxMemory, field('used_memory'));
    maxLua = Math.max(maxLua, field('used_memory_vm_eval'));
    maxStored = Math.max(maxStored, Number((await api.probe.hget(api.ctx.keys.tenantStored(flood.id), '*total')) ?? 0));
  }, 500);
  // Serialised once per lane: the flood's own JSON work is not the API's.
  const bodies = [0, 1, 2, 3].map((lane) => JSON.stringify(floodRequest(lane)));
  const floodLoop = async (lane: number) => {
    while (!stop) {
      const res = await fetch(`${api.url}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${flood.api_key}`, 'content-type': 'application/json' }, body: bodies[lane] });
      const body = (await res.json()) as { id?: string; code?: string };
      count(res.status === 202 ? 'accepted' : (body.code ?? String(res.status)));
      if (res.status === 202) count((await call(flood.api_key, 'POST', `/v1/jobs/${body.id}/cancel`)).status === 200 ? 'canceled' : 'cancel refused');
      if (res.status === 429) await new Promise((r) => setTimeout(r, 200));
    }
  };
  const lanes = [0, 1, 2, 3].map(floodLoop);
  const during = await steadyPhase(SECONDS);
  stop = true;
  await Promise.all(lanes);
  clearInterval(sampler);
  const stored = (await api.ctx.usage.standing(flood.id, { ...defaultTenantLimits(api.ctx.config), max_stored_bytes: QUOTA })).stored_bytes;

  const bound = afterBaseline + QUOTA * (1 + MARGIN.fraction) + MARGIN.bytes;
  const row = (name: string, r: Awaited<ReturnType<typeof steadyPhase>>) =>
    `| ${name} | ${r.latencies.length} | ${r.succeeded} | ${fmt(quantile(r.latencies, 0.5))} | ${fmt(quantile(r.latencies, 0.99))} |`;
  console.log(`\nsoak: ${SECONDS} s of flood after a ${BASELINE_SECONDS} s baseline; flood quota ${fmt(QUOTA / 2 ** 20)} MiB, retention ${RETENTION_SECONDS} s, runs ${RUN_MS} ms\n`);
  console.log('| the steady tenant | jobs | succeeded | submit → final p50 (ms) | p99 (ms) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  console.log(row('baseline: alone', baseline));
  console.log(row('beside the flood', during));
  console.log(`\nflood requests: ${[...codes].map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
  console.log(`flood's stored bytes: at most ${fmt(maxStored / 2 ** 20, 1)} MiB, ${fmt(stored / 2 ** 20, 1)} MiB at the end, of ${fmt(QUOTA / 2 ** 20)} MiB; Lua's memory at most ${fmt(maxLua / 2 ** 20, 1)} MiB`);
  console.log(`Redis used_memory: ${fmt(baseMemory / 2 ** 20, 1)} MiB at start, ${fmt(afterBaseline / 2 ** 20, 1)} MiB after the baseline, at most ${fmt(maxMemory / 2 ** 20, 1)} MiB during the flood (bound: ${fmt(bound / 2 ** 20, 1)} MiB = after the baseline + quota × ${1 + MARGIN.fraction} + ${MARGIN.bytes / 2 ** 20} MiB)`);
  const checks: Array<[string, boolean]> = [
    ['every steady job succeeded', baseline.other === 0 && during.other === 0 && during.succeeded === SECONDS],
    ['steady p99 within 1.5× of the baseline (+50 ms)', quantile(during.latencies, 0.99) <= 1.5 * quantile(baseline.latencies, 0.99) + 50],
    ['Redis memory within the bound', maxMemory <= bound],
    ['the flood was refused for storage', (codes.get('storage_full') ?? 0) > 0],
  ];
  for (const [what, ok] of checks) console.log(`- ${what}: ${ok ? 'holds' : 'MISSED'}`);
  failed = checks.some(([, ok]) => !ok);
} finally {
  await Promise.all(workers.map((w) => w.close(1000)));
  await api.close();
}
process.exit(failed ? 1 : 0);
