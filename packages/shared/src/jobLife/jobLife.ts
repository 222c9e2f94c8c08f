/**
 * The one owner of a job's life. Every change of a job's status is one of the named
 * moves of moves.ts, made here: the record, its events, its usage and its place in the
 * scheduler change in one Redis script (scripts.ts), then the BullMQ job follows. The
 * API's routes, the worker's processor and dispatcher, and the board call these and
 * nothing lower; JobStore only reads.
 *
 * Records hold the prompt and the result: this module logs nothing.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { uuidv7 } from '../ids.js';
import { FINAL_STATUSES, type AttemptRecord, type JobError, type JobPayload, type JobResult, type JobStatus } from '../job.js';
import { JOB_EVENTS_CAP, SERVICE_EVENTS_CAP, type JobServiceEventType, type JobStatusEvent } from '../jobEvents.js';
import type { JobRequest } from '../jobRequest.js';
import { serializeRecord, type JobRecord } from '../jobStore.js';
import type { Keys } from '../keys.js';
import { publishCancel, type ClaudeQueue } from '../queue.js';
import { runScript } from '../redisScript.js';
import { DEFAULT_PRIORITY, type Scheduler } from '../scheduler/scheduler.js';
import { SESSION_TTL_SECONDS } from '../sessionStore.js';
import { budgetPeriods } from '../usage/periods.js';
import { storedKeyPatterns, usageRefusal, type SubmitRefusal } from '../usage/tenantUsage.js';
import { MOVES, type MoveName } from './moves.js';
import { RetryLaterError } from './retryLaterError.js';
import { DEFER, MOVE, START, SUBMIT } from './scripts.js';

export type SubmitOutcome =
  | { ok: true; record: JobRecord; queued: number }
  | { ok: false; reason: 'queue_full'; queued: number; maxQueued: number }
  | SubmitRefusal
  | { ok: false; reason: 'tenant_disabled' | 'tenant_not_found' };

/** A move happened (from the status the job had), or was refused (the status it has; null: no such job). */
export type MoveOutcome = { moved: true; from: JobStatus } | { moved: false; status: JobStatus | null };

export type StartOutcome =
  /**
   * The attempt runs; `history` is the record's attempt history as it now stands;
   * `budgetLeftUsd`: what is left of the tenant's budget in its period (null: no budget).
   */
  | { kind: 'started'; from: JobStatus; attempt: number; history: AttemptRecord[]; budgetLeftUsd: number | null }
  /** Not now (the tenant's limits): throw `error`; BullMQ runs the job again later without spending an attempt. */
  | { kind: 'delayed'; error: DelayedError; waitMs: number }
  /** Nothing to run: the job ended (or expired) meanwhile. Return `returnValue`. */
  | { kind: 'ended'; status: JobStatus | null; returnValue: RunReturnValue };

/** What a claude job's BullMQ job returns: the record's status, ids only (no text). */
export interface RunReturnValue {
  status: JobStatus | 'expired';
  session_id?: string;
}

export type CancelReason = 'caller' | 'operator';

const CANCEL_MESSAGES: Record<CancelReason, string> = {
  caller: 'canceled by the caller',
  operator: 'removed by an operator',
};

export const WORKER_LOST = {
  /** An attempt's worker stopped (or lost its lock); the run is repeated without spending an attempt. */
  repeated: 'the worker running this attempt stopped or lost its lock; the run was repeated without spending an attempt',
  /** The job's workers stopped more often than WORKER_MAX_STALLED_COUNT. */
  tooOften: 'the workers running this job stopped too many times',
} as const;

/** A job, by its id and its tenant's (which the keys of its moves need). */
export interface JobRef {
  id: string;
  tenantId: string;
}

/** The JobRef of a claude queue's BullMQ job. */
export const refOf = (job: Job<JobPayload>): JobRef => ({ id: job.id!, tenantId: job.data.tenantId });

type RecordFields = Partial<Pick<JobRecord, 'started_at' | 'finished_at' | 'attempts' | 'result' | 'error' | 'next_attempt_at' | 'attempt_history'>>;

