/**
 * Conversation state: which tenant a CLI session belongs to and the workspace it
 * began in. It lives in Redis, not on a worker's disk, so a follow-up job can run on
 * any worker that shares DATA_DIR (the CLI finds a transcript only from the cwd and
 * CLAUDE_CONFIG_DIR it was written in: docs/claude-cli.md).
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { luaScript, runScript } from './redisScript.js';

export interface SessionRecord {
  session_id: string;
  tenant_id: string;
  /** Workspace id under the tenant's folder in DATA_DIR. */
  workspace: string;
  created_at: string;
  last_used_at: string;
  /** The conversation's files after its last turn (transcript and workspace), in bytes. */
  size_bytes: number;
  /** The session this one was forked from, if any. */
  forked_from: string | null;
}

/** A session as its tenant sees it (GET /v1/sessions/{id}). */
export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  /** When it can no longer be continued, unless used before (SESSION_TTL_DAYS after its last use). */
  expires_at: string;
  /** The jobs whose turns made it what it is, oldest first (each that succeeded). */
  turns: string[];
  size_bytes: number;
  forked_from: string | null;
}

export interface SessionPage {
  data: Omit<SessionView, 'turns'>[];
  next_cursor: string | null;
}

/** What a turn that succeeded leaves of its session. */
export interface SessionTurn {
  jobId: string;
  /** The conversation's files after it. */
  sizeBytes: number;
  /** A fork's first turn: the session it branched from. */
  forkedFrom?: string;
}

