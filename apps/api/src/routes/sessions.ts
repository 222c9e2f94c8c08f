/**
 * /v1/sessions: a tenant's conversations (each continued with `session_id`): list, read
 * (its turns in order, size, last use, expiry), delete (its stored state everywhere:
 * later follow-ups get session_not_found). Another tenant's session reads as missing.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { isPathId } from '../pathId.js';
import { HttpProblem } from '../problem.js';

export const sessionListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^\d{1,9}$/, 'must be a next_cursor from an earlier page').optional(),
});

const notFound = () => new HttpProblem(404, 'session_not_found', 'no session with this id for this tenant');

export function sessionsRouter(ctx: ApiContext): Router {
  const router = Router();
  const idOf = (req: Request) => {
    const id = req.params.id;
    if (!isPathId(id)) throw notFound();
    return id;
  };

  router.get('/', async (req, res) => {
    const query = sessionListQuery.parse(req.query);
    const page = await ctx.sessions.list(req.tenant!.id, query);
    res.json({ ...page, data: page.data.map((s) => ({ ...s, max_bytes: ctx.config.SESSION_MAX_BYTES })) });
  });

  router.get('/:id', async (req, res) => {
    const session = await ctx.sessions.view(idOf(req), req.tenant!.id);
    if (!session) throw notFound();
    res.json({ ...session, max_bytes: ctx.config.SESSION_MAX_BYTES });
  });

  router.delete('/:id', async (req, res) => {
    const tenantId = req.tenant!.id;
    const deleted = await ctx.sessions.delete(idOf(req), tenantId);
    if (!deleted) throw notFound();
    // Its conversation's stored state: no worker can restore it now.
    await ctx.conversations.delete(tenantId, deleted.workspace);
    req.log.info({ tenant_id: tenantId, session_id: deleted.session_id }, 'session deleted');
    res.status(204).end();
  });

  return router;
}
