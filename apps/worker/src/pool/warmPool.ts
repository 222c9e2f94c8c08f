/**
 * WARM_POOL: CLI processes kept ready, so a job does not pay the CLI's cold start
 * (1.5 s of wall and CPU, docs/claude-cli.md) before its model call.
 *
 * A process is fixed at spawn: its sandbox (tenant, folders, credentials, allowed hosts)
 * and every flag (model, tools, permission mode, system prompts, MCP servers…). So
 * processes are kept by *signature*, the hash of all of that, and a job only ever gets a
 * process of its own signature: never another tenant's, never other flags.
 *
 * - `prespawn`: up to WARM_POOL_SIZE processes are started ahead for the signatures
 *   recent jobs used most, each in a fresh conversation folder. A job takes one, sends its
 *   prompt, reads up to its `result`, and closes it: one process, one job, the isolation
 *   of a cold run. The job's conversation is that folder.
 * - `reuse`: after its `result` a process answers `/clear` (a new, empty session) and
 *   serves the next job of its signature, up to WARM_POOL_MAX_JOBS, WARM_POOL_IDLE_MS
 *   idle, or WARM_POOL_MAX_RSS_MB. It runs in a pool folder (`tenants/<t>/pool/<slot>`);
 *   after each job everything the job left there (workspace files, transcript) moves to
 *   the job's own conversation folder, so the next job finds an empty workspace and the
 *   conversation continues (cold, with `--resume`) exactly as after a cold run.
 *
 * Either way: any error, timeout, cancel, exit, output while idle, a `/clear` that does
 * not answer, or a process the job left running in the sandbox retires the process
 * instead of returning it. An idle process holds no tenant slot (slots belong to jobs).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { conversationPaths, type ConversationPaths, type HostRule, type Logger } from '@claude-queue/shared';
import type { ClaudeRunOutcome } from '../cli/runner.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { StreamProcess, type RetireReason } from './streamProcess.js';

export type WarmPoolMode = 'off' | 'prespawn' | 'reuse';

/** What a process is fixed to at spawn. */
export interface PoolSpec {
  tenantId: string;
  /** CLI flags with `--input-format stream-json`. */
  args: string[];
  env: Record<string, string>;
  hosts: HostRule[];
}

export interface PoolTurn {
  spec: PoolSpec;
  /** The job's id: its conversation's id when the process's folder is a pool folder (reuse). */
  jobId: string;
  prompt: string;
  timeoutMs: number;
  signal?: AbortSignal;
  onText?: (text: string) => void;
  partialMessages?: boolean;
}

export interface PoolRunResult {
  outcome: ClaudeRunOutcome;
  /** The conversation folder the job's files and transcript are in. */
  conversationId: string;
  /** `prespawned`/`reused`: it found a process ready; `spawned`: it had to start one. */
  source: 'prespawned' | 'reused' | 'spawned';
}

export interface WarmPoolMetrics {
  spawned(kind: 'prespawn' | 'stream'): void;
  reused(): void;
  retired(reason: RetireReason): void;
}

export interface WarmPoolOptions {
  mode: Exclude<WarmPoolMode, 'off'>;
  /** Processes kept ready at most (WARM_POOL_SIZE). */
  size: number;
  /** Jobs one process serves at most in `reuse` (WARM_POOL_MAX_JOBS). */
  maxJobs: number;
  /** An idle process is retired after this (WARM_POOL_IDLE_MS). */
  idleMs: number;
  /** A process above this resident memory after a job is retired (WARM_POOL_MAX_RSS_MB). */
  maxRssBytes: number;
  killGraceMs: number;
  sandbox: Sandbox;
  dataDir: string;
  metrics?: WarmPoolMetrics;
  logger: Logger;
}

/** How long `/clear` may take before the process is judged hung (measured: 20–70 ms). */
const RESET_TIMEOUT_MS = 5000;
/** Signatures seen this recently are worth a prespawned process. */
const RECENT_MS = 10 * 60_000;
/** The few processes a healthy pooled sandbox has: bwrap, its init, the CLI, the bridge (socat and its per-connection forks). */
const OWN_PROCESSES = new Set(['bwrap', 'socat', 'claude', 'claude.exe', 'node', 'sh']);

interface Entry {
  key: string;
  spec: PoolSpec;
  process: StreamProcess;
  /** Its folders: a conversation's (prespawn) or a pool slot's (reuse). */
  dirs: ConversationPaths;
  /** The conversation id of `dirs` when they are a conversation's (prespawn). */
  conversationId: string | null;
  /** How many processes the healthy sandbox has, counted once it first answered. */
  baseline: number | null;
  idleTimer?: NodeJS.Timeout;
}

