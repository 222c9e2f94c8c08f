/**
 * The warm pool's rules (apps/worker/src/pool/warmPool.ts), each shown with the real
 * `claude` against the fake model API, in the worker's bubblewrap sandbox.
 *
 * Which process served a job is read from inside it: a scripted Bash tool call prints
 * the start time of the sandbox's pid 1 (bwrap's init), the same for every job one
 * process serves and different for every process. The tool's output is taken from the
 * follow-up request the CLI sent the fake model (so it is there even when the job then
 * fails). The pool's own account is in the worker's metrics (in-process registry).
 *
 * One stack per group of rules: `reuse` (defaults), `prespawn`, retirements by job
 * outcome and WARM_POOL_MAX_JOBS, WARM_POOL_MAX_RSS_MB, WARM_POOL_IDLE_MS.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationsDir, type JobView } from '@claude-queue/shared';
import { waitFor } from '../support/env.js';
import type { FakeReply } from '../support/fakeAnthropic.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { processesWithMarker } from '../support/processes.js';
import { startStack, type Stack } from '../support/stack.js';

const JOB_WAIT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;
const STACK_TIMEOUT_MS = 60_000;

const hex = (bytes = 6) => randomBytes(bytes).toString('hex');
const bash = (command: string): FakeReply => ({ kind: 'tool', name: 'Bash', input: { command } });
const read = (file_path: string): FakeReply => ({ kind: 'tool', name: 'Read', input: { file_path } });
/** Prints the identity of the process serving the job: its sandbox's pid 1 start time. */
const IDENT = "echo init=$(cut -d' ' -f22 /proc/1/stat)";
const BASH = { allowed_tools: ['Bash'] };

interface Run {
  job: JobView;
  prompt: string;
  /** What the job's tool calls returned, oldest first. */
  outputs: string[];
}

/** Submits a job whose (fake) model makes `replies` first, and waits for it. The prompt is unique. */
async function run(stack: Stack, key: string, body: Record<string, unknown>, replies: FakeReply[], label: string): Promise<Run> {
  const prompt = `${label} ${hex()}`;
  if (replies.length > 0) stack.model!.script(prompt, replies);
  const submitted = await submitJob(stack.api, key, { prompt, ...body });
  const job = await waitForFinal(stack.api, key, submitted.id, JOB_WAIT_MS);
  const calls = stack.model!.callsFor(prompt);
  // A later turn's requests carry the conversation's earlier tool results too: only this job's.
  const outputs = (calls.at(-1)?.toolResults ?? []).slice(calls[0]?.toolResults.length ?? 0).map((r) => r.content);
  return { job, prompt, outputs };
}

/** The identity of the process that ran the job (IDENT's output). */
function processOf(r: Run): string {
  const m = /init=(\d+)/.exec(r.outputs.join('\n'));
  if (!m) throw new Error(`no process identity in ${JSON.stringify({ outputs: r.outputs, status: r.job.status, error: r.job.error })}`);
  return m[1]!;
}

/** One sample of the worker's registry (0 when absent). */
async function metric(stack: Stack, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = stack.worker.metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  return values.find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))?.value ?? 0;
}

async function retirements(stack: Stack): Promise<Record<string, number>> {
  const m = stack.worker.metrics.registry.getSingleMetric('claude_pool_retirements_total');
  const { values } = await m!.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value]));
}

async function waitForMetric(stack: Stack, name: string, labels: Record<string, string>, ok: (v: number) => boolean, timeoutMs = 15_000): Promise<number> {
  try {
    return await waitFor(async () => {
      const v = await metric(stack, name, labels);
      return ok(v) ? v : undefined;
    }, timeoutMs, `${name}${JSON.stringify(labels)}`);
  } catch (err) {
    throw new Error(`${(err as Error).message}; it is ${await metric(stack, name, labels)}; retirements: ${JSON.stringify(await retirements(stack))}`);
  }
}

/** Waits until no pooled process is busy (the last job's process is reset and checked, or retired). */
async function settled(stack: Stack): Promise<void> {
  await waitForMetric(stack, 'claude_pool_processes', { state: 'busy' }, (v) => v === 0);
}

