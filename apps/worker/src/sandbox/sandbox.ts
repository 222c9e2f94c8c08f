/**
 * The boundary between a tenant's CLI run and the worker. Every run (and whatever it
 * starts: tools, MCP servers, subprocesses) goes through `Sandbox.prepare`, which turns
 * what the run needs into the command to spawn:
 *
 * - `bubblewrap` (bubblewrap.ts, the default): its own mount, pid, network, user, ipc and
 *   uts namespaces; it sees its conversation's workspace and home, the CLI and the
 *   system's programs, a private /tmp, its own processes, and reaches the network only
 *   through the worker's egress proxy (egressProxy.ts): the model API, with credentials
 *   the sandbox never holds, and the hosts its job is allowed.
 * - `off` (unsandboxed.ts): the CLI runs as the worker's user with the worker's view of
 *   everything. For a single-tenant deployment that trusts every job.
 *
 * The processor and the runners depend on this interface only.
 */
import { hostRuleOfUrl, type HostRule, type JobRequest } from '@claude-queue/shared';

export type SandboxKind = 'bubblewrap' | 'off';

/** One CLI run, as the processor describes it. */
export interface SandboxRun {
  /** CLI flags, one argv entry each. */
  args: string[];
  /** Host folders of the run's conversation (`conversationPaths`): the cwd and HOME. */
  dirs: { workspace: string; home: string };
  /**
   * The child's environment (an allowlist, childEnv.ts), credentials included: the
   * sandbox decides where they go (bubblewrap: into its egress proxy, never the child).
   */
  env: Record<string, string>;
  /** Hosts this run may reach besides the model API and SANDBOX_ALLOWED_HOSTS: its MCP servers'. */
  hosts: HostRule[];
}

/** What to spawn for one run; `dispose` when the run is over, however it ended. */
export interface SandboxedCommand {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  dispose(): Promise<void>;
}

export interface Sandbox {
  readonly kind: SandboxKind;
  /**
   * Sets the sandbox up and tries it once; rejects with SandboxUnavailableError, saying
   * what is missing and how to fix it, when runs can't be sandboxed. Before `prepare`.
   */
  start(): Promise<void>;
  prepare(run: SandboxRun): Promise<SandboxedCommand>;
  /** Removes what the sandbox keeps for the worker's life (its runtime folder). */
  close(): Promise<void>;
}

/** The hosts a job's remote MCP servers are on: the only hosts it adds to what its run may reach. */
export function jobHostRules(request: Pick<JobRequest, 'mcp_config'>): HostRule[] {
  const rules: HostRule[] = [];
  for (const server of Object.values(request.mcp_config?.mcpServers ?? {})) {
    if (typeof server.url === 'string') rules.push(hostRuleOfUrl(new URL(server.url)));
  }
  return rules;
}