export class WarmPool {
  private readonly idle: Entry[] = [];
  private readonly busy = new Set<Entry>();
  /** Signatures by key: the spec to prespawn, and how much and how lately jobs used it. */
  private readonly demand = new Map<string, { spec: PoolSpec; uses: number; lastAt: number }>();
  private spawning = 0;
  private closed = false;

  constructor(private readonly options: WarmPoolOptions) {}

  /** Idle and busy processes, and the idle ones' resident memory. */
  stats(): { idle: number; busy: number; idleRssBytes: number } {
    const idleRssBytes = this.idle.reduce((sum, e) => sum + e.process.processes().reduce((s, p) => s + p.rssBytes, 0), 0);
    return { idle: this.idle.length, busy: this.busy.size, idleRssBytes };
  }

  async run(turn: PoolTurn): Promise<PoolRunResult> {
    const key = signatureOf(turn.spec);
    this.noteDemand(key, turn.spec);
    let entry = this.take(key);
    const source: PoolRunResult['source'] = entry ? (entry.process.jobs > 0 ? 'reused' : 'prespawned') : 'spawned';
    if (!entry) {
      entry = await this.spawn(key, turn.spec, turn.jobId);
      this.options.metrics?.spawned('stream');
    }
    if (source === 'reused') this.options.metrics?.reused();
    // Busy until it is idle again or retired: after the job, while it is reset and checked.
    this.busy.add(entry);
    // The job's conversation: the folder the process runs in, or (a pool slot) the job's own.
    const conversationId = entry.conversationId ?? turn.jobId;
    let outcome: ClaudeRunOutcome;
    try {
      await utimes(entry.dirs.root, new Date(), new Date()).catch(() => undefined);
      outcome = await entry.process.turn(turn);
      await this.afterTurn(entry, outcome, conversationId);
    } catch (err) {
      this.retire(entry, 'error');
      this.release(entry);
      throw err;
    }
    void this.replenish();
    return { outcome, conversationId, source };
  }

  /** Retires every process (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    for (const e of all) this.retire(e, 'shutdown');
    await Promise.all(all.map((e) => e.process.whenExited()));
  }

  private take(key: string): Entry | undefined {
    const i = this.idle.findIndex((e) => e.key === key && !e.process.retired);
    if (i < 0) return undefined;
    const [entry] = this.idle.splice(i, 1);
    clearTimeout(entry!.idleTimer);
    return entry;
  }

  private async spawn(key: string, spec: PoolSpec, conversationId?: string): Promise<Entry> {
    const { dataDir, sandbox } = this.options;
    // prespawn: a conversation's own folder (the job that takes it continues there);
    // reuse: a pool slot, emptied into each job's conversation after its turn.
    const id = conversationId ?? randomUUID();
    const dirs =
      this.options.mode === 'prespawn'
        ? conversationPaths(dataDir, spec.tenantId, id)
        : poolSlotPaths(dataDir, spec.tenantId, randomUUID());
    await Promise.all([mkdir(dirs.workspace, { recursive: true }), mkdir(dirs.home, { recursive: true })]);
    const command = await sandbox.prepare({ args: spec.args, dirs, env: spec.env, hosts: spec.hosts });
    const entry: Entry = {
      key,
      spec,
      dirs,
      conversationId: this.options.mode === 'prespawn' ? id : null,
      baseline: null,
      // However it is retired (here, or by itself while idle), the pool lets it go at once.
      process: new StreamProcess(command, this.options.killGraceMs, (reason) => this.onRetired(entry, reason)),
    };
    return entry;
  }

  /**
   * What becomes of a process after a job's turn. The job is done at its `result`: its
   * files move to its conversation at once, and the process is reset and checked
   * afterwards, in the background, before another job may have it.
   */
  private async afterTurn(entry: Entry, outcome: ClaudeRunOutcome, conversationId: string): Promise<void> {
    const { process } = entry;
    if (this.options.mode === 'prespawn') {
      // One job per process: close it and don't wait (a CLI can linger after its result).
      this.retire(entry, outcome.result && !process.retired ? 'max_jobs' : (process.retired ?? 'error'));
      this.release(entry);
      return;
    }
    // The slot is never handed on with a job's files, whatever became of the job.
    await moveJobFiles(entry.dirs, conversationPaths(this.options.dataDir, entry.spec.tenantId, conversationId));
    const reusable = outcome.result !== null && !outcome.result.is_error && !process.retired;
    const retireNow: RetireReason | null = !reusable ? (process.retired ?? 'error') : process.jobs >= this.options.maxJobs ? 'max_jobs' : null;
    if (retireNow) {
      this.retire(entry, retireNow);
      return this.release(entry);
    }
    void this.recycle(entry, conversationPaths(this.options.dataDir, entry.spec.tenantId, conversationId))
      .catch(() => this.retire(entry, 'error'))
      .finally(() => this.release(entry));
  }

