/**
 * Job records: the caller's view of a job (status, times, result, error), kept apart
 * from BullMQ's internal job so the API reads one small hash per job and finished
 * jobs keep their own retention. Status changes go through `transition`, a Lua
 * check-and-set, so two writers (a worker finishing, a cancel) can't both win.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { uuidv7 } from './ids.js';
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
 * returns 1; else 0 (-1 when there is no such job). A final transition also starts the
 * record's retention (ARGV[2] seconds) and adds the job to its tenant's usage of the day
 * (KEYS[2]: ARGV[3] is a JSON object of counters) and frees its concurrency slot
 * (KEYS[3]), in the same step, so usage counts every job exactly once and no ending
 * leaks a slot.
 */
const TRANSITION = `
local current = redis.call('hget', KEYS[1], 'status')
if not current then return -1 end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if allowed == current then
    for i = 4, #ARGV, 2 do redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
    if tonumber(ARGV[2]) > 0 then redis.call('expire', KEYS[1], ARGV[2]) end
    if ARGV[3] ~= '' then
      for field, n in pairs(cjson.decode(ARGV[3])) do
        if n ~= 0 then redis.call('hincrbyfloat', KEYS[2], field, n) end
      end
      redis.call('expire', KEYS[2], ${USAGE_RETENTION_SECONDS})
      -- Every ending frees the job's concurrency slot (scheduler/scheduler.ts).
      redis.call('zrem', KEYS[3], redis.call('hget', KEYS[1], 'id'))
    end
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
      .zadd(this.keys.tenantJobs(tenantId), 0, id)
      .exec();
    return record;
  }

  /** Undoes `create` when the job could not be enqueued: nothing half-done. */
  async delete(record: Pick<JobRecord, 'id' | 'tenant_id'>): Promise<void> {
    await this.redis.multi().del(this.keys.job(record.id)).zrem(this.keys.tenantJobs(record.tenant_id), record.id).exec();
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
        if (!record) {
          // Expired under its retention: drop it from the index as we pass.
          void this.redis.zrem(indexKey, id);
          continue;
        }
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
    const flat = serialize({ ...fields, status: to });
    let usageKey = this.keys.job(id);
    let runningKey = this.keys.job(id);
    let usage = '';
    if (final) {
      const finishedAt = fields.finished_at ?? new Date().toISOString();
      const tenantId = await this.redis.hget(this.keys.job(id), 'tenant_id');
      if (tenantId === null) return false;
      usageKey = this.keys.usageDay(tenantId, finishedAt.slice(0, 10));
      runningKey = this.keys.running(tenantId);
      usage = JSON.stringify(usageOf(to, fields.result));
    }
    const ok = await this.redis.eval(
      TRANSITION,
      3,
      this.keys.job(id),
      usageKey,
      runningKey,
      from.join(','),
      final ? this.retentionSeconds : 0,
      usage,
      ...Object.entries(flat).flat(),
    );
    return ok === 1;
  }
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
