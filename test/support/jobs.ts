import { FINAL_STATUSES, type JobView } from '@claude-queue/shared';
import type { TestApi } from './apiServer.js';
import { waitFor } from './env.js';

/** Submits a job and returns its object (throws unless the API answers 202). */
export async function submitJob(api: TestApi, key: string, body: Record<string, unknown>): Promise<JobView> {
  const res = await api.request('POST', '/v1/jobs', { key, body });
  if (res.status !== 202) throw new Error(`submit failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as JobView;
}

/** Polls a job until it is final. */
export async function waitForFinal(api: TestApi, key: string, id: string, timeoutMs = 20_000): Promise<JobView> {
  return waitFor(
    async () => {
      const res = await api.request('GET', `/v1/jobs/${id}`, { key });
      return FINAL_STATUSES.includes(res.body.status) ? (res.body as JobView) : undefined;
    },
    timeoutMs,
    `job ${id} to finish`,
  );
}