  /** `/clear`, then the checks: nothing left running or written by the last job, memory within bounds. */
  private async recycle(entry: Entry, job: ConversationPaths): Promise<void> {
    const { process } = entry;
    const session = await process.reset(RESET_TIMEOUT_MS);
    if (!session) return this.retire(entry, process.retired ?? 'reset_failed');
    // `/clear` writes its bookkeeping (the command queued, the session's cost) to the job's
    // transcript by path, re-creating it here after it moved. It is dropped: the job's
    // conversation stays as it was at its result, as a cold run leaves it, and nothing
    // writes to it once the job is final (a follow-up may be resuming it already).
    const projects = path.join(entry.dirs.home, PROJECT_DIR);
    for (const name of await readdir(projects).catch(() => [] as string[])) {
      if (name === `${session}.jsonl`) continue;
      const moved = path.join(job.home, PROJECT_DIR, name);
      if (!name.endsWith('.jsonl') || !(await stat(moved).catch(() => null))) return this.retire(entry, 'stray_process');
      await rm(path.join(projects, name), { force: true });
    }
    // The sandbox's /tmp lives as long as the process: emptied as a cold run's would be
    // by its end, but for what the CLI itself keeps there for the new session.
    if (this.options.sandbox.kind === 'bubblewrap') await clearSandboxTmp(process, session);
    // Anything the job left since its files moved (a background command still writing)
    // would reach the next job: such a process is not reused.
    const leftovers =
      (await readdir(entry.dirs.workspace).catch(() => [])).length + (await readdir(entry.dirs.home).catch(() => [] as string[])).filter((n) => n !== '.claude').length;
    const tree = process.processes().filter((p) => p.name !== 'socat');
    entry.baseline ??= tree.length;
    if (leftovers > 0 || tree.some((p) => !OWN_PROCESSES.has(p.name)) || tree.length > entry.baseline) {
      return this.retire(entry, 'stray_process');
    }
    if (tree.reduce((sum, p) => sum + p.rssBytes, 0) > this.options.maxRssBytes) return this.retire(entry, 'rss');
    this.makeIdle(entry);
  }

  private makeIdle(entry: Entry): void {
    if (this.closed) return this.retire(entry, 'shutdown');
    entry.idleTimer = setTimeout(() => this.retire(entry, 'idle'), this.options.idleMs);
    entry.idleTimer.unref();
    this.idle.push(entry);
    this.trim();
  }

  /** Keeps at most WARM_POOL_SIZE idle: the least recently used go first. */
  private trim(): void {
    while (this.idle.length > this.options.size) {
      this.idle.sort((a, b) => a.process.lastUsedAt - b.process.lastUsedAt);
      this.retire(this.idle[0]!, 'evicted');
    }
  }

  private retire(entry: Entry, reason: RetireReason): void {
    entry.process.retire(reason);
  }

  private onRetired(entry: Entry, reason: RetireReason): void {
    clearTimeout(entry.idleTimer);
    const i = this.idle.indexOf(entry);
    if (i >= 0) this.idle.splice(i, 1);
    this.options.metrics?.retired(reason);
    // A busy one's folder is the job's to empty first: `release` removes it then.
    if (!this.busy.has(entry)) this.removeFolder(entry);
  }

  /** The job (and the reset after it) is over: the process is idle, or retired and its folder goes. */
  private release(entry: Entry): void {
    this.busy.delete(entry);
    if (entry.process.retired) this.removeFolder(entry);
  }

  /**
   * A pool slot goes with its process (each job's files were moved out); so does a
   * prespawned conversation folder no job ever used. A used prespawned folder is a
   * conversation's.
   */
  private removeFolder(entry: Entry): void {
    if (this.options.mode === 'reuse' || entry.process.jobs === 0) {
      void entry.process.whenExited().then(() => rm(entry.dirs.root, { recursive: true, force: true }));
    }
  }

  private noteDemand(key: string, spec: PoolSpec): void {
    const now = Date.now();
    const d = this.demand.get(key) ?? { spec, uses: 0, lastAt: now };
    d.uses++;
    d.lastAt = now;
    this.demand.set(key, d);
    for (const [k, v] of this.demand) if (now - v.lastAt > RECENT_MS) this.demand.delete(k);
  }

