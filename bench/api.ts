/**
 * `npm run bench:api`: API throughput and latency under saturating load.
 *
 * The API (built in this process, as deployed: request logging at info, tenant auth,
 * request-rate counting, validation, queue quotas) on a loopback port against a private
 * redis-server, BENCH_TENANTS tenants with their keys, no worker (jobs just queue).
 * autocannon, in a child process (loadgen.ts says why), drives each endpoint for
 * BENCH_DURATION seconds over BENCH_CONNECTIONS keep-alive connections, after a short
 * warm-up:
 *   - baseline: GET /healthz, the framework's floor (Express, pino-http, no Redis);
 *   - POST /v1/jobs, a valid body with a 1 KB prompt, the tenants' keys in turn;
 *   - GET /v1/jobs/{id} of jobs the submits created.
 * Targets (2 cores): ≥ 2,000 submits/s, ≥ 5,000 gets/s, p99 < 50 ms, no non-2xx.
 *
 * The limits that would refuse the load (requests_per_minute, max_queued) are raised
 * through TENANT_* but still checked on every request.
 *
 * Connections: one API process is saturated (its event loop busy all the time) from 4
 * connections on; more add only queueing, so throughput stays flat while latency grows
 * with them (Little's law: mean latency = connections / throughput). 16 saturates with
 * room to spare; the p99 figure is for that many requests in flight.
 *
 * BENCH_CPU_PROFILE=<dir> writes the API's CPU profile of each measured run
 * (`npm run bench:profile-top -- <dir>/submit.cpuprofile` summarises one).
 */
import { busyMachineWarning, fmt, isMain, measure, startApi, startLoadGenerator, SUBMIT_BODY, type MeasuredRun } from './harness.js';

export interface ApiBenchOptions {
  /** Seconds per measured run (default: BENCH_DURATION or 10). */
  durationSec?: number;
  /** Seconds of warm-up per endpoint, not counted (default: BENCH_WARMUP or 3). */
  warmupSec?: number;
  /** Concurrent keep-alive connections (default: BENCH_CONNECTIONS or 16). */
  connections?: number;
  /** Tenants submitting and reading (default: BENCH_TENANTS or 10). */
  tenants?: number;
}

export const API_TARGETS = { submitsPerSec: 2000, getsPerSec: 5000, p99Ms: 50 } as const;

export interface ApiBenchResult {
  options: Required<ApiBenchOptions>;
  /** GET /healthz: what Express and the logging cost without any Redis work. */
  baseline: MeasuredRun;
  submit: MeasuredRun;
  get: MeasuredRun;
  /** Jobs waiting in the tenants' intakes at the end. */
  jobsQueued: number;
  targets: {
    submitsPerSec: boolean;
    getsPerSec: boolean;
    p99: boolean;
    /** No non-2xx answer and no connection error in any run. */
    allOk: boolean;
  };
  holds: boolean;
  wallSec: number;
}