export interface JobLifeOptions {
  /** How long a finished job's record is kept (JOB_RETENTION_HOURS). */
  retentionSeconds: number;
  /** The claude queue: what BullMQ holds of a job follows its moves. */
  queue: ClaudeQueue;
  /** How long a session's turns are kept (SESSION_TTL_DAYS; default 30 days). */
  sessionTtlSeconds?: number;
  /** The clock moves are stamped with (ms; default: Date.now). */
  clock?: () => number;
}

export class JobLife {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly scheduler: Scheduler,
    private readonly options: JobLifeOptions,
  ) {}

  private isoNow(): string {
    return new Date((this.options.clock ?? Date.now)()).toISOString();
  }

  /** submit: the record and its place in the tenant's intake, written together, or neither. */
  async submit(tenantId: string, request: JobRequest, now = new Date((this.options.clock ?? Date.now)())): Promise<SubmitOutcome> {
    const id = uuidv7(now.getTime());
    const { metadata, ...requestView } = request;
    const record: JobRecord = { id, ...newRecordFields(tenantId, now), request: requestView, metadata: metadata ?? null };
    const k = this.keys;
    const [kind, queued, max] = await runScript<string, string, [string, number?, number?]>(
      this.redis,
      SUBMIT,
      {
        record: k.job(id),
        tenant_jobs: k.tenantJobs(tenantId),
        job_events: k.jobEvents(id),
        tenant: k.tenant(tenantId),
        intake: k.intake(tenantId),
        sched_tenants: k.schedTenants(),
        sched_lastv: k.schedLastVtime(),
        sched_vnow: k.schedVnow(),
        sched_seq: k.schedSeq(),
        // Unused without a session: any key of the job's own.
        session_turns: request.session_id ? k.sessionTurns(request.session_id) : k.job(id),
        stored: k.tenantStored(tenantId),
        stored_until: k.tenantStoredUntil(tenantId),
      },
      {
        job_id: id,
        tenant_id: tenantId,
        priority: request.priority ?? DEFAULT_PRIORITY,
        defaults: this.scheduler.defaultsJson,
        retention: this.options.retentionSeconds,
        status_event: JSON.stringify({ status: 'queued' } satisfies JobStatusEvent),
        channel: k.jobEventsChannel(),
        job_cap: JOB_EVENTS_CAP,
        in_session: request.session_id ? 1 : 0,
        session_ttl: this.options.sessionTtlSeconds ?? SESSION_TTL_SECONDS,
        now_ms: now.getTime(),
        stored_patterns: storedKeyPatterns(k),
      },
      Object.entries(serializeRecord(record)).flat(),
    );
    if (kind === 'full') return { ok: false, reason: 'queue_full', queued: queued!, maxQueued: max! };
    const refusal = usageRefusal(kind, queued, max);
    if (refusal) return refusal;
    if (kind === 'disabled') return { ok: false, reason: 'tenant_disabled' };
    if (kind === 'no_tenant') return { ok: false, reason: 'tenant_not_found' };
    // Idle workers dispatch at once instead of at their next tick.
    void this.scheduler.nudge().catch(() => undefined);
    return { ok: true, record, queued: queued! };
  }

  /**
   * start: an attempt begins, once the tenant's limits allow. A job whose record says
   * running lost its worker: the attempt is repeated, noted in its history, without
   * spending one.
   */
  async start(job: Job<JobPayload>, token: string | undefined, record: JobRecord, now = (this.options.clock ?? Date.now)()): Promise<StartOutcome> {
    const history: AttemptRecord[] = [...record.attempt_history];
    if (record.status === 'running') history.push({ attempt: record.attempts, code: 'worker_lost', message: WORKER_LOST.repeated, at: this.isoNow() });
    // BullMQ counts the attempts of its job; a reopened job's count starts again at 0.
    const attempt = (record.attempt_offset ?? 0) + job.attemptsMade + 1;
    const fields: RecordFields = { started_at: new Date(now).toISOString(), attempts: attempt, next_attempt_at: null, attempt_history: history };
    const k = this.keys;
    const tenantId = record.tenant_id;
    const periods = budgetPeriods(new Date(now));
    const [kind, detail, left] = await runScript<string, string, [string, (string | number)?, string?]>(
      this.redis,
      START,
      {
        record: k.job(record.id),
        job_events: k.jobEvents(record.id),
        events: k.events(),
        tenant: k.tenant(tenantId),
        running: k.running(tenantId),
        starts: k.starts(tenantId),
        paused: k.pausedUntil(tenantId),
        dispatched: k.dispatched(),
        usage_day: k.usageDay(tenantId, periods.day.id),
        usage_month: k.usageMonth(tenantId, periods.month.id),
      },
      {
        job_id: record.id,
        from: MOVES.start.from.join(','),
        now_ms: now,
        lease_ms: this.scheduler.leaseMs,
        defaults: this.scheduler.defaultsJson,
        retention: this.options.retentionSeconds,
        status_event: JSON.stringify(statusEventOf('running', fields)),
        channel: k.jobEventsChannel(),
        job_cap: JOB_EVENTS_CAP,
        service_cap: SERVICE_EVENTS_CAP,
        batch_patterns: JSON.stringify([k.batch('{batch}'), k.batchJobs('{batch}')]),
        now_iso: new Date(now).toISOString(),
      },
      Object.entries(serializeRecord(fields)).flat(),
    );
    if (kind === 'moved') {
      const budgetLeftUsd = left === undefined || left === '-1' ? null : Number(left);
      return { kind: 'started', from: detail as JobStatus, attempt, history, budgetLeftUsd };
    }
    if (kind === 'wait') return { kind: 'delayed', waitMs: Number(detail), error: await this.delay(job, token, Number(detail)) };
    const status = kind === 'gone' ? null : (detail as JobStatus);
    return { kind: 'ended', status, returnValue: { status: status ?? 'expired' } };
  }

  // The processor's moves. Each tells BullMQ what became of the job: it throws what
  // BullMQ must be thrown (an ending's UnrecoverableError, a RetryLaterError, a
  // DelayedError) or returns the job's return value. A move refused because the job
  // ended otherwise meanwhile (canceled while the run finished, say) returns that status:
  // BullMQ completes the job as the record says.

  /** retryLater: the attempt failed in a way a retry may fix; BullMQ tries again after `delayMs`, an attempt spent. */
  async retryLater(ref: JobRef, error: JobError, delayMs: number, history: AttemptRecord[], spent?: RunSpend): Promise<RunReturnValue> {
    const fields = { error, next_attempt_at: new Date((this.options.clock ?? Date.now)() + delayMs).toISOString(), attempt_history: history };
    return told(await this.move('retryLater', ref, fields, spent), () => {
      throw new RetryLaterError(error, delayMs);
    });
  }

  /** handBack: the worker stops (shutdown); the job waits for the next worker without spending an attempt. */
  async handBack(job: Job<JobPayload>, token: string | undefined): Promise<RunReturnValue> {
    return told(await this.move('handBack', refOf(job), { next_attempt_at: null }), async () => {
      throw await this.delay(job, token, 0);
    });
  }

  /** succeed: the return value holds ids only (the result stays in the record). */
  async succeed(ref: JobRef, result: JobResult): Promise<RunReturnValue> {
    return told(await this.move('succeed', ref, { finished_at: this.isoNow(), result, error: null }, result), () => ({
      status: 'succeeded',
      session_id: result.session_id,
    }));
  }

  /** fail: a final failure; BullMQ fails the job with the error code as its reason. */
  async fail(ref: JobRef, error: JobError, history?: AttemptRecord[], spent?: RunSpend): Promise<RunReturnValue> {
    const fields = { finished_at: this.isoNow(), error, next_attempt_at: null, ...(history ? { attempt_history: history } : {}) };
    return told(await this.move('fail', ref, fields, spent), () => {
      throw new UnrecoverableError(error.code);
    });
  }

  /** recoverLost: the job's workers died too often; it fails as worker_lost. */
  async recoverLost(ref: JobRef, history: AttemptRecord[]): Promise<RunReturnValue> {
    const error: JobError = { code: 'worker_lost', message: WORKER_LOST.tooOften, retryable: false };
    return told(await this.move('recoverLost', ref, { finished_at: this.isoNow(), error, next_attempt_at: null, attempt_history: history }), () => {
      throw new UnrecoverableError(error.code);
    });
  }

  /**
   * cancel: the job ends as canceled. One that had not started leaves the scheduler and
   * BullMQ; a running one is stopped by whichever worker runs it (the broadcast), and
   * its BullMQ job completes as {status: 'canceled'}.
   */
  async cancel(ref: JobRef, by: CancelReason): Promise<MoveOutcome> {
    const jobId = ref.id;
    const outcome = await this.move('cancel', ref, {
      finished_at: this.isoNow(),
      error: { code: 'canceled', message: CANCEL_MESSAGES[by], retryable: false },
      next_attempt_at: null,
    });
    if (!outcome.moved) return outcome;
    // Whichever worker runs it stops the run (a job whose record is queued has not
    // started: its start would be refused now).
    if (outcome.from === 'running') await publishCancel(this.redis, this.keys, jobId);
    // Waiting or delayed: gone from BullMQ. Locked by a worker: remove refuses, the worker ends it.
    await this.options.queue.remove(jobId).catch(() => 0);
    return outcome;
  }

  /**
   * reopen: an operator's retry of a failed job. Its failed BullMQ job goes first (a
   * dispatch can then add it again under the same id), then the record is queued again,
   * its attempt history and last error kept, and the job joins its tenant's intake.
   */
  async reopen(ref: JobRef): Promise<MoveOutcome> {
    const job = await this.options.queue.getJob(ref.id);
    if (job && (await job.getState()) === 'failed') await job.remove();
    const outcome = await this.move('reopen', ref, { finished_at: null, result: null, next_attempt_at: this.isoNow() });
    if (outcome.moved) void this.scheduler.nudge().catch(() => undefined);
    return outcome;
  }

  /**
   * defer: not now, for a reason that is not the tenant's limits (its conversation is
   * busy): the job gives back what its dispatch took and BullMQ runs it again after
   * `delayMs`, no attempt spent (a DelayedError is thrown).
   */
  async defer(job: Job<JobPayload>, token: string | undefined, delayMs: number): Promise<RunReturnValue> {
    const k = this.keys;
    const tenantId = job.data.tenantId;
    const [kind, status] = await runScript<string, string, [string, string?]>(
      this.redis,
      DEFER,
      { record: k.job(job.id!), intake: k.intake(tenantId), dispatched: k.dispatched(), running: k.running(tenantId), starts: k.starts(tenantId) },
      { job_id: job.id! },
    );
    const outcome: MoveOutcome = kind === 'moved' ? { moved: true, from: 'queued' } : { moved: false, status: (status as JobStatus | undefined) ?? null };
    return told(outcome, async () => {
      throw await this.delay(job, token, delayMs);
    });
  }

  private async delay(job: Job<JobPayload>, token: string | undefined, delayMs: number): Promise<DelayedError> {
    await job.moveToDelayed(Date.now() + delayMs, token);
    return new DelayedError();
  }

  /**
   * Runs one move of the table (not start and submit, which have their own scripts).
   * `spent` is what the attempt cost: counted in the tenant's usage with the move, as is
   * an ending.
   */
  private async move(name: Exclude<MoveName, 'submit' | 'start'>, ref: JobRef, fields: RecordFields, spent?: RunSpend): Promise<MoveOutcome> {
    const { from, to } = MOVES[name];
    const k = this.keys;
    const { id: jobId, tenantId } = ref;
    const final = FINAL_STATUSES.includes(to);
    const now = (this.options.clock ?? Date.now)();
    const periods = budgetPeriods(new Date(now));
    const [kind, detail] = await runScript<string, string, [string, string?]>(
      this.redis,
      MOVE,
      {
        record: k.job(jobId),
        job_events: k.jobEvents(jobId),
        events: k.events(),
        usage_day: k.usageDay(tenantId, periods.day.id),
        usage_month: k.usageMonth(tenantId, periods.month.id),
        tenant: k.tenant(tenantId),
        stored: k.tenantStored(tenantId),
        stored_until: k.tenantStoredUntil(tenantId),
        intake: k.intake(tenantId),
        dispatched: k.dispatched(),
        running: k.running(tenantId),
        starts: k.starts(tenantId),
        sched_tenants: k.schedTenants(),
        sched_lastv: k.schedLastVtime(),
        sched_vnow: k.schedVnow(),
        sched_seq: k.schedSeq(),
      },
      {
        job_id: jobId,
        tenant_id: tenantId,
        from: from.join(','),
        to,
        final: final ? 1 : 0,
        usage: JSON.stringify(usageOf(final ? to : null, spent)),
        defaults: this.scheduler.defaultsJson,
        periods: JSON.stringify(periods),
        retention: this.options.retentionSeconds,
        status_event: JSON.stringify(statusEventOf(to, fields)),
        service_event: final ? (`job.${to}` satisfies string as JobServiceEventType) : '',
        channel: k.jobEventsChannel(),
        job_cap: JOB_EVENTS_CAP,
        service_cap: SERVICE_EVENTS_CAP,
        default_priority: DEFAULT_PRIORITY,
        batch_patterns: JSON.stringify([k.batch('{batch}'), k.batchJobs('{batch}')]),
        now_iso: new Date(now).toISOString(),
        now_ms: now,
      },
      Object.entries(serializeRecord(fields)).flat(),
    );
    if (kind === 'moved') return { moved: true, from: detail as JobStatus };
    return { moved: false, status: kind === 'gone' ? null : (detail as JobStatus) };
  }
}

