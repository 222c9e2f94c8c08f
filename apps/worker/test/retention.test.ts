/**
 * Retention: finished jobs, their events and workspaces go after their time, and a GET
 * of an expired job says so. JOB_RETENTION_HOURS is set to 2 seconds here.
 */
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { conversationPaths, createLogger } from '@claude-queue/shared';
import { Janitor } from '../src/janitor.js';
import type { TestApi } from '../../../test/support/apiServer.js';
import { waitFor, type TestEnv } from '../../../test/support/env.js';
import { startStack, type Stack } from '../../../test/support/stack.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';

const RETENTION = { JOB_RETENTION_HOURS: String(2 / 3600), SESSION_TTL_DAYS: String(2 / 86_400) };

let stack: Stack;
let env: TestEnv;
let api: TestApi;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  stack = await startStack({ cli: 'fake', api: RETENTION, worker: RETENTION, tenantName: 'retention' });
  ({ env, api, tenant } = stack);
});

afterAll(async () => {
  await stack?.close();
});

it('answers 404 expired for a finished job past its retention, and forgets its events', async () => {
  const job = await submitJob(api, tenant.api_key, { prompt: 'short-lived' });
  await waitForFinal(api, tenant.api_key, job.id);
  expect(await api.ctx.redis.exists(api.ctx.keys.jobEvents(job.id))).toBe(1);

  const expired = await waitFor(async () => {
    const res = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key });
    return res.status === 404 ? res : undefined;
  }, 10_000, 'the job to expire');
  expect(expired.body).toMatchObject({ code: 'expired' });
  expect(await api.ctx.redis.exists(api.ctx.keys.jobEvents(job.id))).toBe(0);
  // Another tenant learns nothing: for it the id simply doesn't exist.
  const other = await api.createTenant('other');
  expect((await api.request('GET', `/v1/jobs/${job.id}`, { key: other.api_key })).body.code).toBe('not_found');
  // Listings skip it.
  const list = await api.request('GET', '/v1/jobs', { key: tenant.api_key });
  expect(list.body.data.map((j: { id: string }) => j.id)).not.toContain(job.id);
});

it('trims the job index and removes unused conversations with their transcripts, keeping used ones', async () => {
  const job = await submitJob(api, tenant.api_key, { prompt: 'leaves a workspace' });
  await waitForFinal(api, tenant.api_key, job.id);
  const old = conversationPaths(env.dataDir, tenant.id, job.id);
  const transcripts = path.join(old.home, '.claude', 'projects', '-workspace');
  await mkdir(transcripts, { recursive: true });
  await writeFile(path.join(transcripts, 'session.jsonl'), '{}\n');
  const longAgo = new Date(Date.now() - 60_000);
  await utimes(old.root, longAgo, longAgo);
  const fresh = conversationPaths(env.dataDir, tenant.id, 'fresh-conversation');
  await mkdir(fresh.workspace, { recursive: true });

  const janitor = new Janitor({
    redis: api.ctx.redis,
    keys: api.ctx.keys,
    jobs: api.ctx.jobs,
    dataDir: env.dataDir,
    retentionSeconds: 2,
    sessionTtlSeconds: 2,
    intervalMs: 60_000,
    logger: createLogger('janitor', 'silent'),
  });
  // Now: the workspace unused for a minute goes, with its transcripts; the fresh one stays.
  expect((await janitor.run()).workspaces).toBeGreaterThanOrEqual(1);
  expect(existsSync(old.root)).toBe(false);
  expect(existsSync(fresh.workspace)).toBe(true);
  expect(await api.ctx.jobs.wasTenantJob(job.id, tenant.id)).toBe(true);

  // As if a minute had passed: index entries older than twice the retention go too.
  expect((await janitor.run(Date.now() + 60_000)).indexEntries).toBeGreaterThanOrEqual(1);
  expect(await api.ctx.jobs.wasTenantJob(job.id, tenant.id)).toBe(false);
});
