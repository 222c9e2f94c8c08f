/**
 * One long-lived CLI process in stream-json input mode (docs/claude-cli.md, "A process
 * that stays alive"), in the sandbox its command was prepared in. It answers one user
 * message after another; each turn ends with a `result` line, and `/clear` starts a new
 * session with an empty context.
 *
 * A process that did anything unexpected is retired, never reused: a timeout or cancel
 * (killed on the spot), an exit, output while idle, a line that is not JSON. The pool
 * decides what happens between jobs (pool/warmPool.ts); this class only talks to the CLI.
 */
import { StringDecoder } from 'node:string_decoder';
import { execa, type ResultPromise } from 'execa';
import type { ClaudeCliResult, ClaudeRunOutcome } from '../cli/runner.js';
import { createStreamParser } from '../cli/streamParser.js';
import type { SandboxedCommand } from '../sandbox/sandbox.js';
import { processTree, type TreeProcess } from './processTree.js';

export interface TurnOptions {
  prompt: string;
  timeoutMs: number;
  signal?: AbortSignal;
  onText?: (text: string) => void;
  partialMessages?: boolean;
}

export type RetireReason = 'error' | 'timeout' | 'canceled' | 'exited' | 'stray_output' | 'stray_process' | 'max_jobs' | 'idle' | 'rss' | 'evicted' | 'shutdown' | 'reset_failed';

const STDERR_TAIL_BYTES = 2048;

interface Pending {
  resolve: (result: ClaudeCliResult | null) => void;
  onLine?: (line: string) => void;
}

export class StreamProcess {
  /** Jobs this process has answered. */
  jobs = 0;
  lastUsedAt = Date.now();
  /** Set once it must not serve another job; it is killed. */
  private retiredFor: RetireReason | null = null;
  private readonly child: ResultPromise;
  private pending: Pending | null = null;
  private stderrTail = '';
  private buffered = '';
  private exitInfo: { exitCode: number | null; signal: string | null } | null = null;
  private readonly exited: Promise<void>;
  /** The session's running total (`total_cost_usd` is cumulative until `/clear`). */
  private costBase = 0;
  private unparseable = false;
  private killTimer: NodeJS.Timeout | undefined;

