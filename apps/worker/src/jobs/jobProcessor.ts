/**
 * The claude queue's processor: one job, one CLI run. It prepares the run (workspace,
 * flags, environment), hands it to the runner, and makes the move of the job's life
 * that came of it (JobLife: start, succeed, fail, retryLater, handBack…). Each move
 * tells BullMQ what became of the job: it throws what BullMQ must see
 * (`UnrecoverableError` for an ending, `RetryLaterError` for a retry, `DelayedError`
 * for "not now") or returns the job's return value, which the processor returns.
 *
 * The job record and the request hold the prompt: log ids only.
 */
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import {
  conversationPaths,
  SnapshotTooLargeError,
  refOf,
  type AttemptRecord,
  type JobError,
  type JobEventLog,
  type JobLife,
  type JobPayload,
  type JobStore,
  type Logger,
  type RunReturnValue,
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
import type { ConversationSync } from '../conversations/conversationSync.js';
import { jobHostRules } from '../sandbox/sandbox.js';
import { withinBudget } from './withinBudget.js';
import { retryDelayMs } from './retryPolicy.js';

export interface ClaudeProcessorDeps {
  jobs: JobStore;
  life: JobLife;
  /** Conversations saved after a turn and restored before one, whichever worker ran the last. */
  conversations: ConversationSync;
  sessions: SessionStore;
  scheduler: Scheduler;
  events: JobEventLog;
  tenants: TenantStore;
  /** SECRETS_KEY, to open tenants' own model credentials; null when unset. */
  secretsKey: SecretsKey | null;
  runner: ClaudeRunner;
  config: Pick<
    WorkerConfig,
    | 'DATA_DIR'
    | 'JOB_TIMEOUT_MS'
    | 'JOB_BACKOFF_MS'
    | 'CLAUDE_CODE_MAX_RETRIES'
    | 'WORKER_CLI_BARE'
    | 'WORKER_KILL_GRACE_MS'
    | 'DENIED_TOOLS'
    | 'WORKER_MAX_STALLED_COUNT'
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

const isoNow = () => new Date().toISOString();

export function createClaudeProcessor(deps: ClaudeProcessorDeps) {
  const { jobs, life, sessions, conversations, scheduler, tenants, runner, config } = deps;

  return async function processClaudeJob(job: Job<JobPayload>, token?: string, signal?: AbortSignal): Promise<RunReturnValue> {
    const ref = refOf(job);
    // This BullMQ job's attempt: what JOB_ATTEMPTS and the retry delays count.
    const runAttempt = job.attemptsMade + 1;
    let log = deps.logger.child({ job_id: ref.id, tenant_id: ref.tenantId });
    const record = await jobs.get(ref.id);
    if (!record || (record.status !== 'queued' && record.status !== 'running')) {
      // Ended (canceled, say) or expired before it started: nothing to run.
      log.info({ status: record?.status ?? 'expired' }, 'job already ended or expired; not running it');
      return { status: record?.status ?? 'expired' };
    }
    if (record.status === 'running') {
      // The record says running but no worker holds the run: its worker died and
      // BullMQ's stalled check handed the job to us.
      const lost = record.attempt_history.filter((a) => a.code === 'worker_lost').length + 1;
      log.warn({ times_lost: lost }, 'recovering a job whose worker stopped');
      if (lost > config.WORKER_MAX_STALLED_COUNT) return await life.recoverLost(ref, record.attempt_history);
    }

    const request = record.request;
    const timeoutMs = request.timeout_ms ?? config.JOB_TIMEOUT_MS;
    // A new job begins a conversation of its own id; a follow-up continues its session's.
    let conversationId = record.id;
    let forkedFrom: string | null = null;
    let releaseSession: (() => Promise<void>) | null = null;
    if (request.session_id) {
      const session = await sessions.getForTenant(request.session_id, record.tenant_id);
      if (!session) return await life.fail(ref, { code: 'session_not_found', message: 'no such session for this tenant', retryable: false });
      releaseSession = await sessions.tryTurn(request.session_id, ref.id, token ?? randomUUID(), timeoutMs + 2 * config.WORKER_KILL_GRACE_MS + 10_000);
      if (!releaseSession) {
        // An earlier turn of this conversation has not ended: wait without spending an
        // attempt, and let another of the tenant's jobs have the slot meanwhile.
        log.debug('an earlier turn of the session has not ended; delaying');
        return await life.defer(job, token, SESSION_BUSY_DELAY_MS);
      }
      // A fork runs in a new conversation of its own, a copy of the one it branches from.
      conversationId = request.fork ? record.id : session.workspace;
      forkedFrom = request.fork ? session.workspace : null;
    }

    let renewal: NodeJS.Timeout | undefined;
    try {
      // The tenant's limits: a dispatched job holds its slot already; a retry or a
      // hand-back takes one now, or waits without spending an attempt or a worker slot.
      const started = await life.start(job, token, record);
      if (started.kind === 'delayed') {
        log.debug({ wait_ms: started.waitMs }, 'tenant at its limit; delaying');
        throw started.error;
      }
      if (started.kind === 'ended') {
        log.info({ status: started.status ?? 'expired' }, 'job ended before it started');
        return started.returnValue;
      }
      renewal = setInterval(() => {
        scheduler.renew(ref.tenantId, ref.id).catch((err: Error) => log.warn({ err: { message: err.message } }, 'could not renew the slot'));
      }, scheduler.leaseMs / 3);
      const history: AttemptRecord[] = started.history;
      // The job's attempt, as its caller counts them (across an operator's retries too).
      const attempt = started.attempt;
      log = log.child({ attempt });

      // The tenant's own credential replaces the deployment's; one that can't be opened
      // fails the job rather than bill the deployment's account instead.
      let credentials: Awaited<ReturnType<TenantStore['getCredentials']>>;
      try {
        credentials = await tenants.getCredentials(ref.tenantId, deps.secretsKey);
      } catch (err) {
        log.error({ err: { message: (err as Error).message } }, "cannot open the tenant's credentials");
        return await life.fail(ref, { code: 'auth_failed', message: "the tenant's credentials cannot be used; an operator must set them again", retryable: false });
      }
      const paths = conversationPaths(config.DATA_DIR, record.tenant_id, conversationId);
      // Its last turn may have run on another worker (or this one's DATA_DIR was wiped).
      if (forkedFrom) {
        await conversations.branch(record.tenant_id, { id: forkedFrom, paths: conversationPaths(config.DATA_DIR, record.tenant_id, forkedFrom) }, paths);
      } else if (request.session_id && (await conversations.restore(record.tenant_id, conversationId, paths))) {
        log.info('conversation restored from the store');
      }
      log.info('running CLI');
      // Text events go out in order, one append after the other; a failed append (Redis
      // away) loses live text, never the result.
      let appending: Promise<unknown> = Promise.resolve();
      const onText = (text: string) => {
        appending = appending.then(() => deps.events.appendText(ref.id, text)).catch(() => undefined);
      };
      const outcome = await runner.run({
        tenantId: ref.tenantId,
        jobId: ref.id,
        args: buildClaudeArgs(withinBudget(request, started.budgetLeftUsd), { resume: request.session_id, bare: config.WORKER_CLI_BARE, deniedTools: config.DENIED_TOOLS }),
        env: applyTenantCredentials(buildChildEnv(deps.env ?? process.env, { maxRetries: config.CLAUDE_CODE_MAX_RETRIES }), credentials),
        hosts: jobHostRules(request),
        conversation: { id: conversationId, paths, continued: request.session_id !== undefined },
        prompt: request.prompt,
        timeoutMs,
        signal,
        onText,
        partialMessages: request.stream === true,
      });
      await appending;
      if (outcome.aborted) return await stopAborted(job, token, String(signal?.reason ?? ABORT_REASONS.canceled), log);

      const classified = classifyOutcome(outcome);
      log.info(
        { wall_ms: outcome.wallMs, exit_code: outcome.exitCode, signal: outcome.signal, outcome: classified.ok ? 'succeeded' : classified.error.code },
        'CLI run ended',
      );
      if (!classified.ok) {
        const error: JobError =
          classified.error.code === 'timeout' ? { ...classified.error, retryable: request.retry_on_timeout === true } : classified.error;
        history.push({ attempt, code: error.code, message: error.message, at: isoNow() });
        if (error.code === 'rate_limited') {
          // The model API limits this tenant's credential: hold its other starts too.
          await scheduler.pause(ref.tenantId, Date.now() + retryDelayMs(error, runAttempt, { baseMs: config.JOB_BACKOFF_MS, random: () => 0 }));
        }
        if (error.retryable && runAttempt < (job.opts.attempts ?? 1)) {
          const delayMs = retryDelayMs(error, runAttempt, { baseMs: config.JOB_BACKOFF_MS });
          log.info({ code: error.code, delay_ms: delayMs }, 'will retry');
          // The wait holds no slot: the retry takes one again when it starts.
          return await life.retryLater(ref, error, delayMs, history, classified.spent);
        }
        return await life.fail(ref, error, history, classified.spent);
      }

      const result = classified.result;
      const ranIn = outcome.conversationId ?? conversationId;
      let sizeBytes: number;
      try {
        const saved = await conversations.save(record.tenant_id, ranIn, conversationPaths(config.DATA_DIR, record.tenant_id, ranIn));
        sizeBytes = saved.bytes;
        log.debug({ bytes: saved.bytes, stored_bytes: saved.storedBytes }, 'conversation saved');
      } catch (err) {
        if (!(err instanceof SnapshotTooLargeError)) throw err;
        // Not truncated, not saved: the conversation stays at its last good turn.
        return await life.fail(ref, { code: 'session_too_large', message: err.message, retryable: false }, history, result);
      }
      await sessions.record(result.session_id, record.tenant_id, ranIn, {
        jobId: ref.id,
        sizeBytes,
        ...(request.fork && request.session_id ? { forkedFrom: request.session_id } : {}),
      });
      return await life.succeed(ref, result);
    } finally {
      clearInterval(renewal);
      await releaseSession?.();
    }
  };

  /** The run was stopped on purpose; what happens to the job depends on why. */
  async function stopAborted(job: Job<JobPayload>, token: string | undefined, reason: string, log: Logger): Promise<RunReturnValue> {
    if (reason === ABORT_REASONS.shutdown) {
      log.info('shutting down: handing the job back to the queue');
      return await life.handBack(job, token);
    }
    if (reason === ABORT_REASONS.lockLost) {
      // Another worker holds the job now and owns its record: leave both alone.
      log.warn('lost the job lock; stopped the run');
      throw new Error('lost the job lock; another worker owns this job');
    }
    // Canceled: the record was canceled before the stop was asked (JobLife.cancel).
    log.info('canceled; stopped the run');
    return { status: 'canceled' };
  }
}
