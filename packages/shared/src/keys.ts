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
  /** A session's turns in submission order: a list of job ids (the head runs next). */
  sessionTurns(id: string): string;
  /** The jobs whose turns made a session what it is (each that succeeded), oldest first: a list. */
  sessionHistory(id: string): string;
  /** A tenant's sessions by last use: session id → ms. */
  tenantSessions(tenantId: string): string;
  /** A batch (batches/batchStore.ts): hash {id, tenant_id, status, counts per job status, …}. */
  batch(id: string): string;
  /** A batch's jobs in submission order: a list of job ids. */
  batchJobs(id: string): string;
  /** A tenant's batches: batch id → created (ms). */
  tenantBatches(tenantId: string): string;
  /** A conversation's snapshot (conversations/conversationStore.ts): hash {data, version, saved_at}. */
  conversation(tenantId: string, conversationId: string): string;
  /** Pub/sub channel on which the API asks whichever worker runs a job to stop it. */
  cancelChannel(): string;
  idempotency(tenantId: string, keyHash: string): string;
  /** A tenant's API keys: hash of key id → JSON {id, prefix, created_at, hash}. */
  tenantKeys(tenantId: string): string;
  /** When each of a tenant's API keys was last used: hash of key id → ISO time. */
  tenantKeysLastUsed(tenantId: string): string;
  /** API requests of one key in one minute (requests_per_minute). */
  requestRate(keyId: string, minute: number): string;
  /** Usage of one tenant on one UTC day (YYYY-MM-DD): a hash of counters. */
  usageDay(tenantId: string, day: string): string;
  /** A tenant's usage of one UTC month (YYYY-MM): the same counters as a day's, for monthly budgets. */
  usageMonth(tenantId: string, month: string): string;
  /** What a tenant's job records hold: a hash of job id → bytes, with the sum under '*total' (usage/scripts.ts). */
  tenantStored(tenantId: string): string;
  /** When each of those records expires: job id → ms (+inf while it has no expiry). */
  tenantStoredUntil(tenantId: string): string;
  // The scheduler (scheduler/scheduler.ts). Its dispatch script walks tenants it only
  // learns inside Redis, so it builds their keys there from `prefix` with the same
  // patterns as these functions (checked by scheduler.test.ts).
  prefix: string;
  /** A tenant's jobs waiting to be dispatched: job id → priority and arrival. */
  intake(tenantId: string): string;
  /** Jobs holding one of a tenant's concurrency slots: job id → lease expiry (ms). */
  running(tenantId: string): string;
  /** A tenant's recent starts, for its rate window: member → start time (ms). */
  starts(tenantId: string): string;
  /** Until when (ms) a tenant's starts are paused after the model API's 429. */
  pausedUntil(tenantId: string): string;
  /** Tenants with waiting jobs: tenant id → virtual time (fair queuing). */
  schedTenants(): string;
  /** Virtual times of tenants that are not waiting now, kept so leaving can't earn credit. */
  schedLastVtime(): string;
  /** The scheduler's virtual clock: the start tag of the last dispatched job. */
  schedVnow(): string;
  /** Arrival counter: FIFO order among jobs of one tenant with one priority. */
  schedSeq(): string;
  /** Jobs dispatched to the BullMQ queue and not started yet: job id → tenant id. */
  dispatched(): string;
  /** Pub/sub channel: "there may be work to dispatch". */
  dispatchChannel(): string;
  /** A job's events (status, text): a capped stream. */
  jobEvents(id: string): string;
  /** Pub/sub channel announcing, with the job id, every new job event. */
  jobEventsChannel(): string;
  /** The latest redelivery of a job's webhooks to one URL (by its SHA-256): JSON of its BullMQ job ids (apps/api/src/jobs/redeliveries.ts). */
  redelivery(jobId: string, urlHash: string): string;
  /** A tenant's recent redeliveries, for its sliding window: redelivery id → when (ms). */
  redeliveryRate(tenantId: string): string;
  /** A tenant's open event streams and long-polls, across API processes: lease id → lease expiry (ms) (apps/api/src/liveRequests.ts). */
  tenantLiveRequests(tenantId: string): string;
  /** Service-wide stream of job.started, final events and batch.ended (webhook delivery reads it). */
  events(): string;
  /** Held by the one worker cleaning up at a time. */
  janitorLock(): string;
  /** Every attempt to deliver a job's (a batch's, a tenant's own) webhooks: a list of JSON (webhooks/deliveryLog.ts). */
  webhookDeliveries(subject: 'job' | 'batch' | 'tenant', id: string): string;
  /** Webhook URLs a tenant's receivers answered 410 Gone: a set; deliveries there stop. */
  webhookDisabledUrls(tenantId: string): string;
  /** Failed logins from one client address in the current window: a counter that expires (http/failedLogins.ts). */
  failedLogins(address: string): string;
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
    sessionTurns: (id) => `${prefix}:session:${id}:turns`,
    sessionHistory: (id) => `${prefix}:session:${id}:history`,
    tenantSessions: (tenantId) => `${prefix}:tenant:${tenantId}:sessions`,
    batch: (id) => `${prefix}:batch:${id}`,
    batchJobs: (id) => `${prefix}:batch:${id}:jobs`,
    tenantBatches: (tenantId) => `${prefix}:tenant:${tenantId}:batches`,
    conversation: (tenantId, conversationId) => `${prefix}:tenant:${tenantId}:conversation:${conversationId}`,
    cancelChannel: () => `${prefix}:cancel`,
    idempotency: (tenantId, keyHash) => `${prefix}:idem:${tenantId}:${keyHash}`,
    tenantKeys: (tenantId) => `${prefix}:tenant:${tenantId}:keys`,
    tenantKeysLastUsed: (tenantId) => `${prefix}:tenant:${tenantId}:keys:last_used`,
    requestRate: (keyId, minute) => `${prefix}:rpm:${keyId}:${minute}`,
    usageDay: (tenantId, day) => `${prefix}:usage:${tenantId}:${day}`,
    usageMonth: (tenantId, month) => `${prefix}:usage:${tenantId}:${month}`,
    tenantStored: (tenantId) => `${prefix}:tenant:${tenantId}:stored`,
    tenantStoredUntil: (tenantId) => `${prefix}:tenant:${tenantId}:stored-until`,
    prefix,
    intake: (tenantId) => `${prefix}:tenant:${tenantId}:intake`,
    running: (tenantId) => `${prefix}:tenant:${tenantId}:running`,
    starts: (tenantId) => `${prefix}:tenant:${tenantId}:starts`,
    pausedUntil: (tenantId) => `${prefix}:tenant:${tenantId}:paused`,
    schedTenants: () => `${prefix}:sched:tenants`,
    schedLastVtime: () => `${prefix}:sched:lastv`,
    schedVnow: () => `${prefix}:sched:vnow`,
    schedSeq: () => `${prefix}:sched:seq`,
    dispatched: () => `${prefix}:sched:dispatched`,
    dispatchChannel: () => `${prefix}:dispatch`,
    jobEvents: (id) => `${prefix}:job:${id}:events`,
    jobEventsChannel: () => `${prefix}:job-events`,
    redelivery: (jobId, urlHash) => `${prefix}:job:${jobId}:redelivery:${urlHash}`,
    redeliveryRate: (tenantId) => `${prefix}:tenant:${tenantId}:redeliveries`,
    tenantLiveRequests: (tenantId) => `${prefix}:tenant:${tenantId}:live`,
    events: () => `${prefix}:events`,
    janitorLock: () => `${prefix}:janitor:lock`,
    webhookDeliveries: (subject, id) => `${prefix}:${subject}:${id}:deliveries`,
    webhookDisabledUrls: (tenantId) => `${prefix}:tenant:${tenantId}:webhook-disabled`,
    failedLogins: (address) => `${prefix}:failed-logins:${address}`,
  };
}
