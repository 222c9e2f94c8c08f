/**
 * SANDBOX=off: the CLI runs as the worker's user, sees what the worker sees and reaches
 * what it reaches. Only for a deployment whose every job is trusted (one tenant); the
 * worker says so at start and on /readyz.
 */
import path from 'node:path';
import type { Sandbox } from './sandbox.js';

export interface UnsandboxedOptions {
  claudeBin: string;
  /**
   * util-linux `setpriv`, to start the CLI with a parent-death signal: if the worker is
   * SIGKILLed, its CLI runs die with it instead of calling the model for a job that
   * another worker will run again. Without it (not Linux) they run to their end.
   */
  setprivBin: string | null;
}

export function createUnsandboxed(options: UnsandboxedOptions): Sandbox {
  return {
    kind: 'off',
    async start() {},
    async prepare(run) {
      const [file, args] = options.setprivBin
        ? [options.setprivBin, ['--pdeathsig', 'KILL', '--', options.claudeBin, ...run.args]]
        : [options.claudeBin, run.args];
      return {
        file,
        args,
        cwd: run.dirs.workspace,
        env: { ...run.env, HOME: run.dirs.home, CLAUDE_CONFIG_DIR: path.join(run.dirs.home, '.claude') },
        dispose: async () => undefined,
      };
    },
    async close() {},
  };
}
