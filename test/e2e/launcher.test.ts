/**
 * `npm start` as a new user meets it: the launcher (scripts/start.mjs) with the API and a
 * worker, on a private Redis under a QUEUE_PREFIX of its own.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_TIMEOUT_MS } from '@claude-queue/shared';
import { waitFor } from '../support/env.js';
import { startLauncher, type Launcher } from '../support/launcher.js';
import { isAlive } from '../support/processes.js';
import { freePort, startRedisServer, type RedisServer } from '../support/redisServer.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FAKE_CLAUDE = fileURLToPath(new URL('../support/fake-claude.mjs', import.meta.url));

let redis: RedisServer;
let dataDir: string;
let launcher: Launcher | undefined;

beforeAll(async () => {
  redis = await startRedisServer();
  dataDir = await mkdtemp(path.join(tmpdir(), 'cq-test-launcher-'));
});

afterEach(async () => {
  await launcher?.cleanup();
  launcher = undefined;
});

afterAll(async () => {
  await redis?.destroy();
  await rm(dataDir, { recursive: true, force: true });
});

/** What the launcher runs with: this file's Redis, a prefix that is not the default, no sandbox tools needed. */
async function launcherEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `t${randomBytes(4).toString('hex')}`,
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    SANDBOX: 'off',
    CLAUDE_BIN: FAKE_CLAUDE,
    ANTHROPIC_API_KEY: 'sk-ant-test-not-used',
    ...extra,
  };
}

/** `NAME=value` words at the start of a shell command line, unquoted. */
function leadingAssignments(line: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of line.matchAll(/(?:^|\s)([A-Z_]+)=('(?:[^']|'\\'')*'|\S+)/g)) {
    env[m[1]!] = m[2]!.startsWith("'") ? m[2]!.slice(1, -1).replace(/'\\''/g, "'") : m[2]!;
  }
  return env;
}

describe('npm start', { timeout: 120_000 }, () => {
  it('prints a tenants command that creates a tenant this API accepts', async () => {
    const env = await launcherEnv();
    launcher = await startLauncher(env);
    const banner = await launcher.banner();
    const line = banner.split('\n').find((l) => l.includes('npm run tenants -- create demo'))!.trim();
    const printed = leadingAssignments(line.slice(0, line.indexOf('npm run tenants')));
    expect(printed).toEqual({ REDIS_URL: redis.url, QUEUE_PREFIX: env.QUEUE_PREFIX });

    // Run it as printed: those variables and nothing else of the launcher's (the tenants
    // CLI from the sources, as `npm run tenants` runs its build).
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'apps/api/src/tenantsCli.ts', 'create', 'demo'],
      { cwd: ROOT, env: { PATH: env.PATH!, ...printed }, timeout: 30_000 },
    );
    // It says where it wrote.
    expect(stderr).toContain(`tenants: Redis ${redis.url}`);
    expect(stderr).toContain(`QUEUE_PREFIX=${env.QUEUE_PREFIX}`);
    expect(stdout).toContain(`created in Redis ${redis.url}`);
    const key = /api key:\s+(cq_\S+)/.exec(stdout)![1]!;
    const res = await fetch(`http://127.0.0.1:${env.PORT}/v1/jobs`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
  });
});

describe('stopping npm start', { timeout: 120_000 }, () => {
  /** Starts it, waits for its banner, and returns the pids of the launcher (or npm), the API and the worker. */
  async function started(extra: Record<string, string> = {}, viaNpm = false) {
    launcher = await startLauncher(await launcherEnv(extra), { viaNpm });
    await launcher.banner();
    // The banner follows the API's health; the worker may log its first line a moment later.
    const l = launcher;
    const pids = await waitFor(
      () => {
        const [api, worker] = [l.pidOf('api'), l.pidOf('worker')];
        return api && worker ? { top: l.child.pid!, api, worker } : undefined;
      },
      30_000,
      'the API and the worker to log',
    );
    expect(Object.values(pids).every((pid) => pid > 0 && isAlive(pid)), `${JSON.stringify(pids)}\n${launcher.output()}`).toBe(true);
    return pids;
  }

  const allGone = (pids: Record<string, number>) =>
    waitFor(() => (Object.values(pids).every((pid) => !isAlive(pid)) ? true : undefined), 30_000, 'the launcher, API and worker to exit');

  it('SIGTERM to the launcher stops the API, the worker and itself', async () => {
    const pids = await started();
    process.kill(pids.top, 'SIGTERM');
    await allGone(pids);
    expect(await launcher!.exited).toBe(0);
    expect(launcher!.output()).not.toContain('killing it');
  });

  it("SIGTERM to npm's process (npm start) reaches the launcher: everything stops", async () => {
    const pids = await started({}, true);
    // npm forwards SIGTERM to its script's process: the launcher itself, not a shell
    // that would die and leave the launcher running.
    process.kill(pids.top, 'SIGTERM');
    await allGone(pids);
  });

  it("kills a child that outlives its own stop deadline (SHUTDOWN_GRACE_MS + closing), saying so, and not before", async () => {
    const graceMs = 1000;
    const pids = await started({ SHUTDOWN_GRACE_MS: String(graceMs) });
    // A stopped process can't act on SIGTERM: the stand-in for a worker that hangs.
    process.kill(pids.worker, 'SIGSTOP');
    const sent = Date.now();
    process.kill(pids.top, 'SIGTERM');
    await waitFor(() => (!isAlive(pids.api) ? true : undefined), 30_000, 'the API to stop');
    const killed = await waitFor(() => (!isAlive(pids.worker) ? Date.now() : undefined), 40_000, 'the worker to be killed');
    expect(killed - sent).toBeGreaterThanOrEqual(graceMs + CLOSE_TIMEOUT_MS);
    expect(launcher!.output()).toMatch(/\[start\] worker did not stop within [\d.]+ s of SIGTERM; killing it \(SIGKILL\)/);
    await allGone(pids);
  });
});
