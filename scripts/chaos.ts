/**
 * `npm run chaos`: the reliability claim, shown end to end. It submits CHAOS_JOBS jobs
 * (default 200) to one API and CHAOS_WORKERS worker processes (default 3) running the
 * real `claude` CLI, SIGKILLs a worker and restarts it twice while they run, restarts
 * Redis once, and then prints a Markdown table: every job `succeeded`, none missing,
 * and how many prompts reached the model more than once (at-least-once), each put down
 * to what explains it: its worker was SIGKILLed mid-run, or it ran across the Redis
 * restart.
 *
 * Everything is private and on loopback: its own redis-server (AOF with fsync always,
 * so the restart loses no accepted write), the fake Anthropic API of the tests
 * in-process (it records every prompt that reaches "the model"), and the API and
 * workers as child processes from source, each logging to a file in a temp dir that is
 * removed at the end (CHAOS_KEEP=1 keeps it). Exit code 0 only if every job succeeded
 * with its own answer, none is missing and no process died unasked.
 *
 * Knobs: CHAOS_JOBS, CHAOS_WORKERS, CHAOS_REDIS_DOWN_MS, CHAOS_DEADLINE_MS, and the
 * worker's WORKER_LOCK_DURATION_MS, WORKER_STALLED_INTERVAL_MS, WORKER_MAX_STALLED_COUNT,
 * JOB_BACKOFF_MS, WORKER_CONCURRENCY (short defaults below).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobView } from '@claude-queue/shared';
import { startFakeAnthropic, type FakeAnthropic } from '../test/support/fakeAnthropic.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const intEnv = (name: string, fallback: number) => Number(process.env[name] || fallback);
const JOBS = intEnv('CHAOS_JOBS', 200);
const WORKERS = intEnv('CHAOS_WORKERS', 3);
/** How long all jobs may take to become final after the last submit. */
const DEADLINE_MS = intEnv('CHAOS_DEADLINE_MS', 5 * 60_000);
const SUBMIT_CONCURRENCY = 20;
/**
 * How long Redis stays down between its exit and its restart: long enough that the API
 * answers 503 for a while and every connection has to reconnect (a big AOF takes
 * seconds to load, too).
 */
const REDIS_DOWN_MS = intEnv('CHAOS_REDIS_DOWN_MS', 2000);
/**
 * Short recovery settings so a run takes about two minutes: a dead worker's jobs are
 * taken over within lock (4 s) + one or two stalled checks (2 s each). Production
 * defaults are 15 s / 5 s / 2 (README, Configuration).
 */
const RECOVERY = {
  WORKER_LOCK_DURATION_MS: process.env.WORKER_LOCK_DURATION_MS || '4000',
  WORKER_STALLED_INTERVAL_MS: process.env.WORKER_STALLED_INTERVAL_MS || '2000',
  WORKER_MAX_STALLED_COUNT: process.env.WORKER_MAX_STALLED_COUNT || '3',
  JOB_BACKOFF_MS: process.env.JOB_BACKOFF_MS || '200',
  WORKER_CONCURRENCY: process.env.WORKER_CONCURRENCY || '2',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const log = (msg: string) => console.log(`[chaos +${secs(Date.now() - t0).padStart(7)}] ${msg}`);
/** Same length for every n, so no prompt is a substring of another (the fake's scripts match by substring). */
const promptOf = (n: number) => `chaos job ${String(n).padStart(4, '0')}`;

// ---------------------------------------------------------------- child processes

interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  /** Set before we stop it on purpose, so its exit isn't reported as a crash. */
  stopping: boolean;
}

const TMP = mkdtempSync(path.join(tmpdir(), 'cq-chaos-'));
const children = new Set<Child>();
const unexpectedExits: string[] = [];

