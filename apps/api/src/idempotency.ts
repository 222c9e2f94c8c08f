/**
 * Idempotent submits: an `Idempotency-Key` is remembered per tenant with a fingerprint
 * of the request it came with. A claim is atomic (Lua), so of 20 concurrent requests
 * with one key exactly one creates the job; the others see it in progress (409) or,
 * once it is done, get the original job back.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '@claude-queue/shared';

export type IdempotencyClaim =
  /** First use of the key: create the job, then `complete` (or `abandon` on failure). */
  | { kind: 'new'; complete(jobId: string): Promise<void>; abandon(): Promise<void> }
  /** The key was used with this same request: answer with that job. */
  | { kind: 'replay'; jobId: string }
  /** The first request with this key is still being handled. */
  | { kind: 'in_progress' }
  /** The key was used with a different request. */
  | { kind: 'mismatch' };

/** A claim that is never completed (the API died mid-request) frees the key after this. */
const PENDING_TTL_SECONDS = 60;

const CLAIM = `
local v = redis.call('get', KEYS[1])
if not v then
  redis.call('set', KEYS[1], cjson.encode({ state = 'pending', fp = ARGV[1] }), 'EX', ARGV[2])
  return { 'new' }
end
local d = cjson.decode(v)
if d.fp ~= ARGV[1] then return { 'mismatch' } end
if d.state == 'pending' then return { 'in_progress' } end
return { 'replay', d.job_id }
`;

const ABANDON = `
local v = redis.call('get', KEYS[1])
if v and cjson.decode(v).state == 'pending' then return redis.call('del', KEYS[1]) end
return 0
`;

/** The same JSON value gives the same string whatever its objects' key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {}

  async claim(tenantId: string, idempotencyKey: string, request: unknown): Promise<IdempotencyClaim> {
    const key = this.keys.idempotency(tenantId, sha256(idempotencyKey));
    const fingerprint = sha256(canonicalJson(request));
    const [kind, jobId] = (await this.redis.eval(CLAIM, 1, key, fingerprint, PENDING_TTL_SECONDS)) as [string, string?];
    if (kind === 'replay') return { kind, jobId: jobId! };
    if (kind === 'in_progress' || kind === 'mismatch') return { kind };
    return {
      kind: 'new',
      complete: async (id) => {
        await this.redis.set(key, JSON.stringify({ state: 'done', fp: fingerprint, job_id: id }), 'EX', this.ttlSeconds);
      },
      abandon: async () => {
        await this.redis.eval(ABANDON, 1, key);
      },
    };
  }
}
