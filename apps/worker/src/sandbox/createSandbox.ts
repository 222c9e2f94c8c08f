import type { HostRule, Logger, WorkerConfig } from '@claude-queue/shared';
import { createBubblewrapSandbox } from './bubblewrap.js';
import { findProgram } from './findProgram.js';
import type { Sandbox } from './sandbox.js';
import { createUnsandboxed } from './unsandboxed.js';

export interface CreateSandboxOptions {
  config: Pick<WorkerConfig, 'SANDBOX' | 'SANDBOX_ALLOWED_HOSTS' | 'SANDBOX_TMP_SIZE_MB' | 'SANDBOX_READ_ONLY_PATHS' | 'MCP_ALLOW_PRIVATE'>;
  claudeBin: string;
  env: NodeJS.ProcessEnv;
  onRefused?: (target: { host: string; port: number; reason: string }) => void;
  logger: Logger;
}

/** The sandbox SANDBOX names. */
export function createSandbox(options: CreateSandboxOptions): Sandbox {
  const { config } = options;
  if (config.SANDBOX === 'off') {
    return createUnsandboxed({ claudeBin: options.claudeBin, setprivBin: process.platform === 'linux' ? findProgram('setpriv', options.env.PATH) : null });
  }
  return createBubblewrapSandbox({
    claudeBin: options.claudeBin,
    operatorHosts: config.SANDBOX_ALLOWED_HOSTS as HostRule[],
    allowPrivateMcp: config.MCP_ALLOW_PRIVATE,
    tmpSizeMb: config.SANDBOX_TMP_SIZE_MB,
    readOnlyPaths: config.SANDBOX_READ_ONLY_PATHS,
    env: options.env,
    onRefused: options.onRefused,
    logger: options.logger,
  });
}