/** The names (one a line) a Bash output lists between two marker lines. */
function listed(output: string, from: string, to: string): string[] {
  const lines = output.split('\n');
  return lines.slice(lines.indexOf(from) + 1, lines.indexOf(to)).filter((l) => l.trim() !== '');
}

describe('WARM_POOL=reuse: one tenant, one set of flags, one process', () => {
  let stack: Stack;
  let tenantB: { id: string; api_key: string };
  let a1: Run;
  let a2: Run;
  const canary = `LEFT-CANARY-${hex(12)}`;
  /** Matches the canary without containing it (the command is in the job's own transcript). */
  const canaryPattern = 'LEFT-CANARY-[0-9a-f]{24}';

  beforeAll(async () => {
    stack = await startStack({ cli: 'real', worker: { WARM_POOL: 'reuse', WORKER_KILL_GRACE_MS: '300' }, tenantName: 'pool a' });
    tenantB = await stack.api.createTenant('pool b');
  }, STACK_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.close();
  });

  it("serves a tenant's next job with the same flags on the same process", async () => {
    const A = stack.tenant.api_key;
    a1 = await run(
      stack,
      A,
      BASH,
      [bash(`echo ${canary} > /workspace/left.txt && echo ${canary} > /tmp/left-tmp.txt && echo ${canary} > /home/claude/left-home.txt && ${IDENT}`)],
      'a1',
    );
    expect(a1.job.status, JSON.stringify(a1.job.error)).toBe('succeeded');
    await settled(stack);
    const reuses = await metric(stack, 'claude_pool_reuses_total');

    a2 = await run(
      stack,
      A,
      BASH,
      [
        bash(
          `${IDENT}; echo workspace:; ls -A /workspace; echo projects:; find /home/claude/.claude/projects/-workspace -mindepth 1; echo grep:; ` +
            `grep -rlE '${canaryPattern}' /workspace /home/claude /tmp 2>/dev/null; echo end`,
        ),
      ],
      'a2',
    );
    expect(a2.job.status, JSON.stringify(a2.job.error)).toBe('succeeded');
    expect(processOf(a2), `reuses ${reuses} → ${await metric(stack, 'claude_pool_reuses_total')}, retirements ${JSON.stringify(await retirements(stack))}`).toBe(
      processOf(a1),
    );
    expect(await metric(stack, 'claude_pool_reuses_total')).toBe(reuses + 1);
    // `/clear` emptied the context: the model saw no earlier turn (the fake's echo would list it).
    expect(a2.job.result!.text).not.toContain('earlier:');
  }, TEST_TIMEOUT_MS);

  it('leaves the next job on that process an empty workspace and no transcript but its own', () => {
    // Only meaningful on the process job 1 ran on.
    expect(processOf(a2)).toBe(processOf(a1));
    const out = a2.outputs.join('\n');
    expect(listed(out, 'workspace:', 'projects:')).toEqual([]);
    const own = `/home/claude/.claude/projects/-workspace/${a2.job.result!.session_id}.jsonl`;
    // The CLI's (empty) memory folder of the new session may be there; nothing else.
    expect(listed(out, 'projects:', 'grep:').filter((p) => p !== own && p !== '/home/claude/.claude/projects/-workspace/memory')).toEqual([]);
  });

  it('leaves the next job on that process nothing the last one wrote in /tmp or its home either', () => {
    expect(processOf(a2)).toBe(processOf(a1));
    expect(listed(a2.outputs.join('\n'), 'grep:', 'end')).toEqual([]);
  });

  it("continues the first job's conversation (cold): its files and its turn are there", async () => {
    const cold = await metric(stack, 'claude_spawns_total', { kind: 'cold' });
    const again = await run(
      stack,
      stack.tenant.api_key,
      { allowed_tools: ['Read'], session_id: a1.job.result!.session_id },
      [read('/workspace/left.txt'), read('/home/claude/left-home.txt')],
      'a1 again',
    );
    expect(again.job.status, JSON.stringify(again.job.error)).toBe('succeeded');
    expect(again.job.result!.session_id).toBe(a1.job.result!.session_id);
    // Its workspace file, and the file it left in its home, went with its conversation.
    expect(again.outputs).toEqual([expect.stringContaining(canary), expect.stringContaining(canary)]);
    expect(again.job.result!.text).toContain(canary);
    // The fake's echo lists the earlier user turns the CLI sent: job 1's prompt.
    expect(again.job.result!.text).toContain(`earlier: ${a1.prompt}`);
    expect(await metric(stack, 'claude_spawns_total', { kind: 'cold' })).toBe(cold + 1);
  }, TEST_TIMEOUT_MS);

  it("gives another tenant's job with identical flags a process of its own", async () => {
    await settled(stack);
    // Processes of tenant A's signature are ready: B's job must not take one.
    expect(await metric(stack, 'claude_pool_processes', { state: 'idle' })).toBeGreaterThanOrEqual(1);
    const [stream, reuses] = [await metric(stack, 'claude_spawns_total', { kind: 'stream' }), await metric(stack, 'claude_pool_reuses_total')];
    const b = await run(stack, tenantB.api_key, BASH, [bash(IDENT)], 'b1');
    expect(b.job.status, JSON.stringify(b.job.error)).toBe('succeeded');
    expect([processOf(a1), processOf(a2)]).not.toContain(processOf(b));
    expect(await metric(stack, 'claude_spawns_total', { kind: 'stream' })).toBe(stream + 1);
    expect(await metric(stack, 'claude_pool_reuses_total')).toBe(reuses);
  }, TEST_TIMEOUT_MS);

  it('gives a job of the same tenant with other flags a process of its own', async () => {
    await settled(stack);
    expect(await metric(stack, 'claude_pool_processes', { state: 'idle' })).toBeGreaterThanOrEqual(1);
    const [stream, reuses] = [await metric(stack, 'claude_spawns_total', { kind: 'stream' }), await metric(stack, 'claude_pool_reuses_total')];
    const other = await run(stack, stack.tenant.api_key, { allowed_tools: ['Bash', 'Read'], model: 'sonnet' }, [bash(IDENT)], 'a other flags');
    expect(other.job.status, JSON.stringify(other.job.error)).toBe('succeeded');
    expect([processOf(a1), processOf(a2)]).not.toContain(processOf(other));
    expect(await metric(stack, 'claude_spawns_total', { kind: 'stream' })).toBe(stream + 1);
    expect(await metric(stack, 'claude_pool_reuses_total')).toBe(reuses);
  }, TEST_TIMEOUT_MS);

  it('reports each job its own cost, not the running total of the process', async () => {
    const tenant = await stack.api.createTenant('pool cost');
    const c1 = await run(stack, tenant.api_key, BASH, [bash(IDENT)], 'cost');
    await settled(stack);
    const c2 = await run(stack, tenant.api_key, BASH, [bash(IDENT)], 'cost');
    for (const c of [c1, c2]) expect(c.job.status, JSON.stringify(c.job.error)).toBe('succeeded');
    // The same work on the same process, one after the other.
    expect(processOf(c2)).toBe(processOf(c1));
    const [first, second] = [c1.job.result!.total_cost_usd, c2.job.result!.total_cost_usd];
    const seen = `costs ${first} then ${second}; texts ${JSON.stringify([c1.job.result!.text, c2.job.result!.text])}`;
    expect(first).toBeGreaterThan(0);
    expect(second / first, seen).toBeGreaterThan(0.75);
    expect(second / first, seen).toBeLessThan(1.25);
  }, TEST_TIMEOUT_MS);
});

