/**
 * The claude queue's processor: one job, one CLI run. It prepares the run (workspace,
 * flags, environment), hands it to the runner, and writes what came of it to the job
 * record. What it throws steers BullMQ: `UnrecoverableError` for what a retry can't
 * fix, `DelayedError` after `moveToDelayed` for "not now", `RetryLaterError` for what a
 * retry may fix (with the delay the record announces).
 *
 * The job record and the request hold the prompt: log ids only.
 */
import { randomUUID } from 'node:crypto';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import {
  conversationPaths,
  type AttemptRecord,
  type JobError,
  type JobEventLog,
  type JobPayload,
  type JobRecord,
  type JobStore,
  type Logger,
  type Scheduler,
  type SecretsKey,
  type SessionStore,
  type TenantStore,
  type WorkerConfig,
} from '@claude-queue/shared';
import { buildClaudeArgs } from '../cli/buildArgs.js';
import { applyTenantCredentials, buildChildEnv } from '../cli/childEnv.js';
import { classifyOutcome } from '../cli/classifyOutcome.js';
import type { ClaudeRunner } from '../cli/runner.js';
import { jobHostRules } from '../sandbox/sandbox.js';
import { RetryLaterError } from './retryLaterError.js';
import { retryDelayMs } from './retryPolicy.js';

