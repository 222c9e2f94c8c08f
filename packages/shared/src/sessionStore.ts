/**
 * Conversation state: which tenant a CLI session belongs to and the workspace it
 * began in. It lives in Redis, not on a worker's disk, so a follow-up job can run on
 * any worker that shares DATA_DIR (the CLI finds a transcript only from the cwd and
 * CLAUDE_CONFIG_DIR it was written in: docs/claude-cli.md).
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

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
    const ok = await this.redis.eval(TAKE_LOCK, 1, key, owner, `${jobId}:`, ttlMs);
    if (ok !== 1) return null;
    return async () => {
      await this.redis.eval(RELEASE_IF_OWNER, 1, key, owner);
    };
  }
}

/** Takes the lock if free or held by another run of the same job (ARGV[2]: its prefix). */
const TAKE_LOCK = `
local held = redis.call('get', KEYS[1])
if held and held ~= ARGV[1] and string.sub(held, 1, #ARGV[2]) ~= ARGV[2] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`;

const RELEASE_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
