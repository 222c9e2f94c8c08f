/**
 * The claude queue's processor: one job, one CLI run. It prepares the run (workspace,
 * flags, environment), hands it to the runner, and writes what came of it to the job
 * record. What it throws steers BullMQ: `UnrecoverableError` for what a retry can't
 * fix, `DelayedError` after `moveToDelayed` for "not now", a plain error otherwise.
 *
 * The job record and the request hold the prompt: log ids only.
 */
import { mkdir } from 'node:fs/promises';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import {
  tenantPaths,
  type JobError,
  type JobPayload,
  type JobRecord,
  type JobStore,
  type Logger,
  type SessionStore,
  type WorkerConfig,
} from '@claude-queue/shared';
import { buildClaudeArgs } from '../../claude/buildArgs.js';
import { buildChildEnv } from '../../claude/childEnv.js';
import { classifyOutcome } from '../../claude/classifyOutcome.js';
import type { ClaudeRunner } from '../../claude/runner.js';

export interface ClaudeProcessorDeps {
  jobs: JobStore;
  sessions: SessionStore;
  runner: ClaudeRunner;
  config: Pick<WorkerConfig, 'DATA_DIR' | 'JOB_TIMEOUT_MS' | 'CLAUDE_CODE_MAX_RETRIES' | 'WORKER_CLI_BARE' | 'WORKER_KILL_GRACE_MS'>;
  logger: Logger;
  /** The environment the child's allowlist is taken from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** A job that ends in failure; carries the error the record shows. */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError';
  constructor(readonly jobError: JobError) {
    super(`${jobError.code}: ${jobError.message}`);
  }
}

/** How long to wait before trying again when another job holds the conversation. */
const SESSION_BUSY_DELAY_MS = 1000;

export function createClaudeProcessor(deps: ClaudeProcessorDeps) {
  const { jobs, sessions, runner, config } = deps;

  return async function processClaudeJob(job: Job<JobPayload>, token?: string, signal?: AbortSignal) {
    const jobId = job.id!;
    const log = deps.logger.child({ job_id: jobId, tenant_id: job.data.tenantId, attempt: job.attemptsMade + 1 });
    const record = await jobs.get(jobId);
    if (!record) {
      log.warn('job record is gone (expired or deleted); skipping');
      return { skipped: true };
    }
    if (record.status === 'succeeded' || record.status === 'failed' || record.status === 'canceled') {
      log.info({ status: record.status }, 'job already final; skipping');
      return { skipped: true };
    }

    const request = record.request;
    const timeoutMs = request.timeout_ms ?? config.JOB_TIMEOUT_MS;
    let workspaceId = record.id;
    let releaseSession: (() => Promise<void>) | null = null;
    if (request.session_id) {
      const session = await sessions.getForTenant(request.session_id, record.tenant_id);
      if (!session) {
        throw await finishFailed(record, { code: 'session_not_found', message: 'no such session for this tenant', retryable: false });
      }
      releaseSession = await sessions.tryLock(request.session_id, jobId, timeoutMs + 2 * config.WORKER_KILL_GRACE_MS + 10_000);
      if (!releaseSession) {
        // Another job is continuing this conversation right now: wait without spending an attempt.
        log.debug('session busy; delaying');
        await job.moveToDelayed(Date.now() + SESSION_BUSY_DELAY_MS, token);
        throw new DelayedError();
      }
      workspaceId = session.workspace;
    }

    try {
      const attempts = job.attemptsMade + 1;
      await jobs.transition(jobId, ['queued', 'running'], 'running', {
        started_at: new Date().toISOString(),
        attempts,
      });
      const paths = tenantPaths(config.DATA_DIR, record.tenant_id);
      const cwd = paths.workspace(workspaceId);
      await Promise.all([mkdir(cwd, { recursive: true }), mkdir(paths.home, { recursive: true }), mkdir(paths.configDir, { recursive: true })]);

      log.info('running CLI');
      const outcome = await runner.run({
        args: buildClaudeArgs(request, { resume: request.session_id, bare: config.WORKER_CLI_BARE }),
        prompt: request.prompt,
        cwd,
        env: buildChildEnv(deps.env ?? process.env, {
          home: paths.home,
          configDir: paths.configDir,
          maxRetries: config.CLAUDE_CODE_MAX_RETRIES,
        }),
        timeoutMs,
        signal,
      });
      const classified = classifyOutcome(outcome);
      log.info(
        { wall_ms: outcome.wallMs, exit_code: outcome.exitCode, signal: outcome.signal, outcome: classified.ok ? 'succeeded' : classified.error.code },
        'CLI run ended',
      );
      if (!classified.ok) {
        const willRetry = classified.error.retryable && attempts < (job.opts.attempts ?? 1);
        if (willRetry) {
          await jobs.transition(jobId, ['running'], 'queued', { error: classified.error });
          throw new JobFailedError(classified.error);
        }
        throw await finishFailed(record, classified.error);
      }
      const result = classified.result;
      await sessions.record(result.session_id, record.tenant_id, workspaceId);
      await jobs.transition(jobId, ['running'], 'succeeded', {
        finished_at: new Date().toISOString(),
        result,
        error: null,
      });
      // BullMQ keeps this as the return value: ids only, the text stays in the record.
      return { session_id: result.session_id };
    } finally {
      await releaseSession?.();
    }
  };

  /** Records the final failure; the caller throws what it returns, so BullMQ won't retry. */
  async function finishFailed(record: JobRecord, error: JobError): Promise<UnrecoverableError> {
    await jobs.transition(record.id, ['queued', 'running'], 'failed', { finished_at: new Date().toISOString(), error });
    return new UnrecoverableError(`${error.code}: ${error.message}`);
  }
}