/** Sessions live this long after their last use (default of SESSION_TTL_DAYS elsewhere: 30). */
export const SESSION_TTL_SECONDS = 30 * 24 * 3600;

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds = SESSION_TTL_SECONDS,
  ) {}

  async get(sessionId: string): Promise<SessionRecord | null> {
    const h = await this.redis.hgetall(this.keys.session(sessionId));
    if (!h.tenant_id || !h.workspace) return null;
    return {
      session_id: sessionId,
      tenant_id: h.tenant_id,
      workspace: h.workspace,
      created_at: h.created_at ?? '',
      last_used_at: h.last_used_at ?? '',
      size_bytes: Number(h.size_bytes ?? 0),
      forked_from: h.forked_from ?? null,
    };
  }

  /** The session if it exists and belongs to this tenant; another tenant's reads as missing. */
  async getForTenant(sessionId: string, tenantId: string): Promise<SessionRecord | null> {
    const s = await this.get(sessionId);
    return s && s.tenant_id === tenantId ? s : null;
  }

  /** Records (or refreshes) a session after a turn that succeeded in it. */
  async record(sessionId: string, tenantId: string, workspace: string, turn?: SessionTurn): Promise<void> {
    const key = this.keys.session(sessionId);
    const now = Date.now();
    const m = this.redis
      .multi()
      .hsetnx(key, 'created_at', new Date(now).toISOString())
      .hset(key, { tenant_id: tenantId, workspace, last_used_at: new Date(now).toISOString() })
      .expire(key, this.ttlSeconds)
      .zadd(this.keys.tenantSessions(tenantId), now, sessionId)
      .expire(this.keys.tenantSessions(tenantId), this.ttlSeconds);
    if (turn) {
      m.hset(key, 'size_bytes', turn.sizeBytes);
      if (turn.forkedFrom) m.hset(key, 'forked_from', turn.forkedFrom);
      m.rpush(this.keys.sessionHistory(sessionId), turn.jobId).expire(this.keys.sessionHistory(sessionId), this.ttlSeconds);
    }
    await m.exec();
  }

  /** The tenant's session as it sees it; another tenant's reads as missing. */
  async view(sessionId: string, tenantId: string): Promise<SessionView | null> {
    const s = await this.getForTenant(sessionId, tenantId);
    if (!s) return null;
    return { ...this.summary(s), turns: await this.redis.lrange(this.keys.sessionHistory(sessionId), 0, -1) };
  }

  private summary(s: SessionRecord): Omit<SessionView, 'turns'> {
    return {
      id: s.session_id,
      created_at: s.created_at,
      last_used_at: s.last_used_at,
      expires_at: new Date(Date.parse(s.last_used_at) + this.ttlSeconds * 1000).toISOString(),
      size_bytes: s.size_bytes,
      forked_from: s.forked_from,
    };
  }

  /**
   * A tenant's sessions, most recently used first. The cursor is an offset into that
   * order: a session used meanwhile moves to the front, so a walk through the pages may
   * see it twice or miss it once.
   */
  async list(tenantId: string, options: { limit: number; cursor?: string }): Promise<SessionPage> {
    const index = this.keys.tenantSessions(tenantId);
    // Sessions unused for longer than they live are gone: their index entries go too.
    await this.redis.zremrangebyscore(index, '-inf', Date.now() - this.ttlSeconds * 1000);
    const offset = Number(options.cursor ?? 0);
    const ids = await this.redis.zrevrange(index, offset, offset + options.limit - 1);
    const found = await Promise.all(ids.map((id) => this.getForTenant(id, tenantId)));
    const data = found.filter((s): s is SessionRecord => s !== null).map((s) => this.summary(s));
    const more = (await this.redis.zcard(index)) > offset + ids.length;
    return { data, next_cursor: more ? String(offset + ids.length) : null };
  }

  /** Forgets a session of this tenant (its conversation's stored state is the caller's to remove). False when there is none. */
  async delete(sessionId: string, tenantId: string): Promise<SessionRecord | null> {
    const s = await this.getForTenant(sessionId, tenantId);
    if (!s) return null;
    await this.redis
      .multi()
      .del(this.keys.session(sessionId), this.keys.sessionHistory(sessionId), this.keys.sessionTurns(sessionId))
      .zrem(this.keys.tenantSessions(tenantId), sessionId)
      .exec();
    return s;
  }

  /**
   * A job's turn in its conversation: one job at a time, in the order they were submitted
   * (the session's turns, JobLife.submit). The job may go when every turn before it has
   * ended (whatever its outcome: the next runs on the last good state) and no other run
   * holds the conversation. Returns a release function, or null when it must wait.
   */
  async tryTurn(sessionId: string, jobId: string, runId: string, ttlMs: number): Promise<(() => Promise<void>) | null> {
    const lock = this.keys.sessionLock(sessionId);
    // The owner is this run of the job: a later run of the same job (its worker died or
    // lost the job) takes the lock over, and the earlier run's release then finds it
    // is no longer its own.
    const owner = `${jobId}:${runId}`;
    const ok = await runScript(
      this.redis,
      TAKE_TURN,
      { lock, turns: this.keys.sessionTurns(sessionId) },
      { owner, job_id: jobId, job_prefix: `${jobId}:`, ttl_ms: ttlMs, record_pattern: this.keys.job('{job}') },
    );
    if (ok !== 1) return null;
    return async () => {
      await runScript(this.redis, RELEASE_IF_OWNER, { lock }, { owner });
    };
  }
}

/**
 * The job's turn: the session's turns are popped while their head has ended (or expired);
 * then the job must be the head (or the session has no turns: jobs from before they
 * were kept), and the lock free or held by another run of the same job.
 */
const TAKE_TURN = luaScript('session_take_turn', {
  keys: ['lock', 'turns'],
  args: ['owner', 'job_id', 'job_prefix', 'ttl_ms', 'record_pattern'],
  body: `
local i, j = string.find(record_pattern, '{job}', 1, true)
local before, after = string.sub(record_pattern, 1, i - 1), string.sub(record_pattern, j + 1)
while true do
  local head = redis.call('lindex', turns, 0)
  if not head or head == job_id then break end
  local status = redis.call('hget', before .. head .. after, 'status')
  if status == 'queued' or status == 'running' then return 0 end
  redis.call('lpop', turns)
end
local held = redis.call('get', lock)
if held and held ~= owner and string.sub(held, 1, #job_prefix) ~= job_prefix then return 0 end
redis.call('set', lock, owner, 'PX', ttl_ms)
return 1
`,
});

const RELEASE_IF_OWNER = luaScript('session_release_if_owner', {
  keys: ['lock'],
  args: ['owner'],
  body: `if redis.call('get', lock) == owner then return redis.call('del', lock) else return 0 end`,
});
