/**
 * The one seam between a job and the Claude Code CLI. The processor hands a runner
 * an invocation and gets back what the CLI did; it never spawns anything itself.
 * Today's runner spawns `claude --print` per job (spawnRunner.ts), inside the command
 * the sandbox prepared; a pool of long-lived stream-json processes can implement the
 * same interface beside it.
 */

/** What to spawn: the sandbox's command for the run (sandbox/sandbox.ts). */
export interface ClaudeCommand {
  file: string;
  /** One argv entry each, never a command line string. */
  args: string[];
  cwd: string;
  /** The child's whole environment (an allowlist, see childEnv.ts). */
  env: Record<string, string>;
}

/** Everything fixed for one CLI run. */
export interface ClaudeInvocation {
  command: ClaudeCommand;
  /** Sent on stdin, never in argv: argv is visible to every user of the machine. */
  prompt: string;
  timeoutMs: number;
  /** Aborting it stops the run (cancellation, lost lock, shutdown). */
  signal?: AbortSignal;
  /** Called with the assistant's text as the CLI produces it. */
  onText?: (text: string) => void;
  /** The args ask for partial messages: text comes in deltas. */
  partialMessages?: boolean;
}

/** The CLI's JSON result object, the members the service reads (docs/claude-cli.md). */
export interface ClaudeCliResult {
  type: 'result';
  subtype: string;
  is_error: boolean;
  api_error_status: number | null;
  result?: string;
  session_id: string;
  num_turns?: number;
  duration_ms?: number;
  total_cost_usd?: number;
  usage?: Record<string, unknown>;
  structured_output?: unknown;
  errors?: string[];
}

/** What happened, before anyone decides whether it was a success (classifyOutcome.ts does). */
export interface ClaudeRunOutcome {
  /** The result object, when the CLI printed one. */
  result: ClaudeCliResult | null;
  exitCode: number | null;
  /** The signal that ended the child, if one did. */
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  /** The end of stderr, for error messages. Holds no prompt: the prompt went to stdin. */
  stderrTail: string;
  /** True when stdout had content that was not a result object. */
  unparseable: boolean;
  wallMs: number;
}

export interface ClaudeRunner {
  run(invocation: ClaudeInvocation): Promise<ClaudeRunOutcome>;
}
