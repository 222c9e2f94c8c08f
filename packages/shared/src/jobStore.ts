/**
 * Job records: the caller's view of a job (status, times, result, error), kept apart
 * from BullMQ's internal job so the API reads one small hash per job and finished
 * jobs keep their own retention. This store reads them; every change is a move of the
 * job's life (jobLife/jobLife.ts), a check-and-set in Redis, so two writers (a worker
 * finishing, a cancel) can't both win.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { uuidv7Floor } from './ids.js';
import type { AttemptRecord, JobError, JobResult, JobStatus, JobView } from './job.js';

export interface JobRecord extends JobView {
  tenant_id: string;
  /**
   * Attempts made before an operator reopened the job: its BullMQ job is a new one,
   * whose attempts count from 0 (JobLife.reopen, JobLife.start).
   */
  attempt_offset?: number;
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

const JSON_FIELDS = ['request', 'result', 'error', 'metadata', 'attempt_history'] as const;

/** A filtered list judges at most this many ids per request, then answers with a cursor. */
const LIST_SCAN_MAX = 2000;
/** Ids a filtered list reads from the index, and judges, per round trip: a status is a few bytes. */
const LIST_SCAN_BATCH = 200;

export class JobStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async get(id: string): Promise<JobRecord | null> {
    const h = await this.redis.hgetall(this.keys.job(id));
    return h.id ? deserialize(h) : null;
  }

  /** The job if it belongs to this tenant; another tenant's job reads as missing. */
  async getForTenant(id: string, tenantId: string): Promise<JobRecord | null> {
    const job = await this.get(id);
    return job && job.tenant_id === tenantId ? job : null;
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
   *
   * A list costs what it returns: candidates are judged by their `status` field alone
   * (one pipelined HGET each, a few bytes), and only the page's records are read whole.
   * Reading every candidate whole made a filtered list over many non-matching jobs read
   * up to LIST_SCAN_MAX records, prompts and results included, per request.
   */
  async list(tenantId: string, options: ListJobsOptions): Promise<JobPage> {
    const indexKey = this.keys.tenantJobs(tenantId);
    const page: string[] = [];
    let max = options.cursor ? `(${options.cursor}` : '+';
    // With a status filter, judge at most this many ids per request, then hand back a cursor.
    let budget = options.status ? LIST_SCAN_MAX : options.limit;
    let last: string | null = null;
    while (page.length < options.limit && budget > 0) {
      const batch = Math.min(options.status ? LIST_SCAN_BATCH : options.limit - page.length, budget);
      const ids = await this.redis.zrevrangebylex(indexKey, max, '-', 'LIMIT', 0, batch);
      if (ids.length === 0) break;
      budget -= ids.length;
      const statuses = await this.fieldOf(ids, 'status');
      for (let i = 0; i < ids.length; i++) {
        last = ids[i]!;
        // Null: expired under its retention; its id stays in the index a while (see
        // trimIndex) so that a GET can say "expired" rather than "not found".
        const status = statuses[i];
        if (status === null || (options.status && status !== options.status)) continue;
        page.push(last);
        if (page.length === options.limit) break;
      }
      max = `(${last}`;
    }
    const more = last !== null && (await this.redis.zrevrangebylex(indexKey, `(${last}`, '-', 'LIMIT', 0, 1)).length > 0;
    // A job may have moved on or expired between the two reads: it is left out, as it
    // would have been had the list come a moment later.
    const records = await this.getMany(page);
    const data = records.filter((r): r is JobRecord => r !== null && (!options.status || r.status === options.status)).map(toView);
    return { data, next_cursor: more ? last : null };
  }

  /** One field of each job's record, in one round trip; null where the record is gone. */
  private async fieldOf(ids: string[], field: keyof JobRecord): Promise<Array<string | null>> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.keys.job(id), field);
    return ((await pipeline.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value as string | null;
    });
  }

  /** Whole records, in one round trip; null where one is gone. */
  private async getMany(ids: string[]): Promise<Array<JobRecord | null>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.job(id));
    return ((await pipeline.exec()) ?? []).map(([err, h]) => {
      if (err) throw err;
      const hash = h as Record<string, string>;
      return hash.id ? deserialize(hash) : null;
    });
  }
}

export function toView(record: JobRecord): JobView {
  const { tenant_id: _tenant, attempt_offset: _offset, ...view } = record;
  return view;
}

/** A record's hash fields: JSON for structured and null values, strings for the rest. */
export function serializeRecord(record: Partial<JobRecord>): Record<string, string> {
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
    ...(h.attempt_offset ? { attempt_offset: Number(h.attempt_offset) } : {}),
    next_attempt_at: nullable(h.next_attempt_at),
    attempt_history: json<AttemptRecord[]>(h.attempt_history) ?? [],
    request: json<JobRecord['request']>(h.request) ?? ({} as JobRecord['request']),
    result: json<JobResult>(h.result),
    error: json<JobError>(h.error),
    metadata: json<Record<string, unknown>>(h.metadata),
    ...(h.batch_id ? { batch_id: h.batch_id, custom_id: h.custom_id ?? '' } : {}),
  };
}
