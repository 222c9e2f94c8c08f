/** /v1/admin/tenants: create and list tenants (ADMIN_TOKEN). Keys are shown once, at creation. */
import { Router } from 'express';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { notFound } from '../problem.js';

export const createTenantBody = z.strictObject({
  name: z.string({ error: 'is required and must be a string' }).trim().min(1, 'must not be empty').max(200),
});

export function adminTenantsRouter(ctx: ApiContext): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const { name } = createTenantBody.parse(req.body ?? {});
    const tenant = await ctx.tenants.create(name);
    req.log.info({ tenant_id: tenant.id }, 'tenant created');
    res.status(201).location(`/v1/admin/tenants/${tenant.id}`).json(tenant);
  });

  router.get('/', async (_req, res) => {
    res.json({ data: await ctx.tenants.list() });
  });

  router.get('/:id', async (req, res) => {
    const tenant = await ctx.tenants.get(req.params.id);
    if (!tenant) throw notFound('tenant');
    res.json(tenant);
  });

  return router;
}
