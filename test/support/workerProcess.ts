/**
 * The service's own processes for tests that need real ones: `apps/<app>/src/main.ts`
 * run from source by tsx, as `npm run start:api` / `start:worker` run the build.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface AppProcess {
  child: ChildProcess;
  /** Resolves once the process logged that it started. */
  ready: Promise<void>;
  /** Everything it printed on stdout so far (pino JSON lines). */
  output(): string;
  /** Everything it printed on stderr so far (nothing, when all is well: logs go to stdout). */
  errorOutput(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}
export type WorkerProcess = AppProcess;

/**
 * Started with a parent-death signal where util-linux's setpriv exists (as the worker
 * starts the CLI): if the test process goes away, however it ends, so do these.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function startAppProcess(app: 'api' | 'worker', readyMessage: string, env: Record<string, string>): AppProcess {
  const args = ['--conditions=source', '--import', 'tsx', `apps/${app}/src/main.ts`];
  const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(file, argv, {
    cwd: ROOT,
    env: { ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (stdout.includes(`"${readyMessage}"`)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${app} exited with ${code} before starting: ${stderr}`)));
  });
  ready.catch(() => undefined); // observed by whoever awaits it
  return {
    child,
    ready,
    output: () => stdout,
    errorOutput: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill(signal);
      return exited;
    },
  };
}

export const startWorkerProcess = (env: Record<string, string>) => startAppProcess('worker', 'worker started', env);
export const startApiProcess = (env: Record<string, string>) => startAppProcess('api', 'api listening', env);
