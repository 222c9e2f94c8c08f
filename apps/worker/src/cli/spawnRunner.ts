/**
 * The one-shot runner: one `claude --print` process per job, through execa, spawned as
 * the sandbox's command says. The child leads its own process group so that every way
 * out (success, failure, timeout, abort) can end it and whatever it started (tool
 * subprocesses) at once; in a bubblewrap sandbox, ending bwrap ends its whole pid
 * namespace.
 */
import { mkdir, utimes } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { execa } from 'execa';
import { parseCliOutput } from './parseOutput.js';
import { createStreamParser } from './streamParser.js';
import type { Sandbox, SandboxedCommand } from '../sandbox/sandbox.js';
import type { ClaudeInvocation, ClaudeRunOutcome, ClaudeRunner } from './runner.js';

export interface SpawnRunnerOptions {
  /** Where every run goes. */
  sandbox: Sandbox;
  /** Time between SIGTERM and SIGKILL when a run is stopped (default: 5000). */
  killGraceMs?: number;
}

const STDERR_TAIL_BYTES = 2048;
/** A result with a long answer is well under this; a runaway tool's output is not. */
const MAX_BUFFER_BYTES = 64 * 1024 * 1024;

export function createSpawnRunner(options: SpawnRunnerOptions): ClaudeRunner {
  const killGraceMs = options.killGraceMs ?? 5000;
  return {
    async run(invocation: ClaudeInvocation): Promise<ClaudeRunOutcome> {
      const { paths } = invocation.conversation;
      await Promise.all([mkdir(paths.workspace, { recursive: true }), mkdir(paths.home, { recursive: true })]);
      // A conversation in use: the janitor removes only long-unused ones.
      await utimes(paths.root, new Date(), new Date());
      const command = await options.sandbox.prepare({ args: invocation.args, dirs: paths, env: invocation.env, hosts: invocation.hosts });
      try {
        return await spawnOnce(command, invocation);
      } finally {
        await command.dispose();
      }
    },
  };

  async function spawnOnce(command: SandboxedCommand, invocation: ClaudeInvocation): Promise<ClaudeRunOutcome> {
    const started = performance.now();
    const child = execa(command.file, command.args, {
      input: invocation.prompt,
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      detached: true,
      reject: false,
      stripFinalNewline: false,
      maxBuffer: MAX_BUFFER_BYTES,
    });

    const { onText } = invocation;
    if (onText) {
      const push = createStreamParser({ partial: invocation.partialMessages === true, onText });
      // A decoder of our own: a multi-byte character may straddle two chunks.
      const decoder = new StringDecoder('utf8');
      child.stdout?.on('data', (chunk: Buffer) => push(decoder.write(chunk)));
    }

    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (killTimer) return;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), killGraceMs);
    };
    const timeoutTimer = setTimeout(() => {
      timedOut = true;
      stop();
    }, invocation.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (invocation.signal?.aborted) onAbort();
    invocation.signal?.addEventListener('abort', onAbort, { once: true });

    try {
      const r = await child;
      const { result, unparseable } = parseCliOutput(String(r.stdout ?? ''));
      const stderr = String(r.stderr ?? '');
      const spawnFailure = r.exitCode === undefined && r.signal === undefined ? (r.shortMessage ?? '') : '';
      return {
        result,
        exitCode: r.exitCode ?? null,
        signal: r.signal ?? null,
        timedOut,
        aborted,
        stderrTail: (stderr || spawnFailure).slice(-STDERR_TAIL_BYTES),
        unparseable,
        wallMs: Math.round(performance.now() - started),
      };
    } finally {
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      invocation.signal?.removeEventListener('abort', onAbort);
      // The CLI is gone; end anything it left behind in its group.
      signalGroup('SIGKILL');
    }
  }
}
