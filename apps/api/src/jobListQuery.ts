/** GET /v1/jobs's query: what routes/jobs.ts parses, and what the OpenAPI document shows. */
import { z } from 'zod';
import { JOB_STATUSES } from '@claude-queue/shared';

export const jobListQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.uuid({ error: 'must be a next_cursor from an earlier page' }).optional(),
});
