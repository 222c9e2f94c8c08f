/**
 * Maps a validated request to CLI flags: one array entry per argv item, no shell,
 * no string-built command line. Values that could look like flags are refused by
 * the request schema; free text goes in `--flag=value` form so it can't be read as one.
 */
import type { JobRequest } from '@claude-queue/shared';

export interface BuildArgsOptions {
  /** The session to continue (`--resume`). */
  resume?: string;
  /** `--bare`: skip hooks, plugins and CLAUDE.md discovery. */
  bare?: boolean;
  /** Tools the deployment denies (DENIED_TOOLS): disallowed on every run, whatever the request. */
  deniedTools?: readonly string[];
}

/**
 * The same flags for a process that stays alive and reads one user message per line on
 * stdin (pool/streamProcess.ts) instead of one prompt.
 */
export function withStreamInput(args: readonly string[]): string[] {
  const at = args.indexOf('--verbose') + 1;
  return [...args.slice(0, at), '--input-format', 'stream-json', ...args.slice(at)];
}

export function buildClaudeArgs(request: JobRequest, options: BuildArgsOptions = {}): string[] {
  // stream-json: the text reaches GET /v1/jobs/{id}/events as the CLI produces it; the
  // last line is the same result object `json` would print.
  const args = ['--print', '--output-format', 'stream-json', '--verbose'];
  if (request.stream) args.push('--include-partial-messages');
  if (options.bare) args.push('--bare');
  if (options.resume) args.push('--resume', options.resume);
  // A new session id for the branch; the conversation it branched from stays as it was.
  if (options.resume && request.fork) args.push('--fork-session');
  if (request.model) args.push('--model', request.model);
  if (request.system_prompt) args.push(`--system-prompt=${request.system_prompt}`);
  if (request.append_system_prompt) args.push(`--append-system-prompt=${request.append_system_prompt}`);
  if (request.max_turns !== undefined) args.push('--max-turns', String(request.max_turns));
  if (request.max_budget_usd !== undefined) args.push('--max-budget-usd', String(request.max_budget_usd));
  if (request.permission_mode) args.push('--permission-mode', request.permission_mode);
  // Variadic flags: each tool is its own argv entry ("Bash(git *)" holds a space).
  if (request.allowed_tools?.length) args.push('--allowed-tools', ...request.allowed_tools);
  const disallowed = [...(options.deniedTools ?? []), ...(request.disallowed_tools ?? [])];
  if (disallowed.length) args.push('--disallowed-tools', ...disallowed);
  if (request.mcp_config) {
    // Only the request's MCP servers: never ones a tenant's config dir might hold.
    args.push(`--mcp-config=${JSON.stringify(request.mcp_config)}`, '--strict-mcp-config');
  }
  if (request.json_schema) args.push(`--json-schema=${JSON.stringify(request.json_schema)}`);
  return args;
}
