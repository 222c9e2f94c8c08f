/**
 * Job records: the caller's view of a job (status, times, result, error), kept apart
 * from BullMQ's internal job so the API reads one small hash per job and finished
 * jobs keep their own retention. Status changes go through `transition`, a Lua
 * check-and-set, so two writers (a worker finishing, a cancel) can't both win.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { uuidv7, uuidv7Floor } from './ids.js';
import { JOB_EVENTS_CAP, SERVICE_EVENTS_CAP, type JobStatusEvent, type ServiceEventType } from './jobEvents.js';
import type { JobRequest } from './jobRequest.js';
import { FINAL_STATUSES, type AttemptRecord, type JobError, type JobResult, type JobStatus, type JobView } from './job.js';

export interface JobRecord extends JobView {
  tenant_id: string;
}

export interface ListJobsOptions {
  status?: JobStatus;
  limit: number;
  /** Exclusive: the id of the last job of the previous page. */
  cursor?: string;
}

export interface JobPage {
  data: JobView[];
  next_cursor: string | null;
}

/** Usage counters are kept for 400 days: a year of history, and then some. */
const USAGE_RETENTION_SECONDS = 400 * 24 * 3600;

/**
 * Sets the fields when the current status is one of ARGV[1] (comma-separated) and
 * returns 1; else 0 (-1 when there is no such job). In the same step, so that no
 * change goes unannounced and no ending is counted twice:
 * - the change is appended to the job's event stream (KEYS[4]) and announced on the
 *   job-events channel; starts and endings also go to the service-wide stream (KEYS[5])
 *   that webhook delivery reads;
 * - a final change starts the record's retention, adds the job to its tenant's usage of
 *   the day (KEYS[2]: ARGV[4] is a JSON object of counters) and frees its concurrency
 *   slot (KEYS[3]).
 *
 * ARGV: 1 from, 2 final (1/0), 3 retention s, 4 usage JSON, 5 status event JSON,
 *       6 service event type or '', 7 channel, 8 job stream cap, 9 service stream cap,
 *       10… field, value pairs
 */
const TRANSITION = `
local current = redis.call('hget', KEYS[1], 'status')
if not current then return -1 end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if allowed == current then
    for i = 10, #ARGV, 2 do redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
    local id = redis.call('hget', KEYS[1], 'id')
    if ARGV[2] == '1' then
      redis.call('expire', KEYS[1], ARGV[3])
      for field, n in pairs(cjson.decode(ARGV[4])) do
        if n ~= 0 then redis.call('hincrbyfloat', KEYS[2], field, n) end
      end
      redis.call('expire', KEYS[2], ${USAGE_RETENTION_SECONDS})
      -- Every ending frees the job's concurrency slot (scheduler/scheduler.ts).
      redis.call('zrem', KEYS[3], id)
    end
    redis.call('xadd', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'type', 'status', 'data', ARGV[5])
    redis.call('expire', KEYS[4], ARGV[3])
    if ARGV[6] ~= '' then
      redis.call('xadd', KEYS[5], 'MAXLEN', '~', ARGV[9], '*', 'type', ARGV[6], 'job_id', id,
        'tenant_id', redis.call('hget', KEYS[1], 'tenant_id'), 'attempt', redis.call('hget', KEYS[1], 'attempts'))
    end
    redis.call('publish', ARGV[7], id)
    return 1
  end
end
return 0
`;

/** What one final job adds to its tenant's usage of the day. */
export function usageOf(status: JobStatus, result: JobResult | null | undefined): Record<string, number> {
  const usage = (result?.usage ?? {}) as Record<string, unknown>;
  const n = (k: string) => (typeof usage[k] === 'number' ? (usage[k] as number) : 0);
  return {
    [status]: 1,
    cost_usd: result?.total_cost_usd ?? 0,
    input_tokens: n('input_tokens'),
    output_tokens: n('output_tokens'),
    cache_read_input_tokens: n('cache_read_input_tokens'),
    cache_creation_input_tokens: n('cache_creation_input_tokens'),
  };
}

/** How long a job record lives before the scheduler has accepted its job. */
export const UNSUBMITTED_TTL_SECONDS = 300;

const JSON_FIELDS = ['request', 'result', 'error', 'metadata', 'attempt_history'] as const;