describe('WARM_POOL=prespawn', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ cli: 'real', worker: { WARM_POOL: 'prespawn', WORKER_KILL_GRACE_MS: '300' }, tenantName: 'prespawn' });
  }, STACK_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.close();
  });

  it("gives a tenant's second job a prespawned process, and its conversation continues", async () => {
    const key = stack.tenant.api_key;
    const p1 = await run(stack, key, BASH, [bash(IDENT)], 'p1');
    expect(p1.job.status, JSON.stringify(p1.job.error)).toBe('succeeded');
    // Started ahead for the signature p1 used, and ready.
    await waitForMetric(stack, 'claude_spawns_total', { kind: 'prespawn' }, (v) => v >= 1);
    await waitForMetric(stack, 'claude_pool_processes', { state: 'idle' }, (v) => v >= 1);
    const [stream, cold] = [await metric(stack, 'claude_spawns_total', { kind: 'stream' }), await metric(stack, 'claude_spawns_total', { kind: 'cold' })];

    const note = `NOTE-${hex()}`;
    const p2 = await run(stack, key, BASH, [bash(`echo ${note} > note.txt && ${IDENT}`)], 'p2');
    expect(p2.job.status, JSON.stringify(p2.job.error)).toBe('succeeded');
    // It found one ready (nothing started for it), and one process serves one job.
    expect(await metric(stack, 'claude_spawns_total', { kind: 'stream' })).toBe(stream);
    expect(processOf(p2)).not.toBe(processOf(p1));
    // Its conversation is the prespawned folder, whose id is not the job's.
    const conversations = conversationsDir(stack.env.dataDir, stack.tenant.id);
    const holders = (await readdir(conversations)).filter((id) => existsSync(path.join(conversations, id, 'workspace', 'note.txt')));
    expect(holders).toHaveLength(1);
    expect(holders[0]).not.toBe(p2.job.id);

    const p3 = await run(stack, key, { ...BASH, session_id: p2.job.result!.session_id }, [bash('cat note.txt')], 'p3');
    expect(p3.job.status, JSON.stringify(p3.job.error)).toBe('succeeded');
    expect(p3.job.result!.session_id).toBe(p2.job.result!.session_id);
    expect(p3.job.result!.text).toContain(note);
    expect(p3.job.result!.text).toContain(`earlier: ${p2.prompt}`);
    expect(await metric(stack, 'claude_spawns_total', { kind: 'cold' })).toBe(cold + 1);
  }, TEST_TIMEOUT_MS);
});

