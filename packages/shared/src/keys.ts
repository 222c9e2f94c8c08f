/**
 * Every Redis key this project writes, in one place. BullMQ's own keys live under
 * `${prefix}:bull:*` (the queue prefix); ours under `${prefix}:*`.
 */
export interface Keys {
  /** BullMQ's `prefix` option. */
  bullPrefix: string;
  tenant(id: string): string;
  tenantIndex(): string;
  apiKey(hash: string): string;
  job(id: string): string;
  tenantJobs(tenantId: string): string;
  session(id: string): string;
  sessionLock(id: string): string;
  /** Pub/sub channel on which the API asks whichever worker runs a job to stop it. */
  cancelChannel(): string;
  idempotency(tenantId: string, keyHash: string): string;
  /** A tenant's API keys: hash of key id → JSON {id, prefix, created_at, hash}. */
  tenantKeys(tenantId: string): string;
  /** API requests of one key in one minute (requests_per_minute). */
  requestRate(keyId: string, minute: number): string;
  /** Usage of one tenant on one UTC day (YYYY-MM-DD): a hash of counters. */
  usageDay(tenantId: string, day: string): string;
}

export function createKeys(prefix: string): Keys {
  return {
    bullPrefix: `${prefix}:bull`,
    tenant: (id) => `${prefix}:tenant:${id}`,
    tenantIndex: () => `${prefix}:tenants`,
    apiKey: (hash) => `${prefix}:apikey:${hash}`,
    job: (id) => `${prefix}:job:${id}`,
    tenantJobs: (tenantId) => `${prefix}:tenant:${tenantId}:jobs`,
    session: (id) => `${prefix}:session:${id}`,
    sessionLock: (id) => `${prefix}:session:${id}:lock`,
    cancelChannel: () => `${prefix}:cancel`,
    idempotency: (tenantId, keyHash) => `${prefix}:idem:${tenantId}:${keyHash}`,
    tenantKeys: (tenantId) => `${prefix}:tenant:${tenantId}:keys`,
    requestRate: (keyId, minute) => `${prefix}:rpm:${keyId}:${minute}`,
    usageDay: (tenantId, day) => `${prefix}:usage:${tenantId}:${day}`,
  };
}
