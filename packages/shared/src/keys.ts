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
  };
}