describe('retirement: errors, cancel, timeout, WARM_POOL_MAX_JOBS', () => {
  let stack: Stack;
  const tenants: Record<'error' | 'maxJobs' | 'cancel' | 'timeout', { id: string; api_key: string }> = {} as never;

  beforeAll(async () => {
    stack = await startStack({
      cli: 'real',
      worker: { WARM_POOL: 'reuse', WARM_POOL_MAX_JOBS: '2', JOB_ATTEMPTS: '1', WORKER_KILL_GRACE_MS: '300' },
      tenantName: 'retire error',
    });
    tenants.error = stack.tenant;
    tenants.maxJobs = await stack.api.createTenant('retire max jobs');
    tenants.cancel = await stack.api.createTenant('retire cancel');
    tenants.timeout = await stack.api.createTenant('retire timeout');
  }, STACK_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.close();
  });

  it('retires the process of a job whose model call failed (500); the next job gets another', async () => {
    const before = await metric(stack, 'claude_pool_retirements_total', { reason: 'error' });
    const e1 = await run(stack, tenants.error.api_key, BASH, [bash(IDENT), { kind: 'error', status: 500 }], 'e1');
    expect(e1.job.status).toBe('failed');
    expect(e1.job.error?.code).toBe('api_error');
    await waitForMetric(stack, 'claude_pool_retirements_total', { reason: 'error' }, (v) => v === before + 1);
    await settled(stack);
    const e2 = await run(stack, tenants.error.api_key, BASH, [bash(IDENT)], 'e2');
    expect(e2.job.status, JSON.stringify(e2.job.error)).toBe('succeeded');
    expect(processOf(e2)).not.toBe(processOf(e1));
  }, TEST_TIMEOUT_MS);

  it('retires a process after WARM_POOL_MAX_JOBS (2) jobs: the third job gets a new one', async () => {
    const key = tenants.maxJobs.api_key;
    const before = await metric(stack, 'claude_pool_retirements_total', { reason: 'max_jobs' });
    const m1 = await run(stack, key, BASH, [bash(IDENT)], 'm1');
    await settled(stack);
    const m2 = await run(stack, key, BASH, [bash(IDENT)], 'm2');
    for (const m of [m1, m2]) expect(m.job.status, JSON.stringify(m.job.error)).toBe('succeeded');
    expect(processOf(m2), `retirements ${JSON.stringify(await retirements(stack))}`).toBe(processOf(m1));
    await waitForMetric(stack, 'claude_pool_retirements_total', { reason: 'max_jobs' }, (v) => v === before + 1);
    await settled(stack);
    const m3 = await run(stack, key, BASH, [bash(IDENT)], 'm3');
    expect(m3.job.status, JSON.stringify(m3.job.error)).toBe('succeeded');
    expect(processOf(m3)).not.toBe(processOf(m1));
  }, TEST_TIMEOUT_MS);

  it('retires the process of a canceled job', async () => {
    const key = tenants.cancel.api_key;
    const before = await metric(stack, 'claude_pool_retirements_total', { reason: 'canceled' });
    const prompt = `cancel ${hex()}`;
    stack.model!.script(prompt, [{ kind: 'hang' }]);
    const job = await submitJob(stack.api, key, { prompt });
    await waitFor(() => (stack.model!.callsFor(prompt).length > 0 ? true : undefined), JOB_WAIT_MS, 'the model call');
    const res = await stack.api.request('POST', `/v1/jobs/${job.id}/cancel`, { key });
    expect(res.status).toBe(200);
    await waitForMetric(stack, 'claude_pool_retirements_total', { reason: 'canceled' }, (v) => v === before + 1);
    expect((await waitForFinal(stack.api, key, job.id, JOB_WAIT_MS)).status).toBe('canceled');
  }, TEST_TIMEOUT_MS);

  it('retires the process of a job past its timeout_ms', async () => {
    const key = tenants.timeout.api_key;
    const before = await metric(stack, 'claude_pool_retirements_total', { reason: 'timeout' });
    const prompt = `timeout ${hex()}`;
    stack.model!.script(prompt, [{ kind: 'hang' }]);
    const submitted = await submitJob(stack.api, key, { prompt, timeout_ms: 3000 });
    const job = await waitForFinal(stack.api, key, submitted.id, JOB_WAIT_MS);
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('timeout');
    await waitForMetric(stack, 'claude_pool_retirements_total', { reason: 'timeout' }, (v) => v === before + 1);
  }, TEST_TIMEOUT_MS);
});

