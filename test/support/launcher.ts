/**
 * `npm start`'s launcher (scripts/start.mjs) as a real process, run from the sources
 * (`--conditions=source --import tsx`, so no build is needed; it runs the API and the
 * worker the same way), optionally through npm as `npm start` runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './env.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The flags that make node run the TypeScript sources; absolute, so they work from any cwd. */
const SOURCE_FLAGS = ['--conditions=source', '--import', import.meta.resolve('tsx')];

export interface Launcher {
  /** The process the test started: the launcher itself, or npm. */
  child: ChildProcess;
  /** Everything printed so far, stdout and stderr: the launcher's lines and its children's. */
  output(): string;
  /** Resolves with the banner once the API answered and the launcher printed how to use it. */
  banner(timeoutMs?: number): Promise<string>;
  /** Pid of the API or the worker, from its first log line (pino lines carry the pid). */
  pidOf(name: 'api' | 'worker'): number | undefined;
  /** Resolves with the exit code (or signal) once the started process is gone. */
  exited: Promise<number | string | null>;
  /** Cleans up: SIGKILLs whatever is left of it (by pid) and removes npm's temp project. */
  cleanup(): Promise<void>;
}

export interface LauncherOptions {
  /**
   * Start it as `npm start` does: npm runs the root package's `start` script, its build
   * step replaced by `true` (a build is not what the test is about), the rest as written.
   */
  viaNpm?: boolean;
}

export async function startLauncher(env: Record<string, string>, options: LauncherOptions = {}): Promise<Launcher> {
  let npmDir: string | undefined;
  let child: ChildProcess;
  if (options.viaNpm) {
    const { scripts } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const [build, ...rest] = scripts.start!.split(' && ');
    if (!build?.startsWith('turbo run build') || rest.length === 0) throw new Error(`unexpected start script: ${scripts.start}`);
    // The launcher is found from the repository, and runs from the sources.
    const launch = rest.join(' && ').replace(/\bnode scripts\/start\.mjs\b/, `node ${SOURCE_FLAGS.join(' ')} ${path.join(ROOT, 'scripts/start.mjs')}`);
    npmDir = await mkdtemp(path.join(tmpdir(), 'cq-test-npm-'));
    await writeFile(path.join(npmDir, 'package.json'), JSON.stringify({ name: 'launcher-test', private: true, scripts: { start: `true && ${launch}` } }));
    child = spawn('npm', ['start', '--silent'], { cwd: npmDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    child = spawn(process.execPath, [...SOURCE_FLAGS, 'scripts/start.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const pidOf = (name: 'api' | 'worker') => {
    const m = new RegExp(`"pid":(\\d+),"hostname":"[^"]*","name":"${name}"`).exec(out);
    return m ? Number(m[1]) : undefined;
  };
  return {
    child,
    output: () => out,
    banner: (timeoutMs = 60_000) =>
      waitFor(
        () => {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the launcher exited before its banner:\n${out}`);
          const at = out.indexOf('claude-queue is running at');
          const end = out.indexOf('stops everything', at);
          return at >= 0 && end > at ? out.slice(at, end) : undefined;
        },
        timeoutMs,
        "the launcher's banner",
      ),
    pidOf,
    exited,
    async cleanup() {
      for (const pid of [child.pid, pidOf('api'), pidOf('worker')]) {
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (npmDir) await rm(npmDir, { recursive: true, force: true });
    },
  };
}
