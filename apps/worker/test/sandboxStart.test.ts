/**
 * Fail closed: a worker that can't sandbox its runs refuses to start, saying what is
 * missing; running unsandboxed takes SANDBOX=off, and the worker says so at start and
 * on every /readyz.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationPaths, createLogger } from '@claude-queue/shared';
import { createClaudeWorker } from '../src/createWorker.js';
import { explainBwrapFailure } from '../src/sandbox/bubblewrap.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';
import { freePort } from '../../../test/support/redisServer.js';
import { FAKE_CLAUDE } from '../../../test/support/stack.js';
import { startWorkerProcess } from '../../../test/support/workerProcess.js';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  await env?.cleanup();
});

describe('a worker without a sandbox', () => {
  it('refuses to start when bubblewrap and socat are missing, and says how to install them', async () => {
    // A PATH with neither (the worker itself runs from node's absolute path).
    const emptyBin = await mkdtemp(path.join(tmpdir(), 'cq-empty-path-'));
    try {
      const worker = startWorkerProcess(env.processEnv({ PATH: emptyBin, CLAUDE_BIN: FAKE_CLAUDE }));
      await expect(worker.ready).rejects.toThrow(/exited with 1 before starting/);
      expect(worker.output()).toContain('SANDBOX=bubblewrap needs bubblewrap (bwrap) and socat on PATH');
      expect(worker.output()).toContain('apt-get install bubblewrap socat');
    } finally {
      await rm(emptyBin, { recursive: true, force: true });
    }
  });

  it.each([
    ['bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces', /user namespaces are not available.*kernel\.unprivileged_userns_clone=1.*seccomp=unconfined/s],
    ['bwrap: setting up uid map: Permission denied', /user namespaces are not available/],
    ["bwrap: Can't mount proc on /newroot/proc: Operation not permitted", /systempaths=unconfined/],
    ['bwrap: something new', /bubblewrap could not start a sandbox: bwrap: something new/],
  ])('explains %j with what to do about it', (stderr, expected) => {
    expect(explainBwrapFailure(stderr)).toMatch(expected);
  });
});

describe('SANDBOX=off', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(env.apiConfig());
  });
  afterAll(async () => {
    await api?.close();
  });

  it('runs jobs unsandboxed, and says so at start and on /readyz', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const logger = createLogger('worker', 'warn', { destination: { write: (line: string) => lines.push(line) } });
    const worker = createClaudeWorker({
      config: env.workerConfig({ SANDBOX: 'off', WARM_POOL: 'off', CLAUDE_BIN: FAKE_CLAUDE, METRICS_PORT: String(port) }),
      logger,
      env: { PATH: process.env.PATH },
    });
    try {
      await worker.ready;
      expect(lines.join('')).toContain('SANDBOX=off: CLI runs are not isolated');
      const ready = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
      expect(ready).toMatchObject({ status: 'ready', sandbox: 'off', warning: expect.stringContaining('single-tenant use only') });

      const tenant = await api.createTenant('unsandboxed');
      const job = await submitJob(api, tenant.api_key, { prompt: 'where am I' });
      expect((await waitForFinal(api, tenant.api_key, job.id)).status).toBe('succeeded');
      const paths = conversationPaths(env.dataDir, tenant.id, job.id);
      const call = JSON.parse(await readFile(path.join(paths.workspace, 'fake-claude-call.json'), 'utf8'));
      // The host's own paths: nothing is mapped.
      expect(call.env.HOME).toBe(paths.home);
      expect(call.env.CLAUDE_CONFIG_DIR).toBe(path.join(paths.home, '.claude'));
    } finally {
      await worker.close();
    }
  });
});
