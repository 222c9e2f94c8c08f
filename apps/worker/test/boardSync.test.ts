/**
 * boardSync: job records follow what operators do to the claude queue in BullMQ itself,
 * not through the API's board (which keeps records in step on its own: apps/api/test/board.test.ts).
 * First with a whole worker and the fake CLI, then the module alone, with a plain BullMQ
 * worker standing in for the processor, for the orders of events that must be forced.
 */
import { fileURLToPath } from 'node:url';
import { QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  catalog,
  createClaudeQueue,
  createKeys,
  createLogger,
  createRedis,
  defaultTenantLimits,
  JobStore,
  Scheduler,
  type ClaudeQueue,
  type JobView,
  type Keys,
} from '@claude-queue/shared';
import type { Redis } from 'ioredis';
import { startBoardSync, type BoardSync } from '../src/boardSync.js';
import { createClaudeWorker, type ClaudeWorker } from '../src/createWorker.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { submitJob, waitForFinal } from '../../../test/support/jobs.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));

describe('with a worker, acting on BullMQ directly', () => {
  let env: TestEnv;
  let api: TestApi;
  let worker: ClaudeWorker;
  let tenant: { id: string; api_key: string };
  const getJob = async (id: string): Promise<JobView> => (await api.request('GET', `/v1/jobs/${id}`, { key: tenant.api_key })).body;

  beforeAll(async () => {
    env = await createTestEnv();
    api = await startTestApi(env.apiConfig());
    worker = createClaudeWorker({
      // A retryable failure waits a minute in BullMQ's delayed set: long enough to remove it.
      config: env.workerConfig({ CLAUDE_BIN: FAKE_CLAUDE, WORKER_CONCURRENCY: '4', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '60000' }),
      logger: createLogger('worker', 'silent'),
      env: { PATH: process.env.PATH },
    });
    await worker.ready;
    tenant = await api.createTenant('board-sync');
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await env?.cleanup();
  });

  it('cancels the record of a job removed before it ended, and withdraws it', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'FAKE:api:529' });
    await waitFor(async () => ((await api.ctx.queue.getJobState(job.id)) === 'delayed' ? true : undefined));
    await (await api.ctx.queue.getJob(job.id))!.remove();

    const canceled = await waitFor(async () => {
      const now = await getJob(job.id);
      return now.status === 'canceled' ? now : undefined;
    });
    expect(canceled).toMatchObject({ error: { code: 'canceled', message: 'removed by an operator', retryable: false }, next_attempt_at: null });
    expect(await api.ctx.redis.zscore(api.ctx.keys.dispatched(), job.id)).toBeNull();
  });

  it('runs a failed job again when BullMQ retries it, however the worker and the event race', async () => {
    const failed = await Promise.all(
      [1, 2, 3].map(async () => waitForFinal(api, tenant.api_key, (await submitJob(api, tenant.api_key, { prompt: 'FAKE:api:401' })).id)),
    );
    for (const job of failed) expect(job).toMatchObject({ status: 'failed', attempts: 1 });
    await Promise.all(failed.map(async (job) => (await api.ctx.queue.getJob(job.id))!.retry('failed')));

    for (const job of failed) {
      const rerun = await waitFor(async () => {
        const now = await getJob(job.id);
        return now.status === 'failed' && now.attempt_history.length === 2 ? now : undefined;
      });
      // A worker that took the job before its record was queued again skipped it once
      // (an attempt in BullMQ's count); it was moved back and ran.
      expect([2, 3]).toContain(rerun.attempts);
      expect(rerun.attempt_history.map((a) => a.code)).toEqual(['auth_failed', 'auth_failed']);
      const statuses = (await api.ctx.events.read(job.id)).filter((e) => e.type === 'status').map((e) => (e.data as { status: string }).status);
      expect(statuses).toEqual(['queued', 'running', 'failed', 'retrying', 'running', 'failed']);
    }
  });
});

