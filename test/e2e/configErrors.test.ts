/**
 * A process started with a bad setting says which variable and what is wrong with it,
 * in one line on stderr, and exits non-zero: no stack trace, no half-started process.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs one of the service's programs from source with exactly `env` (and PATH). */
async function run(entry: string, env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', entry, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** One line, the program's name first, naming the variable; nothing that looks like a stack. */
function expectOneLine(result: { code: number; stderr: string }, program: string, variable: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${program}: invalid configuration: `));
  expect(lines[0]).toMatch(variable);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('a bad setting', { timeout: 90_000 }, () => {
  it('stops the API with one line naming ADMIN_TOKEN', async () => {
    const r = await run('apps/api/src/main.ts', { REDIS_URL: 'redis://127.0.0.1:1' });
    expectOneLine(r, 'api', /ADMIN_TOKEN: is required/);
  });

  it('stops the API with one line naming a malformed SECRETS_KEY (parsed after the schema)', async () => {
    const r = await run('apps/api/src/main.ts', { ADMIN_TOKEN: 'x'.repeat(20), SECRETS_KEY: 'too-short', REDIS_URL: 'redis://127.0.0.1:1' });
    expectOneLine(r, 'api', /SECRETS_KEY: must be 32 bytes/);
  });

  it('stops the worker with one line naming each variable at fault', async () => {
    const r = await run('apps/worker/src/main.ts', { WORKER_CONCURRENCY: 'many', WORKER_CLI_BARE: 'yes' });
    expectOneLine(r, 'worker', /WORKER_CONCURRENCY: .*; WORKER_CLI_BARE: must be true or false/);
  });

  it('stops the tenants CLI with one line naming QUEUE_PREFIX', async () => {
    const r = await run('apps/api/src/tenantsCli.ts', { QUEUE_PREFIX: 'no spaces' }, ['list']);
    expectOneLine(r, 'tenants', /QUEUE_PREFIX: letters, digits, _ and - only/);
  });
});