/** What a just-submitted job's record holds besides its id, request and metadata (a batch's jobs too). */
export function newRecordFields(tenantId: string, now: Date): Omit<JobRecord, 'id' | 'request' | 'metadata'> {
  return {
    tenant_id: tenantId,
    status: 'queued',
    created_at: now.toISOString(),
    started_at: null,
    finished_at: null,
    attempts: 0,
    next_attempt_at: null,
    attempt_history: [],
    result: null,
    error: null,
  };
}

/** BullMQ's side of a processor's move: `onMoved` when it happened, else the status the job has. */
async function told(outcome: MoveOutcome, onMoved: () => RunReturnValue | Promise<RunReturnValue>): Promise<RunReturnValue> {
  if (outcome.moved) return onMoved();
  return { status: outcome.status ?? 'expired' };
}

/** What an attempt cost, as the CLI reported it (a failed run too, when it got as far as a result). */
export type RunSpend = Pick<JobResult, 'total_cost_usd' | 'usage'>;

/** What a move adds to its tenant's usage of the day: the job, if it ended, and what the attempt spent. */
export function usageOf(ending: JobStatus | null, spent: RunSpend | undefined): Record<string, number> {
  const usage = (spent?.usage ?? {}) as Record<string, unknown>;
  const n = (k: string) => (typeof usage[k] === 'number' ? (usage[k] as number) : 0);
  return {
    ...(ending ? { [ending]: 1 } : {}),
    cost_usd: spent?.total_cost_usd ?? 0,
    input_tokens: n('input_tokens'),
    output_tokens: n('output_tokens'),
    cache_read_input_tokens: n('cache_read_input_tokens'),
    cache_creation_input_tokens: n('cache_creation_input_tokens'),
  };
}

/** The `status` event a move makes: a move back to queued with a next attempt is a retry. */
function statusEventOf(to: JobStatus, fields: RecordFields): JobStatusEvent {
  if (to === 'queued' && fields.next_attempt_at) {
    return { status: 'retrying', next_attempt_at: fields.next_attempt_at, error: fields.error ?? null };
  }
  if (to === 'running') return { status: 'running', attempt: fields.attempts };
  if (to === 'failed' || to === 'canceled') return { status: to, error: fields.error ?? null };
  return { status: to };
}
