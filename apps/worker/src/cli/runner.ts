/**
 * The one seam between a job and the Claude Code CLI. The processor hands a runner
 * an invocation and gets back what the CLI did; it never spawns anything itself.
 * Two runners: one `claude --print` per job (spawnRunner.ts), and the warm pool of
 * long-lived stream-json processes (pool/poolRunner.ts), which hands continued
 * conversations to the first. Both run the CLI in the sandbox (sandbox/).
 */
import type { ConversationPaths, HostRule } from '@claude-queue/shared';

/** Everything fixed for one CLI run. */
export interface ClaudeInvocation {
  tenantId: string;
  jobId: string;
  /** CLI flags (buildArgs.ts), one argv entry each. */
  args: string[];
  /** The child's environment before the sandbox: the allowlist and the model credentials (childEnv.ts). */
  env: Record<string, string>;
  /** Hosts of the job's MCP servers, which its run may reach. */
  hosts: HostRule[];
  /**
   * The conversation's folders: the one a `session_id` continues (`continued`, with
   * `--resume` in the args), or the new one this job begins (its id is the job's).
   */
  conversation: { id: string; paths: ConversationPaths; continued: boolean };
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
  /** Where the run's session lives, when not `invocation.conversation` (a prespawned process's folder). */
  conversationId?: string;
}

export interface ClaudeRunner {
  run(invocation: ClaudeInvocation): Promise<ClaudeRunOutcome>;
}