function spawnChild(name: string, cmd: string, args: string[], env: Record<string, string>): Child {
  const logFile = path.join(TMP, 'logs', `${name}.log`);
  mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  // detached: its own process group, so a Ctrl-C in the terminal reaches only this
  // script, which then stops the children itself.
  const proc = spawn(cmd, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const child: Child = { name, proc, logFile, stopping: false, exited: Promise.resolve() };
  child.exited = new Promise((resolve) => {
    proc.once('error', (err) => {
      children.delete(child);
      unexpectedExits.push(`${name} could not start: ${err.message}`);
      resolve();
    });
    proc.once('exit', (code, signal) => {
      children.delete(child);
      if (!child.stopping) {
        unexpectedExits.push(`${name} (pid ${proc.pid}) exited by itself: ${signal ?? `code ${code}`}`);
        log(`!! ${name} exited by itself (${signal ?? `code ${code}`}); see its log`);
      }
      resolve();
    });
  });
  children.add(child);
  return child;
}

/** SIGTERM (or the given signal), then SIGKILL to its group if it hasn't gone after `graceMs`. */
async function stopChild(child: Child, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  child.stopping = true;
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill(signal);
  const timer = setTimeout(() => killGroup(child), graceMs);
  await child.exited;
  clearTimeout(timer);
}

function killGroup(child: Child): void {
  try {
    if (child.proc.pid) process.kill(-child.proc.pid, 'SIGKILL');
  } catch {
    // ESRCH: already gone
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** True if Redis answers PING within 500 ms (a raw socket: no client to reconnect behind our back). */
function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.on('error', () => done(false));
  });
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); await sleep(100)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${secs(timeoutMs)} waiting for ${what}`);
  }
}

let redisStarts = 0;
async function startRedis(port: number): Promise<Child> {
  const dir = path.join(TMP, 'redis');
  mkdirSync(dir, { recursive: true });
  // AOF fsynced on every write: SIGTERM then restart must lose no accepted job.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
    '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'];
  const redis = spawnChild(`redis-${++redisStarts}`, 'redis-server', args, { PATH: process.env.PATH ?? '' });
  await waitUntil(`redis-server on port ${port}`, async () => {
    if (!children.has(redis)) throw new Error(`${unexpectedExits.at(-1)} (redis-server must be on PATH: apt-get install redis-server)`);
    return pingRedis(port);
  }, 10_000);
  return redis;
}

/** Starts apps/<app>/src/main.ts from source, as the tests' worker processes are. */
function startNodeApp(name: string, app: 'api' | 'worker', env: Record<string, string>): Child {
  return spawnChild(name, process.execPath, ['--conditions=source', '--import', 'tsx', `apps/${app}/src/main.ts`], env);
}

/** Parsed pino lines of a child's log (other lines, e.g. a stack trace, are skipped). */
function logLines(child: Pick<Child, 'logFile'>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(child.logFile, 'utf8').split('\n')) {
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not JSON
    }
  }
  return out;
}

// ---------------------------------------------------------------- HTTP

interface Answer {
  status: number;
  body: any;
}

let apiUrl = '';
async function http(method: string, urlPath: string, key: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(apiUrl + urlPath, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/**
 * Retries while the API can't answer (503 while Redis is away, a connection refused,
 * 409 while an idempotent submit is in progress, 429); returns the first other answer.
 */
async function httpRetrying(method: string, urlPath: string, key: string, body?: unknown, headers?: Record<string, string>): Promise<Answer> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await http(method, urlPath, key, body, headers).catch((err: Error) => ({ status: 0, body: err.message }));
    if (![0, 409, 429, 503].includes(answer.status) || Date.now() > deadline) return answer;
    await sleep(250);
  }
}

/** Submits every job, SUBMIT_CONCURRENCY at a time; an Idempotency-Key makes a retried submit safe. */
async function submitAll(key: string): Promise<string[]> {
  const ids: string[] = new Array(JOBS);
  let next = 0;
  const submitter = async () => {
    for (let n = next++; n < JOBS; n = next++) {
      const res = await httpRetrying('POST', '/v1/jobs', key, { prompt: promptOf(n) }, { 'idempotency-key': `chaos-${n}` });
      if (res.status !== 202 && res.status !== 200) throw new Error(`submit ${n}: ${res.status} ${JSON.stringify(res.body)}`);
      ids[n] = (res.body as JobView).id;
    }
  };
  await Promise.all(Array.from({ length: SUBMIT_CONCURRENCY }, submitter));
  return ids;
}

/** Every job of the tenant (newest first, 100 a page), or of one status. */
async function listJobs(key: string, status?: string): Promise<JobView[]> {
  const out: JobView[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: '100', ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
    const res = await http('GET', `/v1/jobs?${query}`, key);
    if (res.status !== 200) throw new Error(`list: ${res.status}`);
    out.push(...(res.body.data as JobView[]));
    cursor = res.body.next_cursor as string | null;
  } while (cursor);
  return out;
}

// ---------------------------------------------------------------- the run

const isFinal = (j: JobView | undefined) => j?.status === 'succeeded' || j?.status === 'failed' || j?.status === 'canceled';

interface Disruption {
  kind: 'kill' | 'redis';
  label: string;
  at: number;
  /** Jobs whose record said `running` just before it. */
  running: string[];
  /** Of those, the ones the killed worker had taken (its log names them). */
  held: string[];
}

interface Run {
  ids: string[];
  latest: Map<string, JobView>;
  model: FakeAnthropic;
  disruptions: Disruption[];
  workers: Child[];
  wallMs: number;
  failedPolls: number;
}

async function main(): Promise<number> {
  const model = await startFakeAnthropic();
  cleanups.push(() => model.close());
  // Replies streamed in 3 chunks 150 ms apart: a run spends ~0.3 s inside the model
  // call, so a SIGKILL can land mid-call (that's where duplicates come from). Spare
  // replies for the re-runs.
  for (let n = 0; n < JOBS; n++) {
    const reply = { kind: 'text' as const, text: `echo: ${promptOf(n)}`, chunks: 3, delayMs: 150 };
    model.script(promptOf(n), Array.from({ length: 8 }, () => reply));
  }

  const redisPort = await freePort();
  let redis = await startRedis(redisPort);
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  const adminToken = randomBytes(24).toString('hex');
  const base = { PATH: process.env.PATH ?? '', REDIS_URL: `redis://127.0.0.1:${redisPort}`, QUEUE_PREFIX: 'chaos', DATA_DIR: path.join(TMP, 'data') };
  // The poller alone makes ~240 requests a minute: lift the per-key request limit.
  const api = startNodeApp('api', 'api', {
    ...base, PORT: String(apiPort), HOST: '127.0.0.1', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', TENANT_REQUESTS_PER_MINUTE: '1000000',
  });
  // Workers log at info: their lines carry job_id, which tells which worker ran which job.
  const workerEnv = { ...base, ...RECOVERY, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'sk-ant-chaos', LOG_LEVEL: 'info' };
  const allWorkers: Child[] = [];
  const generation = Array.from({ length: WORKERS }, () => 0);
  const startWorker = (slot: number) => {
    const w = startNodeApp(`w${slot + 1}-${++generation[slot]!}`, 'worker', workerEnv);
    allWorkers.push(w);
    return w;
  };
  const workers = Array.from({ length: WORKERS }, (_, slot) => startWorker(slot));
  await waitUntil('the workers to start', () => workers.every((w) => readFileSync(w.logFile, 'utf8').includes('"worker started"')), 60_000);
  await waitUntil('the API', async () => (await http('GET', '/readyz', '').catch(() => ({ status: 0 }))).status === 200);
  log(`redis :${redisPort}, API :${apiPort}, ${WORKERS} workers (pids ${workers.map((w) => w.proc.pid).join(', ')}), model ${model.url}`);

  const tenant = await http('POST', '/v1/admin/tenants', adminToken, { name: 'chaos' });
  if (tenant.status !== 201) throw new Error(`tenant: ${tenant.status} ${JSON.stringify(tenant.body)}`);
  const key = tenant.body.api_key as string;
  const submitStarted = Date.now();
  const ids = await submitAll(key);
  log(`submitted ${ids.length} jobs in ${secs(Date.now() - submitStarted)}`);

  // The poller keeps the latest view of every job; the chaos steps wait on its progress.
  const run: Run = { ids, latest: new Map(), model, disruptions: [], workers: allWorkers, wallMs: 0, failedPolls: 0 };
  const finalCount = () => ids.filter((id) => isFinal(run.latest.get(id))).length;
  let chaosDone = false;
  let pollingOver = false;
  const poller = (async () => {
    const deadline = Date.now() + DEADLINE_MS;
    for (let lastReport = 0; Date.now() < deadline && !(chaosDone && finalCount() === ids.length); await sleep(500)) {
      try {
        for (const j of await listJobs(key)) run.latest.set(j.id, j);
      } catch {
        run.failedPolls++; // 503 while Redis restarts: keep the last view and try again
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`${finalCount()}/${ids.length} final`);
      }
    }
    pollingOver = true;
  })();
  /** False if polling ended (the deadline) before that share of jobs was final. */
  const untilFinal = async (share: number) => {
    await waitUntil(`${share * 100}% final`, () => pollingOver || finalCount() >= share * ids.length, DEADLINE_MS + 10_000);
    return !pollingOver;
  };
  const runningNow = async () => (await listJobs(key, 'running').catch(() => [])).map((j) => j.id);

  async function killWorker(slot: number): Promise<void> {
    const victim = workers[slot]!;
    const running = await runningNow();
    const at = Date.now();
    await stopChild(victim, 'SIGKILL');
    const named = new Set(logLines(victim).map((l) => l.job_id));
    const held = running.filter((id) => named.has(id));
    run.disruptions.push({ kind: 'kill', label: `SIGKILL ${victim.name}`, at, running, held });
    log(`SIGKILLed ${victim.name} (pid ${victim.proc.pid}) holding ${held.length} running job(s), at ${finalCount()}/${ids.length} final`);
    // A fresh process takes its place shortly after, as a supervisor would restart it.
    await sleep(1500);
    workers[slot] = startWorker(slot);
    log(`started ${workers[slot]!.name} (pid ${workers[slot]!.proc.pid})`);
  }

  async function restartRedis(): Promise<void> {
    const running = await runningNow();
    const at = Date.now();
    // SIGTERM: Redis fsyncs its AOF and exits; the same port and dir bring it all back.
    await stopChild(redis, 'SIGTERM');
    await sleep(REDIS_DOWN_MS);
    redis = await startRedis(redisPort);
    const down = secs(Date.now() - at);
    run.disruptions.push({ kind: 'redis', label: `restart of Redis (down ${down})`, at, running, held: [] });
    log(`restarted Redis: down for ${down} with ${running.length} job(s) running, at ${finalCount()}/${ids.length} final`);
  }

  const chaos = (async () => {
    if (await untilFinal(0.2)) await killWorker(0);
    if (await untilFinal(0.45)) await killWorker(1 % WORKERS);
    if (await untilFinal(0.65)) await restartRedis();
    chaosDone = true;
  })();
  await Promise.all([chaos, poller]);
  run.wallMs = Date.now() - submitStarted;

  // A job absent from the list may still answer by id; a 404 there means it is gone.
  for (const id of ids.filter((i) => !run.latest.has(i))) {
    const res = await httpRetrying('GET', `/v1/jobs/${id}`, key);
    if (res.status === 200) run.latest.set(id, res.body as JobView);
  }
  const ok = report(run);

  // Stop the rest cleanly: a worker that doesn't exit 0 on SIGTERM is worth knowing about.
  const codes = await Promise.all([...workers, api].map(async (c) => {
    await stopChild(c);
    return `${c.name}=${c.proc.exitCode ?? c.proc.signalCode}`;
  }));
  log(`stopped: ${codes.join(' ')}`);
  return ok && unexpectedExits.length === 0 ? 0 : 1;
}

