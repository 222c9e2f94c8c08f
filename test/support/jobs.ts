import { FINAL_STATUSES, type JobView } from '@claude-queue/shared';
import type { TestApi } from './apiServer.js';
import { waitFor } from './env.js';

/** Submits a job and returns its object (throws unless the API answers 202). */
export async function submitJob(api: TestApi, key: string, body: Record<string, unknown>): Promise<JobView> {
  const res = await api.request('POST', '/v1/jobs', { key, body });
  if (res.status !== 202) throw new Error(`submit failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as JobView;
}

/** BullMQ states of a job whose run is over (`unknown`: removed, or never dispatched). */
const SETTLED = new Set(['completed', 'failed', 'unknown']);

/**
 * Polls a job until it is final, and until BullMQ is done with it too: the record turns
 * final a moment before BullMQ moves the job to its completed or failed set, and tests
 * that go on to act on the BullMQ job (a board retry) must not race that.
 */
export async function waitForFinal(api: TestApi, key: string, id: string, timeoutMs = 20_000): Promise<JobView> {
  return waitFor(
    async () => {
      const res = await api.request('GET', `/v1/jobs/${id}`, { key });
      if (!FINAL_STATUSES.includes(res.body.status)) return undefined;
      return SETTLED.has(await api.ctx.queue.getJobState(id)) ? (res.body as JobView) : undefined;
    },
    timeoutMs,
    `job ${id} to finish`,
  );
}
