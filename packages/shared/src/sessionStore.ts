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
    };
  }

  /** The session if it exists and belongs to this tenant; another tenant's reads as missing. */
  async getForTenant(sessionId: string, tenantId: string): Promise<SessionRecord | null> {
    const s = await this.get(sessionId);
    return s && s.tenant_id === tenantId ? s : null;
  }

  /** Records (or refreshes) a session after a run that produced it. */
  async record(sessionId: string, tenantId: string, workspace: string): Promise<void> {
    const key = this.keys.session(sessionId);
    const now = new Date().toISOString();
    await this.redis
      .multi()
      .hsetnx(key, 'created_at', now)
      .hset(key, { tenant_id: tenantId, workspace, last_used_at: now })
      .expire(key, this.ttlSeconds)
      .exec();
  }

  /**
   * One job at a time per conversation: two runs resuming the same session in one
   * workspace would interleave writes to one transcript. Returns a release function,
   * or null when another job holds the session.
   */
  async tryLock(sessionId: string, jobId: string, runId: string, ttlMs: number): Promise<(() => Promise<void>) | null> {
    const key = this.keys.sessionLock(sessionId);
    // The owner is this run of the job: a later run of the same job (its worker died or
    // lost the job) takes the lock over, and the earlier run's release then finds it
    // is no longer its own.
    const owner = `${jobId}:${runId}`;
    const ok = await runScript(this.redis, TAKE_LOCK, { lock: key }, { owner, job_prefix: `${jobId}:`, ttl_ms: ttlMs });
    if (ok !== 1) return null;
    return async () => {
      await runScript(this.redis, RELEASE_IF_OWNER, { lock: key }, { owner });
    };
  }
}

/** Takes the lock if free or held by another run of the same job (one whose owner starts with `job_prefix`). */
const TAKE_LOCK = luaScript('session_take_lock', {
  keys: ['lock'],
  args: ['owner', 'job_prefix', 'ttl_ms'],
  body: `
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
