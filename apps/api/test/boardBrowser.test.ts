/**
 * The board in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core, which never downloads a browser of its own) behind the Basic login:
 * the page and a failed job's error, a retry from the UI (the browser's own headers
 * pass the same-origin rule), and another site's form post refused.
 * Skipped, saying why, where no Chromium is installed; `.ci/run` installs it.
 *
 * BOARD_SCREENSHOT=/tmp/board.png saves what the browser showed, to look at.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog, createLogger, type JobView } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';

const CHROMIUM = '/usr/bin/chromium';
const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));
const LOGIN = { username: 'carol', password: 'carol-board-password' };

const hasChromium = existsSync(CHROMIUM);
const SKIP_REASON = `no Chromium at ${CHROMIUM}: install it with apt-get install chromium (.ci/run does)`;
if (!hasChromium) console.warn(`boardBrowser.test.ts skipped: ${SKIP_REASON}`);

describe.skipIf(!hasChromium)(`the board in headless Chromium${hasChromium ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  let env: TestEnv;
  let api: TestApi;
  let worker: ClaudeWorker;
  let browser: Browser;
  let failedReason: string;
  let tenant: { id: string; api_key: string };
  let failedJobId: string;

  beforeAll(async () => {
    env = await createTestEnv();
    api = await startTestApi(env.apiConfig({ BOARD_USERS: `${LOGIN.username}:${LOGIN.password}:rw` }));
    worker = createClaudeWorker({
      config: env.workerConfig({ CLAUDE_BIN: FAKE_CLAUDE }),
      logger: createLogger('worker', 'silent'),
      env: { PATH: process.env.PATH },
    });
    const launching = chromium.launch({
      executablePath: CHROMIUM,
      // launch() gives every run a fresh temporary profile, removed on close.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await worker.ready;
    tenant = await api.createTenant('browser');
    const job = await waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'FAKE:api:401' })).id);
    expect(job.status).toBe('failed');
    failedReason = (await api.ctx.queue.getJob(job.id))!.failedReason;
    expect(failedReason).toBe('auth_failed');
    failedJobId = job.id;
    browser = await launching;
  });

  afterAll(async () => {
    await browser?.close();
    await worker?.close();
    await api?.close();
    await env?.cleanup();
  });

  /** Requests the board's pages made to anywhere but the test's API (web fonts, say): there must be none. */
  const elsewhere: string[] = [];

  /** A context that reaches only the test's API; what it tried elsewhere is noted in `elsewhere`. */
  async function newContext(withLogin: boolean): Promise<BrowserContext> {
    const context = await browser.newContext(withLogin ? { httpCredentials: { ...LOGIN, origin: api.url } } : {});
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${api.url}/`)) return route.continue();
      if (!url.startsWith('http://elsewhere.test/')) elsewhere.push(url);
      return route.abort();
    });
    return context;
  }

  it('answers 401 without a login', async () => {
    const context = await newContext(false);
    try {
      const page = await context.newPage();
      const answered = page.waitForResponse(`${api.url}/admin/queues`);
      // With no login to offer, Chromium gives up on the page after the challenge.
      const navigation = await page.goto(`${api.url}/admin/queues`).catch((err: Error) => err);
      const res = await answered;
      expect(res.status()).toBe(401);
      expect(await res.headerValue('www-authenticate')).toBe('Basic realm="claude-queue"');
      if (navigation instanceof Error) expect(navigation.message).toContain('ERR_INVALID_AUTH_CREDENTIALS');
      else expect(navigation?.status()).toBe(401);
    } finally {
      await context.close();
    }
  });

  it("lists the queues, and shows a failed job's error in the claude queue's Failed tab", async () => {
    const context = await newContext(true);
    try {
      const page = await context.newPage();
      const res = await page.goto(`${api.url}/admin/queues`);
      expect(res?.status()).toBe(200);
      for (const spec of Object.values(catalog)) {
        await page.getByRole('link', { name: spec.queue, exact: true }).first().waitFor({ timeout: 10_000 });
      }

      await page.goto(`${api.url}/admin/queues/queue/${catalog.claude.queue}?status=failed`);
      await page.getByText(failedReason).first().waitFor({ timeout: 10_000 });
      if (process.env.BOARD_SCREENSHOT) await page.screenshot({ path: process.env.BOARD_SCREENSHOT, fullPage: true });
      // The page loads nothing from elsewhere: operators' browsers may have no internet.
      expect(elsewhere).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("retries the failed job from the UI: the browser's own requests pass the same-origin rule", async () => {
    const context = await newContext(true);
    try {
      const page = await context.newPage();
      await page.goto(`${api.url}/admin/queues/queue/${catalog.claude.queue}?status=failed`);
      await page.getByText(failedReason).first().waitFor({ timeout: 10_000 });
      await page.getByRole('button', { name: 'Retry all' }).click();
      const answered = page.waitForResponse((res) => res.url().endsWith(`/api/queues/${catalog.claude.queue}/retry/failed`));
      await page.getByRole('button', { name: 'Confirm' }).click();
      expect((await answered).status()).toBe(200);
      const rerun = await waitFor(async () => {
        const job = (await api.request('GET', `/v1/jobs/${failedJobId}`, { key: tenant.api_key })).body as JobView;
        return job.attempts === 2 && job.status === 'failed' ? job : undefined;
      });
      expect(rerun.attempt_history.map((a) => a.code)).toEqual(['auth_failed', 'auth_failed']);
    } finally {
      await context.close();
    }
  });

  it('refuses a write that another site posts with the cached login', async () => {
    const context = await newContext(true);
    try {
      const page = await context.newPage();
      // A page elsewhere whose form posts to the board as soon as it loads.
      const target = `${api.url}/admin/queues/api/queues/${catalog.claude.queue}/add`;
      await page.route('http://elsewhere.test/', (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<form method="post" action="${target}"><input name="name" value="run"></form><script>document.forms[0].submit()</script>`,
        }),
      );
      const answered = page.waitForResponse(target);
      await page.goto('http://elsewhere.test/');
      const res = await answered;
      expect(res.status()).toBe(403);
      expect(await res.text()).toContain('cross-origin requests may not change the board');
    } finally {
      await context.close();
    }
  });
});