  /**
   * Starts processes ahead for the signatures recent jobs used most, while fewer than
   * WARM_POOL_SIZE are idle or starting: one at a time, so a burst of jobs is not
   * slowed by a burst of spawns.
   */
  private async replenish(): Promise<void> {
    if (this.closed || this.spawning > 0 || this.idle.length + this.spawning >= this.options.size) return;
    // A signature with a process ready counts as served; in reuse mode so does one whose
    // process is busy (it comes back after its job), in prespawn mode not (it won't).
    const served = new Set([...this.idle, ...(this.options.mode === 'reuse' ? this.busy : [])].map((e) => e.key));
    const wanted = [...this.demand.entries()].filter(([k]) => !served.has(k)).sort((a, b) => b[1].uses - a[1].uses)[0];
    if (!wanted) return;
    const [key, { spec }] = wanted;
    this.spawning++;
    try {
      const entry = await this.spawn(key, spec);
      this.options.metrics?.spawned('prespawn');
      this.makeIdle(entry);
    } catch (err) {
      this.options.logger.warn({ err: { message: (err as Error).message } }, 'could not prespawn a CLI process');
    } finally {
      this.spawning--;
    }
  }
}

/** A reuse slot's folders: like a conversation's, under the tenant's `pool/`. */
export function poolSlotPaths(dataDir: string, tenantId: string, slotId: string): ConversationPaths {
  const conversation = conversationPaths(dataDir, tenantId, slotId);
  const root = path.join(path.dirname(path.dirname(conversation.root)), 'pool', slotId);
  return { root, workspace: path.join(root, 'workspace'), home: path.join(root, 'home') };
}

function signatureOf(spec: PoolSpec): string {
  const env = Object.entries(spec.env).sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256').update(JSON.stringify([spec.tenantId, spec.args, env, spec.hosts])).digest('hex');
}

/** Where the CLI keeps the transcripts of runs in /workspace (docs/claude-cli.md). */
const PROJECT_DIR = path.join('.claude', 'projects', '-workspace');

/** What the CLI keeps in /tmp: its sockets, and `claude-<uid>/-workspace/<session>` per session. */
const CLI_TMP = /^(cc-socks|claude-\d+)$/;

/**
 * Empties a pooled process's /tmp (a tmpfs inside its sandbox, reached from the host
 * through /proc/<pid>/root of one of its processes) of everything but the CLI's own
 * sockets and its folder for the session `/clear` began.
 */
async function clearSandboxTmp(process: StreamProcess, session: string): Promise<void> {
  const inside = process.processes().find((p) => p.name !== 'bwrap');
  if (!inside) return;
  // Only ever a sandbox's own /tmp: unsandboxed (SANDBOX=off), the process's root is the
  // worker's, and its /tmp the machine's.
  const [root, host] = await Promise.all([stat(`/proc/${inside.pid}/root`).catch(() => null), stat('/')]);
  if (!root || (root.dev === host.dev && root.ino === host.ino)) return;
  const tmp = `/proc/${inside.pid}/root/tmp`;
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    if (!CLI_TMP.test(name)) {
      await rm(path.join(tmp, name), { recursive: true, force: true });
      continue;
    }
    if (!name.startsWith('claude-')) continue;
    for (const project of await readdir(path.join(tmp, name)).catch(() => [] as string[])) {
      const dir = path.join(tmp, name, project);
      for (const entry of await readdir(dir).catch(() => [] as string[])) {
        if (entry !== session) await rm(path.join(dir, entry), { recursive: true, force: true });
      }
    }
  }
}

/** The CLI's own state in a pooled process's home, kept across its jobs: settings, plugin cache, process registry. */
const CLI_STATE = new Set(['.claude.json', 'backups', 'sessions', 'plugins', 'statsig', 'projects']);

/**
 * Moves what a job left in a pool slot into its conversation's folders: every workspace
 * entry, its transcript (the CLI is idle after a result; the next session's transcript
 * only appears with `/clear`), and whatever else it left in its home (files of its own,
 * the CLI's per-session todos, snapshots and file history). What stays is the CLI's own
 * state (CLI_STATE).
 */
async function moveJobFiles(slot: ConversationPaths, to: ConversationPaths): Promise<void> {
  await Promise.all([mkdir(to.workspace, { recursive: true }), mkdir(path.join(to.home, PROJECT_DIR), { recursive: true })]);
  const moveAll = async (from: string, into: string, keep: (name: string) => boolean = () => false) => {
    for (const name of await readdir(from).catch(() => [] as string[])) {
      if (!keep(name)) await rename(path.join(from, name), path.join(into, name));
    }
  };
  await moveAll(slot.workspace, to.workspace);
  await moveAll(path.join(slot.home, PROJECT_DIR), path.join(to.home, PROJECT_DIR));
  await moveAll(slot.home, to.home, (name) => name === '.claude');
  await moveAll(path.join(slot.home, '.claude'), path.join(to.home, '.claude'), (name) => CLI_STATE.has(name));
}