export interface ClaudeProcessorDeps {
  jobs: JobStore;
  sessions: SessionStore;
  scheduler: Scheduler;
  events: JobEventLog;
  tenants: TenantStore;
  /** SECRETS_KEY, to open tenants' own model credentials; null when unset. */
  secretsKey: SecretsKey | null;
  runner: ClaudeRunner;
  config: Pick<
    WorkerConfig,
    'DATA_DIR' | 'JOB_TIMEOUT_MS' | 'JOB_BACKOFF_MS' | 'CLAUDE_CODE_MAX_RETRIES' | 'WORKER_CLI_BARE' | 'WORKER_KILL_GRACE_MS' | 'DENIED_TOOLS'
  >;
  logger: Logger;
  /** The environment the child's allowlist is taken from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Why a run was stopped: the reason given to `worker.cancelJob` (createWorker.ts). */
export const ABORT_REASONS = {
  /** The caller canceled the job (POST /v1/jobs/{id}/cancel). */
  canceled: 'canceled',
  /** The worker is shutting down and hands the job back. */
  shutdown: 'shutdown',
  /** Another worker owns the job now (lock lost): stop, touch nothing. */
  lockLost: 'lock_lost',
} as const;

/** How long to wait before trying again when another job holds the conversation. */
const SESSION_BUSY_DELAY_MS = 1000;

const now = () => new Date().toISOString();

export function createClaudeProcessor(deps: ClaudeProcessorDeps) {
  const { jobs, sessions, scheduler, tenants, runner, config } = deps;

  return async function processClaudeJob(job: Job<JobPayload>, token?: string, signal?: AbortSignal) {
    const jobId = job.id!;
    const attempt = job.attemptsMade + 1;
    const log = deps.logger.child({ job_id: jobId, tenant_id: job.data.tenantId, attempt });
    const tenantId = job.data.tenantId;
    const record = await jobs.get(jobId);
    if (!record || record.status === 'succeeded' || record.status === 'failed' || record.status === 'canceled') {
      log.info({ status: record?.status ?? 'gone' }, 'job already ended or expired; skipping');
      await scheduler.withdraw(tenantId, jobId);
      return { skipped: true };
    }

    const history: AttemptRecord[] = [...record.attempt_history];
    if (record.status === 'running') {
      // The record says running but no worker holds the run: its worker died and
      // BullMQ's stalled check handed the job to us.
      history.push({
        attempt: record.attempts,
        code: 'worker_lost',
        message: 'the worker running this attempt stopped or lost its lock; the run was repeated without spending an attempt',
        at: now(),
      });
      log.warn('recovering a job whose worker stopped');
    }

    const request = record.request;
    const timeoutMs = request.timeout_ms ?? config.JOB_TIMEOUT_MS;
    // A new job begins a conversation of its own id; a follow-up continues its session's.
    let conversationId = record.id;
    let releaseSession: (() => Promise<void>) | null = null;
    if (request.session_id) {
      const session = await sessions.getForTenant(request.session_id, record.tenant_id);
      if (!session) {
        await scheduler.withdraw(tenantId, jobId);
        throw await finishFailed(record, { code: 'session_not_found', message: 'no such session for this tenant', retryable: false }, history);
      }
      releaseSession = await sessions.tryLock(request.session_id, jobId, token ?? randomUUID(), timeoutMs + 2 * config.WORKER_KILL_GRACE_MS + 10_000);
      if (!releaseSession) {
        // Another job is continuing this conversation right now: wait without spending
        // an attempt, and let another of the tenant's jobs have the slot meanwhile.
        log.debug('session busy; delaying');
        // Checked before the tenant's limits, so waiting takes no slot and counts no start.
        await scheduler.withdraw(tenantId, jobId);
        await job.moveToDelayed(Date.now() + SESSION_BUSY_DELAY_MS, token);
        throw new DelayedError();
      }
      conversationId = session.workspace;
    }

    // The tenant's limits: a dispatched job holds its slot already; a retry or a
    // hand-back takes one now, or waits without spending an attempt or a worker slot.
    // The moment the tenant's rate window counts is the job's started_at: one clock.
    const startedAt = Date.now();
    const waitMs = await scheduler.acquire(tenantId, jobId, startedAt);
    if (waitMs > 0) {
      log.debug({ wait_ms: waitMs }, 'tenant at its limit; delaying');
      await releaseSession?.();
      await job.moveToDelayed(Date.now() + waitMs, token);
      throw new DelayedError();
    }

    const renewal = setInterval(() => {
      scheduler.renew(tenantId, jobId).catch((err: Error) => log.warn({ err: { message: err.message } }, 'could not renew the slot'));
    }, scheduler.leaseMs / 3);
    try {
      const started = await jobs.transition(jobId, ['queued', 'running'], 'running', {
        started_at: new Date(startedAt).toISOString(),
        attempts: attempt,
        next_attempt_at: null,
        attempt_history: history,
      });
      if (!started) {
        // Canceled between the read above and now.
        log.info('job was canceled before it started');
        await scheduler.withdraw(tenantId, jobId);
        return { skipped: true };
      }
      // The tenant's own credential replaces the deployment's; one that can't be opened
      // fails the job rather than bill the deployment's account instead.
      let credentials: Awaited<ReturnType<TenantStore['getCredentials']>>;
      try {
        credentials = await tenants.getCredentials(tenantId, deps.secretsKey);
      } catch (err) {
        log.error({ err: { message: (err as Error).message } }, 'cannot open the tenant\'s credentials');
        throw await finishFailed(record, { code: 'auth_failed', message: "the tenant's credentials cannot be used; an operator must set them again", retryable: false }, history);
      }
      log.info('running CLI');
      // Text events go out in order, one append after the other; a failed append (Redis
      // away) loses live text, never the result.
      let appending: Promise<unknown> = Promise.resolve();
      const onText = (text: string) => {
        appending = appending.then(() => deps.events.appendText(jobId, text)).catch(() => undefined);
      };
      const outcome = await runner.run({
        tenantId,
        jobId,
        args: buildClaudeArgs(request, { resume: request.session_id, bare: config.WORKER_CLI_BARE, deniedTools: config.DENIED_TOOLS }),
        env: applyTenantCredentials(buildChildEnv(deps.env ?? process.env, { maxRetries: config.CLAUDE_CODE_MAX_RETRIES }), credentials),
        hosts: jobHostRules(request),
        conversation: {
          id: conversationId,
          paths: conversationPaths(config.DATA_DIR, record.tenant_id, conversationId),
          continued: request.session_id !== undefined,
        },
        prompt: request.prompt,
        timeoutMs,
        signal,
        onText,
        partialMessages: request.stream === true,
      });
      await appending;
      if (outcome.aborted) return await stopAborted(job, token, String(signal?.reason ?? ABORT_REASONS.canceled), record, log);

      const classified = classifyOutcome(outcome);
      log.info(
        { wall_ms: outcome.wallMs, exit_code: outcome.exitCode, signal: outcome.signal, outcome: classified.ok ? 'succeeded' : classified.error.code },
        'CLI run ended',
      );
      if (!classified.ok) {
        const error: JobError =
          classified.error.code === 'timeout' ? { ...classified.error, retryable: request.retry_on_timeout === true } : classified.error;
        history.push({ attempt, code: error.code, message: error.message, at: now() });
        if (error.code === 'rate_limited') {
          // The model API limits this tenant's credential: hold its other starts too.
          await scheduler.pause(tenantId, Date.now() + retryDelayMs(error, attempt, { baseMs: config.JOB_BACKOFF_MS, random: () => 0 }));
        }
        if (error.retryable && attempt < (job.opts.attempts ?? 1)) {
          const delayMs = retryDelayMs(error, attempt, { baseMs: config.JOB_BACKOFF_MS });
          // The wait holds no slot: the retry takes one again when it starts.
          await scheduler.release(tenantId, jobId);
          await jobs.transition(jobId, ['running'], 'queued', {
            error,
            next_attempt_at: new Date(Date.now() + delayMs).toISOString(),
            attempt_history: history,
          });
          log.info({ code: error.code, delay_ms: delayMs }, 'will retry');
          throw new RetryLaterError(error, delayMs);
        }
        throw await finishFailed(record, error, history);
      }

      const result = classified.result;
      await sessions.record(result.session_id, record.tenant_id, outcome.conversationId ?? conversationId);
      await jobs.transition(jobId, ['running'], 'succeeded', { finished_at: now(), result, error: null });
      // BullMQ keeps this as the return value: ids only, the text stays in the record.
      return { session_id: result.session_id };
    } finally {
      clearInterval(renewal);
      await releaseSession?.();
    }
  };

  /** Records the final failure; the caller throws what it returns, so BullMQ won't retry. */
  async function finishFailed(record: JobRecord, error: JobError, history: AttemptRecord[]): Promise<UnrecoverableError> {
    await jobs.transition(record.id, ['queued', 'running'], 'failed', {
      finished_at: now(),
      error,
      next_attempt_at: null,
      attempt_history: history,
    });
    return new UnrecoverableError(`${error.code}: ${error.message}`);
  }

  /** The run was stopped on purpose; what happens to the job depends on why. */
  async function stopAborted(job: Job<JobPayload>, token: string | undefined, reason: string, record: JobRecord, log: Logger): Promise<never> {
    if (reason === ABORT_REASONS.shutdown) {
      // Hand the job back without spending an attempt: DelayedError keeps attemptsMade.
      log.info('shutting down: handing the job back to the queue');
      await jobs.transition(record.id, ['running'], 'queued', { next_attempt_at: null });
      await scheduler.release(record.tenant_id, record.id);
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    if (reason === ABORT_REASONS.lockLost) {
      // Another worker holds the job now and owns its record: leave both alone.
      log.warn('lost the job lock; stopped the run');
      throw new Error('lost the job lock; another worker owns this job');
    }
    log.info('canceled; stopped the run');
    // The API marked the record canceled before asking; this covers any other canceler.
    await jobs.transition(record.id, ['queued', 'running'], 'canceled', {
      finished_at: now(),
      error: { code: 'canceled', message: 'the job was canceled', retryable: false },
      next_attempt_at: null,
    });
    throw new UnrecoverableError('canceled');
  }
}
