/** The job a tenant's request names (`:id`): another tenant's job reads as missing, an expired one says so. */
import type { Request } from 'express';
import type { JobRecord } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { isPathId } from '../pathId.js';
import { HttpProblem, notFound } from '../problem.js';

export async function findTenantJob(ctx: ApiContext, req: Request): Promise<JobRecord> {
  const id = (req.params as { id?: string }).id;
  if (!isPathId(id)) throw notFound('job');
  const job = await ctx.jobs.getForTenant(id, req.tenant!.id);
  if (job) return job;
  if (await ctx.jobs.wasTenantJob(id, req.tenant!.id)) {
    throw new HttpProblem(404, 'expired', `the job finished more than JOB_RETENTION_HOURS (${ctx.config.JOB_RETENTION_HOURS}) ago and was removed`);
  }
  throw notFound('job');
}
