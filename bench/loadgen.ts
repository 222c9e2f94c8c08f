/**
 * The load generator of the API benchmarks: autocannon in a process of its own, forked
 * by bench/harness.ts (`startLoadGenerator`) and driven over IPC.
 *
 * Why a separate process: the API under test is one Node process, one event loop.
 * autocannon in that process would build requests and parse responses on the same loop
 * the API serves them on, so every figure would carry the generator's cost too; in a
 * process of its own the OS can put it on the other core, as a real client would be.
 *
 * Each message is a `LoadSpec`; the answer is a `LoadResult` (or `{ error }`).
 */
import autocannon from 'autocannon';

export interface LoadSpec {
  /** The API's base URL, `http://127.0.0.1:port`. */
  url: string;
  connections: number;
  /** Seconds to run; or `amount`, requests in all (then duration is ignored). */
  duration?: number;
  amount?: number;
  /** health: GET /healthz; submit: POST /v1/jobs, keys in turn; get: GET /v1/jobs/{id}, pairs in turn. */
  kind: 'health' | 'submit' | 'get';
  /** submit: the tenants' API keys, used round robin. */
  keys?: string[];
  /** submit: the JSON body. */
  body?: string;
  /** get: [api key, job id] pairs, used round robin. */
  gets?: Array<[string, string]>;
}

export interface LoadResult {
  /** 2xx responses per second over the run. */
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  total: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationSec: number;
  /** CPU time the generator itself used (user + system), ms. */
  cpuMs: number;
}

function options(spec: LoadSpec): autocannon.Options {
  const base = {
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    timeout: 10,
    ...(spec.amount ? { amount: spec.amount } : { duration: spec.duration ?? 10 }),
  };
  if (spec.kind === 'health') return { ...base, requests: [{ method: 'GET', path: '/healthz' }] };
  if (spec.kind === 'submit') {
    const keys = spec.keys ?? [];
    if (!keys.length || !spec.body) throw new Error('submit needs keys and a body');
    let n = 0;
    return {
      ...base,
      requests: [
        {
          method: 'POST',
          path: '/v1/jobs',
          body: spec.body,
          setupRequest: (req) => ({
            ...req,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[n++ % keys.length]}` },
          }),
        },
      ],
    };
  }
  const gets = spec.gets ?? [];
  if (!gets.length) throw new Error('get needs [key, id] pairs');
  let n = 0;
  return {
    ...base,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const [key, id] = gets[n++ % gets.length]!;
          return { ...req, path: `/v1/jobs/${id}`, headers: { authorization: `Bearer ${key}` } };
        },
      },
    ],
  };
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const cpu = process.cpuUsage();
  const r = await autocannon(options(spec));
  const used = process.cpuUsage(cpu);
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries((r as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats ?? {})) {
    statusCodes[code] = Number(count);
  }
  return {
    requestsPerSec: r['2xx'] / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    durationSec: r.duration,
    cpuMs: (used.user + used.system) / 1000,
  };
}

// Forked with an IPC channel: serve specs until the parent disconnects.
if (process.send && process.env.CQ_BENCH_LOADGEN === '1') {
  process.on('message', (spec: LoadSpec) => {
    runLoad(spec).then(
      (result) => process.send!({ result }),
      (err: Error) => process.send!({ error: err.message }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
