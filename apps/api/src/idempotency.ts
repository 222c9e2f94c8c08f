/**
 * Idempotent submits: an `Idempotency-Key` is remembered per tenant with a fingerprint
 * of the request it came with. A claim is atomic (Lua), so of 20 concurrent requests
 * with one key exactly one creates the job; the others see it in progress (409) or,
 * once it is done, get the original job back.
 */
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { Redis } from 'ioredis';
import { HttpProblem } from './problem.js';
import { luaScript, runScript, type Keys } from '@claude-queue/shared';

export type IdempotencyClaim =
  /** First use of the key: create the job, then `complete` (or `abandon` on failure). */
  | { kind: 'new'; complete(jobId: string): Promise<void>; abandon(): Promise<void> }
  /** The key was used with this same request: answer with that job. */
  | { kind: 'replay'; jobId: string }
  /** The first request with this key is still being handled. */
  | { kind: 'in_progress' }
  /** The key was used with a different request. */
  | { kind: 'mismatch' };

/** A valid `Idempotency-Key`: printable ASCII, as the IETF Idempotency-Key draft's examples; 255 is plenty for a uuid or a hash. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** A claim that is never completed (the API died mid-request) frees the key after this. */
const PENDING_TTL_SECONDS = 60;

const CLAIM = luaScript('idempotency_claim', {
  keys: ['record'],
  args: ['fingerprint', 'pending_ttl_seconds'],
  body: `
local v = redis.call('get', record)
if not v then
  redis.call('set', record, cjson.encode({ state = 'pending', fp = fingerprint }), 'EX', pending_ttl_seconds)
  return { 'new' }
end
local d = cjson.decode(v)
if d.fp ~= fingerprint then return { 'mismatch' } end
if d.state == 'pending' then return { 'in_progress' } end
return { 'replay', d.job_id }
`,
});

const ABANDON = luaScript('idempotency_abandon', {
  keys: ['record'],
  args: [],
  body: `
local v = redis.call('get', record)
if v and cjson.decode(v).state == 'pending' then return redis.call('del', record) end
return 0
`,
});

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
    const [kind, jobId] = await runScript<'record', 'fingerprint' | 'pending_ttl_seconds', [string, string?]>(
      this.redis,
      CLAIM,
      { record: key },
      { fingerprint, pending_ttl_seconds: PENDING_TTL_SECONDS },
    );
    if (kind === 'replay') return { kind, jobId: jobId! };
    if (kind === 'in_progress' || kind === 'mismatch') return { kind };
    return {
      kind: 'new',
      complete: async (id) => {
        await this.redis.set(key, JSON.stringify({ state: 'done', fp: fingerprint, job_id: id }), 'EX', this.ttlSeconds);
      },
      abandon: async () => {
        await runScript(this.redis, ABANDON, { record: key }, {});
      },
    };
  }
}

/** The request's `Idempotency-Key`, checked: undefined when it has none. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new HttpProblem(400, 'invalid_request', 'Idempotency-Key must be 1 to 255 printable ASCII characters', {
      errors: [{ field: 'Idempotency-Key', message: 'invalid' }],
    });
  }
  return key;
}