export class JobStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** How long a finished job's record is kept. */
    private readonly retentionSeconds: number,
  ) {}

  /** Writes the record of a new, queued job and indexes it under its tenant. */
  async create(tenantId: string, request: JobRequest, now = new Date()): Promise<JobRecord> {
    const id = uuidv7(now.getTime());
    const { metadata, ...requestView } = request;
    const record: JobRecord = {
      id,
      tenant_id: tenantId,
      status: 'queued',
      created_at: now.toISOString(),
      started_at: null,
      finished_at: null,
      attempts: 0,
      next_attempt_at: null,
      attempt_history: [],
      request: requestView,
      result: null,
      error: null,
      metadata: metadata ?? null,
    };
    await this.redis
      .multi()
      .hset(this.keys.job(id), serialize(record))
      // Until the scheduler accepts it (Scheduler.submit persists it): an API that dies
      // in between leaves no job that would wait for ever.
      .expire(this.keys.job(id), UNSUBMITTED_TTL_SECONDS)
      .zadd(this.keys.tenantJobs(tenantId), 0, id)
      .xadd(this.keys.jobEvents(id), '*', 'type', 'status', 'data', JSON.stringify({ status: 'queued' } satisfies JobStatusEvent))
      .expire(this.keys.jobEvents(id), this.retentionSeconds)
      .exec();
    return record;
  }

  /** Undoes `create` when the job could not be enqueued: nothing half-done. */
  async delete(record: Pick<JobRecord, 'id' | 'tenant_id'>): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.job(record.id), this.keys.jobEvents(record.id))
      .zrem(this.keys.tenantJobs(record.tenant_id), record.id)
      .exec();
  }

  async get(id: string): Promise<JobRecord | null> {
    const h = await this.redis.hgetall(this.keys.job(id));
    return h.id ? deserialize(h) : null;
  }

  /** The job if it belongs to this tenant; another tenant's job reads as missing. */
  async getForTenant(id: string, tenantId: string): Promise<JobRecord | null> {
    const job = await this.get(id);
    return job && job.tenant_id === tenantId ? job : null;
  }

  /**
   * failed → queued, for an operator's retry (Bull Board): the last error kept and
   * next_attempt_at now, as while waiting to retry. A job that may run again has no
   * expiry: the failure had started its retention clock.
   */
  async reopenForRetry(record: JobRecord): Promise<boolean> {
    const reopened = await this.transition(record.id, ['failed'], 'queued', {
      finished_at: null,
      result: null,
      error: record.error,
      next_attempt_at: new Date().toISOString(),
    });
    if (reopened) await this.redis.persist(this.keys.job(record.id));
    return reopened;
  }

  /** queued or running → canceled, for a job an operator removed from its queue. */
  async cancelRemoved(id: string): Promise<boolean> {
    return this.transition(id, ['queued', 'running'], 'canceled', {
      finished_at: new Date().toISOString(),
      error: { code: 'canceled', message: 'removed by an operator', retryable: false },
      next_attempt_at: null,
    });
  }

  /** Whether the job was this tenant's: its id is still in the tenant's index after the record expired. */
  async wasTenantJob(id: string, tenantId: string): Promise<boolean> {
    return (await this.redis.zscore(this.keys.tenantJobs(tenantId), id)) !== null;
  }

  /**
   * Drops index entries of jobs created before `cutoffMs`. Ids are UUIDv7, ordered by
   * creation time, so it is one lexicographic range removal: the index stays bounded.
   */
  async trimIndex(tenantId: string, cutoffMs: number): Promise<number> {
    const bound = uuidv7Floor(cutoffMs);
    return this.redis.zremrangebylex(this.keys.tenantJobs(tenantId), '-', `(${bound}`);
  }

  /**
   * A tenant's jobs, newest first. Ids are UUIDv7, so the index is a sorted set with
   * every score 0 read in reverse lexicographic order, and the cursor is the last id.
   */
  async list(tenantId: string, options: ListJobsOptions): Promise<JobPage> {
    const indexKey = this.keys.tenantJobs(tenantId);
    const data: JobView[] = [];
    let max = options.cursor ? `(${options.cursor}` : '+';
    // With a status filter, scan at most this many ids per request, then hand back a cursor.
    let budget = options.status ? 2000 : options.limit;
    let last: string | null = null;
    while (data.length < options.limit && budget > 0) {
      const batch = Math.min(Math.max(options.limit - data.length, 50), budget);
      const ids = await this.redis.zrevrangebylex(indexKey, max, '-', 'LIMIT', 0, batch);
      if (ids.length === 0) return { data, next_cursor: null };
      budget -= ids.length;
      const records = await Promise.all(ids.map((id) => this.get(id)));
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        const record = records[i];
        last = id;
        // Expired under its retention: its id stays in the index a while (see trimIndex)
        // so that a GET can say "expired" rather than "not found".
        if (!record) continue;
        if (options.status && record.status !== options.status) continue;
        data.push(toView(record));
        if (data.length === options.limit) break;
      }
      max = `(${last}`;
    }
    const more = last !== null && (await this.redis.zrevrangebylex(indexKey, `(${last}`, '-', 'LIMIT', 0, 1)).length > 0;
    return { data, next_cursor: more ? last : null };
  }

  /**
   * Moves a job to `to` if its status is one of `from`, setting `fields` with it.
   * Final statuses start the record's retention clock and count in the tenant's usage.
   */
  async transition(
    id: string,
    from: readonly JobStatus[],
    to: JobStatus,
    fields: Partial<Pick<JobRecord, 'started_at' | 'finished_at' | 'attempts' | 'result' | 'error' | 'next_attempt_at' | 'attempt_history'>> = {},
  ): Promise<boolean> {
    const final = FINAL_STATUSES.includes(to);
    const tenantId = await this.redis.hget(this.keys.job(id), 'tenant_id');
    if (tenantId === null) return false;
    const finishedAt = fields.finished_at ?? new Date().toISOString();
    const event = statusEventOf(to, fields);
    const serviceEvent: ServiceEventType | '' = to === 'running' ? 'job.started' : final ? (`job.${to}` as ServiceEventType) : '';
    const ok = await this.redis.eval(
      TRANSITION,
      5,
      this.keys.job(id),
      this.keys.usageDay(tenantId, finishedAt.slice(0, 10)),
      this.keys.running(tenantId),
      this.keys.jobEvents(id),
      this.keys.events(),
      from.join(','),
      final ? 1 : 0,
      this.retentionSeconds,
      final ? JSON.stringify(usageOf(to, fields.result)) : '{}',
      JSON.stringify(event),
      serviceEvent,
      this.keys.jobEventsChannel(),
      JOB_EVENTS_CAP,
      SERVICE_EVENTS_CAP,
      ...Object.entries(serialize({ ...fields, status: to })).flat(),
    );
    return ok === 1;
  }
}