describe('retirement: WARM_POOL_MAX_RSS_MB, WARM_POOL_IDLE_MS', () => {
  let rss: Stack;
  let idle: Stack;

  beforeAll(async () => {
    [rss, idle] = await Promise.all([
      startStack({ cli: 'real', worker: { WARM_POOL: 'reuse', WARM_POOL_MAX_RSS_MB: '1', WORKER_KILL_GRACE_MS: '300' }, tenantName: 'retire rss' }),
      startStack({ cli: 'real', worker: { WARM_POOL: 'reuse', WARM_POOL_IDLE_MS: '1000', WORKER_KILL_GRACE_MS: '300' }, tenantName: 'retire idle' }),
    ]);
  }, STACK_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all([rss?.close(), idle?.close()]);
  });

  it('retires a process above WARM_POOL_MAX_RSS_MB after its job', async () => {
    const r = await run(rss, rss.tenant.api_key, {}, [], 'rss');
    expect(r.job.status, JSON.stringify(r.job.error)).toBe('succeeded');
    await waitForMetric(rss, 'claude_pool_retirements_total', { reason: 'rss' }, (v) => v === 1);
    await waitForMetric(rss, 'claude_pool_processes', { state: 'idle' }, (v) => v === 0);
  }, TEST_TIMEOUT_MS);

  it('retires a process idle for WARM_POOL_IDLE_MS: none left idle, none left running', async () => {
    const r = await run(idle, idle.tenant.api_key, {}, [], 'idle');
    expect(r.job.status, JSON.stringify(r.job.error)).toBe('succeeded');
    await waitForMetric(idle, 'claude_pool_retirements_total', { reason: 'idle' }, (v) => v >= 1);
    await waitForMetric(idle, 'claude_pool_processes', { state: 'idle' }, (v) => v === 0);
    await waitForMetric(idle, 'claude_pool_processes', { state: 'busy' }, (v) => v === 0);
    // Every sandbox's command line names its folders under this stack's DATA_DIR.
    await waitFor(() => (processesWithMarker(idle.env.dataDir).length === 0 ? true : undefined), 5000, 'the sandboxes to end');
  }, TEST_TIMEOUT_MS);
});