// ---------------------------------------------------------------- the report

function report(run: Run): boolean {
  const { ids, latest, model, disruptions } = run;
  const jobs = ids.map((id, n) => ({ id, prompt: promptOf(n), view: latest.get(id) }));
  type Job = (typeof jobs)[number];
  const count = (status: string) => jobs.filter((j) => j.view?.status === status).length;
  const missing = jobs.filter((j) => !isFinal(j.view));
  const wrong = jobs.filter((j) => j.view?.status === 'succeeded' && j.view.result?.text !== `echo: ${j.prompt}`);

  const callsOf = new Map<string, number>();
  for (const c of model.calls) callsOf.set(c.prompt, (callsOf.get(c.prompt) ?? 0) + 1);
  const calls = (j: Job) => callsOf.get(j.prompt) ?? 0;
  const duplicated = jobs.filter((j) => calls(j) > 1);
  const kills = disruptions.filter((d) => d.kind === 'kill');
  const held = new Set(kills.flatMap((d) => d.held));
  const atRedisRestart = new Set(disruptions.filter((d) => d.kind === 'redis').flatMap((d) => d.running));
  const onKilled = duplicated.filter((j) => held.has(j.id));
  const acrossRedis = duplicated.filter((j) => !held.has(j.id) && atRedisRestart.has(j.id));
  const unexplained = duplicated.filter((j) => !held.has(j.id) && !atRedisRestart.has(j.id));

  // Recovery: from a SIGKILL until the jobs it held ran again, and until they finished.
  const recovery = kills.flatMap((kill) =>
    kill.held.flatMap((id) => {
      const v = latest.get(id);
      const startedAt = v?.started_at ? Date.parse(v.started_at) : 0;
      // Not restarted after the kill: it had finished just before the worker died.
      if (!v || startedAt < kill.at) return [];
      return [{ kill, id, againMs: startedAt - kill.at, finishedMs: v.finished_at ? Date.parse(v.finished_at) - kill.at : NaN }];
    }),
  );
  const maxOf = (xs: number[]) => (xs.length ? secs(Math.max(...xs)) : 'n/a');

  const rows: [string, string | number][] = [
    ['Jobs submitted', ids.length],
    ['Succeeded', count('succeeded')],
    ['Failed', count('failed')],
    ['Canceled', count('canceled')],
    ['Missing (404, or not final by the deadline)', missing.length],
    ["Succeeded with another prompt's answer", wrong.length],
    ['Worker processes × concurrency', `${WORKERS} × ${RECOVERY.WORKER_CONCURRENCY}`],
    ['Disruptions', disruptions.map((d) => d.label).join('; ')],
    ['Jobs running on a worker when it was SIGKILLed', kills.map((d) => d.held.length).join(' + ')],
    ['Prompts that reached the model more than once', duplicated.length],
    ['… of them running on a SIGKILLed worker', onKilled.length],
    ['… of them running across the Redis restart', acrossRedis.length],
    ['Model calls in all', `${model.calls.length} for ${ids.length} prompts`],
    ['Max time from a SIGKILL until its jobs ran again / finished', `${maxOf(recovery.map((r) => r.againMs))} / ${maxOf(recovery.map((r) => r.finishedMs))}`],
    ['Recovery settings', `lock ${RECOVERY.WORKER_LOCK_DURATION_MS} ms, stalled check every ${RECOVERY.WORKER_STALLED_INTERVAL_MS} ms, max stalled ${RECOVERY.WORKER_MAX_STALLED_COUNT}`],
    ['Wall time, first submit to last job final', secs(run.wallMs)],
  ];
  console.log('\n| Chaos run | Result |\n| --- | --- |');
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  console.log(`\n${run.failedPolls} poll(s) of the job list failed (503) while Redis was away.`);

  const ranOn = (id: string) => run.workers.filter((w) => logLines(w).some((l) => l.job_id === id)).map((w) => w.name).join(', ');
  const describe = (j: Job) =>
    `  ${j.id} "${j.prompt}": ${j.view?.status ?? 'missing'}, ${calls(j)} model call(s), attempts ${j.view?.attempts ?? '?'}, ran on ${ranOn(j.id) || '?'}\n` +
    `    attempt_history: ${JSON.stringify(j.view?.attempt_history ?? null)}`;
  const section = (title: string, list: Job[]) => {
    if (list.length) console.log(`\n${title}:\n${list.map(describe).join('\n')}`);
  };
  for (const kill of kills) {
    const lines = recovery.filter((r) => r.kill === kill).map((r) => `    ${r.id}: running again after ${secs(r.againMs)}, final after ${secs(r.finishedMs)}`);
    console.log(`\n${kill.label} held ${kill.held.length} running job(s)${lines.length ? `:\n${lines.join('\n')}` : ''}`);
  }
  section('Prompts that reached the model more than once', duplicated);
  section('Duplicates not explained by a SIGKILL or the Redis restart', unexplained);
  section('Jobs that did not succeed with their own answer', [...new Set([...missing, ...wrong, ...jobs.filter((j) => j.view && j.view.status !== 'succeeded')])]);
  for (const e of unexpectedExits) console.log(`!! ${e}`);

  const ok = count('succeeded') === ids.length && missing.length === 0 && wrong.length === 0;
  console.log(`\n${ok ? 'PASS' : 'FAIL'}: ${count('succeeded')}/${ids.length} succeeded, ${missing.length} missing, ${duplicated.length} prompt(s) ` +
    `reached the model more than once (${onKilled.length} on a SIGKILLed worker, ${acrossRedis.length} across the Redis restart, ${unexplained.length} otherwise)`);
  return ok;
}

// ---------------------------------------------------------------- cleanup

const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;

/** Stops every child (workers and API before Redis, which they write to), then removes the temp dir. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const redisChildren = [...children].filter((c) => c.name.startsWith('redis'));
    await Promise.all([...children].filter((c) => !redisChildren.includes(c)).map((c) => stopChild(c, 'SIGTERM', 5000)));
    await Promise.all(redisChildren.map((c) => stopChild(c, 'SIGTERM', 5000)));
    for (const fn of cleanups) await fn().catch(() => undefined);
    if (process.env.CHAOS_KEEP === '1') console.log(`kept logs and data in ${TMP}`);
    else rmSync(TMP, { recursive: true, force: true });
  })();
  return cleaning;
}

// Last resort if we exit some other way: no child may outlive this script.
process.on('exit', () => {
  for (const c of children) killGroup(c);
  if (process.env.CHAOS_KEEP !== '1') rmSync(TMP, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  });
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`chaos run aborted: ${(err as Error).stack ?? String(err)}`);
  console.error('(CHAOS_KEEP=1 keeps the logs of every process)');
}
await cleanup();
process.exit(code);