/** The `status` event a change makes: a move back to queued with a next attempt is a retry. */
function statusEventOf(to: JobStatus, fields: Partial<JobRecord>): JobStatusEvent {
  if (to === 'queued' && fields.next_attempt_at) {
    return { status: 'retrying', next_attempt_at: fields.next_attempt_at, error: fields.error ?? null };
  }
  if (to === 'running') return { status: 'running', attempt: fields.attempts };
  if (to === 'failed' || to === 'canceled') return { status: to, error: fields.error ?? null };
  return { status: to };
}

export function toView(record: JobRecord): JobView {
  const { tenant_id: _tenant, ...view } = record;
  return view;
}

function serialize(record: Partial<JobRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue;
    out[k] = (JSON_FIELDS as readonly string[]).includes(k) || v === null ? JSON.stringify(v) : String(v);
  }
  return out;
}

function deserialize(h: Record<string, string>): JobRecord {
  const nullable = (v: string | undefined) => (v === undefined || v === 'null' ? null : v);
  const json = <T>(v: string | undefined): T | null => (v === undefined ? null : (JSON.parse(v) as T));
  return {
    id: h.id!,
    tenant_id: h.tenant_id!,
    status: h.status as JobStatus,
    created_at: h.created_at!,
    started_at: nullable(h.started_at),
    finished_at: nullable(h.finished_at),
    attempts: Number(h.attempts ?? 0),
    next_attempt_at: nullable(h.next_attempt_at),
    attempt_history: json<AttemptRecord[]>(h.attempt_history) ?? [],
    request: json<JobRecord['request']>(h.request) ?? ({} as JobRecord['request']),
    result: json<JobResult>(h.result),
    error: json<JobError>(h.error),
    metadata: json<Record<string, unknown>>(h.metadata),
  };
}
