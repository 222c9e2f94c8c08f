/**
 * Moving a job along its life without a worker, for tests of what the API shows at each
 * status: the same JobLife moves a worker makes. `start` needs what BullMQ hands a
 * processor; the stand-in carries only what a start reads (no worker runs here, so
 * nothing else of BullMQ is involved).
 */
import type { Job } from 'bullmq';
import { expect } from 'vitest';
import type { Redis } from 'ioredis';
import type { JobLife, JobPayload, JobRecord, JobStore, Keys } from '@claude-queue/shared';

export interface JobMovers {
  life: JobLife;
  jobs: JobStore;
  redis: Redis;
  keys: Keys;
}

export function standInBullJob(record: Pick<JobRecord, 'id' | 'tenant_id' | 'attempts'>): Job<JobPayload> {
  return { id: record.id, data: { tenantId: record.tenant_id }, attemptsMade: record.attempts, moveToDelayed: async () => undefined } as unknown as Job<JobPayload>;
}

/** Takes a queued job out of its tenant's intake, as a dispatch would, and starts it as a worker would (its next attempt). */
export async function startJob({ life, jobs, redis, keys }: JobMovers, id: string): Promise<void> {
  const record = (await jobs.get(id))!;
  await redis.zrem(keys.intake(record.tenant_id), id);
  const outcome = await life.start(standInBullJob(record), undefined, record);
  expect(outcome.kind).toBe('started');
}
