/**
 * `npm run bench:batches`: accepting a batch of 10,000 requests (1 KB prompts, ~10.5 MB
 * as JSON) in one `POST /v1/batches`, as JSON and as JSON lines: wall time from the
 * request to the 202, the round trips to Redis it cost (commands sent by a client, as
 * MONITOR shows them) and the commands Redis ran for it (inside its scripts too). Baseline in the same run: the
 * same 10,000 prompts as 10,000 `POST /v1/jobs` over 16 connections. Target: under 2 s
 * on 2 cores, and a bounded number of Redis round trips (not one per request).
 */
import { Redis } from 'ioredis';
import { fmt, isMain, PROMPT_1KB, startApi } from './harness.js';

const REQUESTS = Number(process.env.BENCH_BATCH_REQUESTS ?? 10_000);

export interface BatchBenchRow {
  how: string;
  requests: number;
  ms: number;
  redisCommands: number;
  roundTrips: number;
}

export async function runBatchBench(): Promise<BatchBenchRow[]> {
  const api = await startApi({ BATCH_MAX_BYTES: String(64 * 1024 * 1024), LOG_LEVEL: 'warn' });
  try {
    const [tenant] = await api.createTenants(1, 'batches');
    const auth = { authorization: `Bearer ${tenant!.api_key}` };
    const requests = Array.from({ length: REQUESTS }, (_, i) => ({ custom_id: `r-${i}`, prompt: PROMPT_1KB }));
    const rows: BatchBenchRow[] = [];
    /**
     * Runs `run` twice: timed, with the commands Redis ran (INFO); then under MONITOR,
     * which slows Redis down too much to time, counting the commands clients sent (a
     * script's own calls come from "lua"; the probe's INFO and PING are left out).
     */
    const measure = async (how: string, run: () => Promise<void>) => {
      const commands = await api.redisCommands();
      const t = performance.now();
      await run();
      const ms = performance.now() - t;
      const redisCommands = (await api.redisCommands()) - commands - 1;
      const base = new Redis(api.redisServer.url);
      const monitor = await base.monitor();
      let sent = 0;
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua' && !['info', 'ping'].includes(args[0]?.toLowerCase() ?? '')) sent++;
      });
      await run();
      await api.probe.ping();
      monitor.disconnect();
      base.disconnect();
      rows.push({ how, requests: REQUESTS, ms, redisCommands, roundTrips: sent });
    };
    const post = async (body: string, type: string) => {
      const res = await fetch(`${api.url}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': type }, body });
      if (res.status !== 202) throw new Error(`batch refused: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    };
    const json = JSON.stringify({ requests });
    const lines = requests.map((r) => JSON.stringify(r)).join('\n');
    // Warm up the paths (JIT, script load) with a small batch of each kind.
    await post(JSON.stringify({ requests: requests.slice(0, 100) }), 'application/json');
    await post(requests.slice(0, 100).map((r) => JSON.stringify(r)).join('\n'), 'application/x-ndjson');
    await measure('one POST /v1/batches, JSON', () => post(json, 'application/json'));
    await measure('one POST /v1/batches, JSON lines', () => post(lines, 'application/x-ndjson'));
    await measure('baseline: 10,000 POST /v1/jobs, 16 connections', async () => {
      let next = 0;
      const one = async () => {
        for (let i = next++; i < REQUESTS; i = next++) {
          const res = await fetch(`${api.url}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: PROMPT_1KB }) });
          if (res.status !== 202) throw new Error(`job refused: ${res.status}`);
          await res.arrayBuffer();
        }
      };
      await Promise.all(Array.from({ length: 16 }, one));
    });
    return rows;
  } finally {
    await api.close();
  }
}

export function batchBenchTable(rows: BatchBenchRow[]): string {
  return [
    '| how | requests | time to accept | Redis round trips | commands Redis ran (scripts included) |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.how} | ${r.requests.toLocaleString('en-US')} | ${fmt(r.ms)} ms | ${r.roundTrips.toLocaleString('en-US')} | ${r.redisCommands.toLocaleString('en-US')} |`),
  ].join('\n');
}

if (isMain(import.meta.url)) {
  console.log(batchBenchTable(await runBatchBench()));
}