describe('the module alone', () => {
  let env: TestEnv;
  let redis: Redis;
  let queue: ClaudeQueue;
  let queueEvents: QueueEvents;
  let jobs: JobStore;
  let sync: BoardSync;
  let keys: Keys;
  // Connections the test opens, closed after it: the queue's, its events', the stand-in's.
  const connections: Redis[] = [];
  const connect = () => {
    const conn = createRedis(env.redisUrl, 'worker');
    connections.push(conn);
    return conn;
  };
  let stand: Worker | undefined;

  beforeAll(async () => {
    env = await createTestEnv();
    keys = createKeys(env.prefix);
    redis = connect();
    queue = createClaudeQueue(redis, keys);
    queueEvents = new QueueEvents(catalog.claude.queue, { connection: connect(), prefix: keys.bullPrefix });
    await queueEvents.waitUntilReady();
    jobs = new JobStore(redis, keys, 3600);
    sync = startBoardSync({
      queue,
      queueEvents,
      jobs,
      scheduler: new Scheduler(redis, keys, { defaults: defaultTenantLimits(env.workerConfig()) }),
      redis,
      keys,
      logger: createLogger('worker', 'silent'),
    });
  });

  afterEach(async () => {
    await stand?.close();
    stand = undefined;
  });

  afterAll(async () => {
    await sync?.stop();
    await queueEvents?.close();
    await queue?.close();
    for (const conn of connections) conn.disconnect();
    await env?.cleanup();
  });

  /** A plain BullMQ worker on the claude queue, standing in for the processor. */
  function standIn(process: (job: Job) => Promise<unknown>): void {
    stand = new Worker(catalog.claude.queue, process, { connection: connect(), prefix: keys.bullPrefix });
  }

  /** A record that ran once and failed, and its BullMQ job, failed. */
  async function failedJob(): Promise<string> {
    const record = await jobs.create('tenant-1', { prompt: 'p' });
    await jobs.transition(record.id, ['queued'], 'running', { attempts: 1, started_at: new Date().toISOString() });
    await jobs.transition(record.id, ['running'], 'failed', {
      finished_at: new Date().toISOString(),
      error: { code: 'auth_failed', message: 'no', retryable: false },
      attempt_history: [{ attempt: 1, code: 'auth_failed', message: 'no', at: new Date().toISOString() }],
    });
    await queue.add(catalog.claude.jobName, { tenantId: 'tenant-1' }, { jobId: record.id });
    return record.id;
  }

  /**
   * Resolves on this job's next event of this kind; boardSync, listening since before,
   * has started on it by then. (QueueEvents also emits `<event>:<jobId>`; its types
   * don't list those names.)
   */
  const nextEvent = (event: 'completed' | 'removed', id: string) =>
    new Promise<void>((resolve) => queueEvents.once(`${event}:${id}` as 'completed', () => resolve()));

  it('moves back a retried job a worker skipped before its record was queued again', async () => {
    // The stand-in plays the processor in the race: it fails the job, then (as a worker
    // that read the record before boardSync queued it again) skips it, then runs it.
    const answers: Array<() => unknown> = [
      () => {
        throw new UnrecoverableError('auth_failed');
      },
      () => ({ skipped: true }),
      () => ({ ran: true }),
    ];
    let calls = 0;
    standIn(async () => answers[calls++]!());
    const id = await failedJob();
    await waitFor(async () => ((await queue.getJobState(id)) === 'failed' ? true : undefined));

    await (await queue.getJob(id))!.retry('failed');
    const done = await waitFor(async () => {
      const job = await queue.getJob(id);
      return job?.returnvalue && (job.returnvalue as { ran?: boolean }).ran ? job : undefined;
    });
    expect(calls).toBe(3);
    expect(await done.getState()).toBe('completed');
    // The stand-in writes no records: this is how boardSync left it, queued for the run.
    expect(await jobs.get(id)).toMatchObject({ status: 'queued', attempt_history: [expect.objectContaining({ code: 'auth_failed' })] });
  });

  it('leaves alone a record that failed after the retry it hears of', async () => {
    let calls = 0;
    standIn(async () => {
      if (calls++ === 0) throw new UnrecoverableError('auth_failed');
      return { skipped: true };
    });
    const id = await failedJob();
    await waitFor(async () => ((await queue.getJobState(id)) === 'failed' ? true : undefined));
    // As if the rerun had already failed again when the `waiting` event is handled.
    const later = new Date(Date.now() + 60_000).toISOString();
    await redis.hset(keys.job(id), 'finished_at', later);

    const completed = nextEvent('completed', id);
    await (await queue.getJob(id))!.retry('failed');
    await completed;
    await sync.settled();
    expect(await jobs.get(id)).toMatchObject({ status: 'failed', finished_at: later });
    expect(calls).toBe(2);
  });

  it('leaves alone the record of a removed job that had ended', async () => {
    standIn(async () => {
      throw new UnrecoverableError('auth_failed');
    });
    const id = await failedJob();
    await waitFor(async () => ((await queue.getJobState(id)) === 'failed' ? true : undefined));
    const before = await jobs.get(id);

    const removed = nextEvent('removed', id);
    await (await queue.getJob(id))!.remove();
    await removed;
    await sync.settled();
    expect(await jobs.get(id)).toEqual(before);
  });
});