  /**
   * @param onRetired called once, when it is first retired for whatever reason (by its
   *   owner, or by itself: output while idle, an exit), so the owner can let it go.
   */
  constructor(
    private readonly command: SandboxedCommand,
    private readonly killGraceMs: number,
    private readonly onRetired?: (reason: RetireReason) => void,
  ) {
    this.child = execa(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      detached: true,
      reject: false,
      buffer: false,
      stdin: 'pipe',
    });
    const decoder = new StringDecoder('utf8');
    this.child.stdout?.on('data', (chunk: Buffer) => this.onStdout(decoder.write(chunk)));
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    this.child.stdin?.on('error', () => undefined); // EPIPE when it died: seen through `exited`
    this.exited = this.child.then(
      (r) => {
        this.exitInfo = { exitCode: r.exitCode ?? null, signal: r.signal ?? null };
      },
      () => {
        this.exitInfo = { exitCode: null, signal: null };
      },
    ).finally(() => {
      clearTimeout(this.killTimer);
      // Whatever it left in its group (the sandbox's init and bridge) goes with it.
      this.signalGroup('SIGKILL');
      this.markRetired('exited');
      this.pending?.resolve(null);
      this.pending = null;
      void this.command.dispose();
    });
  }

  /** Why it was retired, or null while it may serve jobs. */
  get retired(): RetireReason | null {
    return this.retiredFor;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /** One turn: the prompt as a user message, events up to its `result`. */
  async turn(options: TurnOptions): Promise<ClaudeRunOutcome> {
    const started = performance.now();
    this.lastUsedAt = Date.now();
    const push = options.onText ? createStreamParser({ partial: options.partialMessages === true, onText: options.onText }) : null;
    let timedOut = false;
    let aborted = false;
    const result = await new Promise<ClaudeCliResult | null>((resolve) => {
      const timer = setTimeout(() => {
        timedOut = true;
        this.kill('timeout');
      }, options.timeoutMs);
      const onAbort = () => {
        aborted = true;
        this.kill('canceled');
      };
      // Resolved by the result line, or with null when the process exits first.
      const finish = (r: ClaudeCliResult | null) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      this.pending = { resolve: finish, onLine: push ? (line) => push(`${line}\n`) : undefined };
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      this.child.stdin?.write(`${JSON.stringify({ type: 'user', message: { role: 'user', content: options.prompt } })}\n`);
    });
    this.lastUsedAt = Date.now();
    if (result) {
      this.jobs++;
      // The job's own cost: the difference within the session.
      const total = result.total_cost_usd ?? 0;
      const own = Math.max(0, total - this.costBase);
      this.costBase = total;
      if (result.is_error) this.retire('error');
      return this.outcome({ ...result, total_cost_usd: own }, started, { timedOut, aborted });
    }
    if (!timedOut && !aborted) await this.exited;
    return this.outcome(null, started, { timedOut, aborted });
  }

  /**
   * `/clear`: a new session with an empty context. Its session id, or null when it did
   * not answer within `timeoutMs` (the CLI has been seen to hang after a result) or the
   * process is gone.
   */
  async reset(timeoutMs: number): Promise<string | null> {
    if (this.retired) return null;
    const result = await new Promise<ClaudeCliResult | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      this.pending = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      this.child.stdin?.write(`${JSON.stringify({ type: 'user', message: { role: 'user', content: '/clear' } })}\n`);
    });
    this.pending = null;
    if (!result || result.is_error) return null;
    this.costBase = result.total_cost_usd ?? 0;
    return result.session_id;
  }

  /** The sandbox's processes as the host sees them (bwrap, its init, the CLI, the bridge, and anything they started). */
  processes(): TreeProcess[] {
    return this.pid === undefined || !this.alive ? [] : processTree(this.pid);
  }

  /** Ends it: stdin closed, the group SIGTERMed, SIGKILLed after the grace period. Never waits. */
  retire(reason: RetireReason): void {
    this.kill(reason);
  }

  /** Resolves once the process is gone. */
  whenExited(): Promise<void> {
    return this.exited;
  }

  private markRetired(reason: RetireReason): void {
    if (this.retiredFor) return;
    this.retiredFor = reason;
    this.onRetired?.(reason);
  }

  private kill(reason: RetireReason): void {
    this.markRetired(reason);
    if (!this.alive || this.killTimer) return;
    this.child.stdin?.end();
    this.signalGroup('SIGTERM');
    this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), this.killGraceMs);
    this.killTimer.unref();
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: gone already
    }
  }

  private onStdout(chunk: string): void {
    this.buffered += chunk;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffered.slice(0, newline).trim();
      this.buffered = this.buffered.slice(newline + 1);
      if (line) this.onLine(line);
      newline = this.buffered.indexOf('\n');
    }
  }

  private onLine(line: string): void {
    const pending = this.pending;
    if (!pending) {
      // Nothing was asked: output from an idle process is not to be trusted with a job.
      this.retire('stray_output');
      return;
    }
    let parsed: { type?: string } & Partial<ClaudeCliResult>;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.unparseable = true;
      this.retire('stray_output');
      return;
    }
    pending.onLine?.(line);
    if (parsed.type === 'result' && typeof parsed.is_error === 'boolean') {
      this.pending = null;
      pending.resolve(parsed as ClaudeCliResult);
    }
  }

  private outcome(result: ClaudeCliResult | null, started: number, flags: { timedOut: boolean; aborted: boolean }): ClaudeRunOutcome {
    return {
      result,
      exitCode: this.exitInfo?.exitCode ?? null,
      signal: this.exitInfo?.signal ?? null,
      timedOut: flags.timedOut,
      aborted: flags.aborted,
      stderrTail: this.stderrTail,
      unparseable: this.unparseable && !result,
      wallMs: Math.round(performance.now() - started),
    };
  }
}
