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
import { startLauncher, type Launcher } from '../support/launcher.js';
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