export async function runApiBench(options: ApiBenchOptions = {}): Promise<ApiBenchResult> {
  const opts: Required<ApiBenchOptions> = {
    durationSec: options.durationSec ?? Number(process.env.BENCH_DURATION ?? 10),
    warmupSec: options.warmupSec ?? Number(process.env.BENCH_WARMUP ?? 3),
    connections: options.connections ?? Number(process.env.BENCH_CONNECTIONS ?? 16),
    tenants: options.tenants ?? Number(process.env.BENCH_TENANTS ?? 10),
  };
  const started = Date.now();
  const api = await startApi();
  const gen = await startLoadGenerator(api.url);
  try {
    const tenants = await api.createTenants(opts.tenants);
    const keys = tenants.map((t) => t.api_key);
    const base = { connections: opts.connections };
    const getPairs = async (perTenant: number): Promise<Array<[string, string]>> => {
      const pairs: Array<[string, string]> = [];
      for (const t of tenants) {
        for (const id of await api.probe.zrange(api.ctx.keys.tenantJobs(t.id), 0, perTenant - 1)) pairs.push([t.api_key, id]);
      }
      // Interleave tenants and jobs rather than reading one tenant's jobs in a row.
      return pairs.sort(() => Math.random() - 0.5);
    };

    // Warm-up: JIT, connection pools, Redis script cache. Not counted.
    if (opts.warmupSec > 0) {
      await gen.run({ ...base, kind: 'health', duration: opts.warmupSec });
      await gen.run({ ...base, kind: 'submit', keys, body: SUBMIT_BODY, duration: opts.warmupSec });
      await gen.run({ ...base, kind: 'get', gets: await getPairs(200), duration: opts.warmupSec });
    }

    const baseline = await measure(api, gen, { ...base, kind: 'health', duration: opts.durationSec }, 'healthz');
    const submit = await measure(api, gen, { ...base, kind: 'submit', keys, body: SUBMIT_BODY, duration: opts.durationSec }, 'submit');
    const get = await measure(api, gen, { ...base, kind: 'get', gets: await getPairs(1000), duration: opts.durationSec }, 'get');

    let jobsQueued = 0;
    for (const t of tenants) jobsQueued += await api.ctx.scheduler.queued(t.id);
    const clean = (r: MeasuredRun) => r.non2xx === 0 && r.errors === 0 && r.timeouts === 0;
    const targets = {
      submitsPerSec: submit.requestsPerSec >= API_TARGETS.submitsPerSec,
      getsPerSec: get.requestsPerSec >= API_TARGETS.getsPerSec,
      p99: submit.p99Ms < API_TARGETS.p99Ms && get.p99Ms < API_TARGETS.p99Ms,
      allOk: clean(baseline) && clean(submit) && clean(get),
    };
    return {
      options: opts,
      baseline,
      submit,
      get,
      jobsQueued,
      targets,
      holds: Object.values(targets).every(Boolean),
      wallSec: (Date.now() - started) / 1000,
    };
  } finally {
    gen.close();
    await api.close();
  }
}

export function apiBenchTable(r: ApiBenchResult): string {
  const row = (name: string, m: MeasuredRun) =>
    `| ${name} | ${fmt(m.requestsPerSec)} | ${fmt(m.p50Ms, 1)} | ${fmt(m.p99Ms, 1)} | ${fmt(m.maxMs, 1)} | ${fmt(m.total)} | ${m.non2xx} | ${m.errors} | ${fmt(m.redisCommandsPerRequest, 1)} | ${fmt(m.cpu.apiPct)} / ${fmt(m.cpu.redisPct)} / ${fmt(m.cpu.loadgenPct)} / ${fmt(m.cpu.otherPct)} |`;
  const yes = (b: boolean) => (b ? 'holds' : 'MISSED');
  return [
    `api: ${r.options.connections} connections, ${r.options.durationSec} s per endpoint (after ${r.options.warmupSec} s warm-up), ${r.options.tenants} tenants, autocannon in a child process`,
    '',
    '| endpoint | requests/s | p50 (ms) | p99 (ms) | max (ms) | requests | non-2xx | errors | Redis commands per request | CPU, % of a core: API / Redis / autocannon / rest of the machine |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('baseline: GET /healthz', r.baseline),
    row('POST /v1/jobs (1 KB prompt)', r.submit),
    row('GET /v1/jobs/{id}', r.get),
    '',
    `- submits ≥ ${fmt(API_TARGETS.submitsPerSec)}/s: ${yes(r.targets.submitsPerSec)} (${fmt(r.submit.requestsPerSec)}/s, ${fmt((r.submit.requestsPerSec / r.baseline.requestsPerSec) * 100)}% of the baseline)`,
    `- gets ≥ ${fmt(API_TARGETS.getsPerSec)}/s: ${yes(r.targets.getsPerSec)} (${fmt(r.get.requestsPerSec)}/s, ${fmt((r.get.requestsPerSec / r.baseline.requestsPerSec) * 100)}% of the baseline)`,
    `- p99 < ${API_TARGETS.p99Ms} ms (submit, get): ${yes(r.targets.p99)} (${fmt(r.submit.p99Ms, 1)} ms, ${fmt(r.get.p99Ms, 1)} ms)`,
    `- no non-2xx or connection errors: ${yes(r.targets.allOk)}`,
    `- jobs queued at the end: ${fmt(r.jobsQueued)}; wall time ${fmt(r.wallSec, 1)} s`,
    ...busyMachineWarning({ 'GET /healthz': r.baseline, 'POST /v1/jobs': r.submit, 'GET /v1/jobs/{id}': r.get }),
  ].join('\n');
}

if (isMain(import.meta.url)) {
  const result = await runApiBench();
  console.log(`\n${apiBenchTable(result)}`);
  process.exitCode = result.holds ? 0 : 1;
}
