/**
 * Tenants and their API keys. A key is shown once, at creation; only its SHA-256 is
 * stored, and a request's key is found by hashing it and looking the hash up.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export interface Tenant {
  id: string;
  name: string;
  created_at: string;
}

export interface CreatedTenant extends Tenant {
  api_key: string;
}

export const API_KEY_PREFIX = 'cq_';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** `cq_` and 32 random bytes, base64url. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export class TenantStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async create(name: string): Promise<CreatedTenant> {
    const tenant: Tenant = { id: randomUUID(), name, created_at: new Date().toISOString() };
    const apiKey = generateApiKey();
    await this.redis
      .multi()
      .hset(this.keys.tenant(tenant.id), tenant)
      .zadd(this.keys.tenantIndex(), Date.parse(tenant.created_at), tenant.id)
      .set(this.keys.apiKey(hashApiKey(apiKey)), tenant.id)
      .exec();
    return { ...tenant, api_key: apiKey };
  }

  async get(id: string): Promise<Tenant | null> {
    const h = await this.redis.hgetall(this.keys.tenant(id));
    if (!h.id) return null;
    return { id: h.id, name: h.name ?? '', created_at: h.created_at ?? '' };
  }

  async list(): Promise<Tenant[]> {
    const ids = await this.redis.zrange(this.keys.tenantIndex(), 0, -1);
    const tenants = await Promise.all(ids.map((id) => this.get(id)));
    return tenants.filter((t): t is Tenant => t !== null);
  }

  /** The tenant a presented API key belongs to, or null. */
  async authenticate(apiKey: string): Promise<Tenant | null> {
    if (!apiKey.startsWith(API_KEY_PREFIX)) return null;
    const id = await this.redis.get(this.keys.apiKey(hashApiKey(apiKey)));
    return id ? this.get(id) : null;
  }
}
