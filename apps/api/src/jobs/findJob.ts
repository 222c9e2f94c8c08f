/** The job a tenant's request names (`:id`): another tenant's job reads as missing, an expired one says so. */
import type { Request } from 'express';
import { z } from 'zod';
import type { JobRecord } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { HttpProblem, notFound } from '../problem.js';

const jobIdParam = z.uuid();

export async function findTenantJob(ctx: ApiContext, req: Request): Promise<JobRecord> {
  const id = jobIdParam.safeParse((req.params as { id?: string }).id);
  const job = id.success ? await ctx.jobs.getForTenant(id.data, req.tenant!.id) : null;
  if (job) return job;
  if (id.success && (await ctx.jobs.wasTenantJob(id.data, req.tenant!.id))) {
    throw new HttpProblem(404, 'expired', `the job finished more than JOB_RETENTION_HOURS (${ctx.config.JOB_RETENTION_HOURS}) ago and was removed`);
  }
  throw notFound('job');
}
