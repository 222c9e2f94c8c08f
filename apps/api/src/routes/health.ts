import { Router } from 'express';
import type { ApiContext } from '../context.js';
import { HttpProblem } from '../problem.js';

/** `/healthz`: the process is up. `/readyz`: Redis answers, so requests can be served. */
export function healthRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const ok = await Promise.race([
      ctx.redis.ping().then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref()),
    ]);
    if (!ok) throw new HttpProblem(503, 'unavailable', 'Redis does not answer');
    res.json({ status: 'ready' });
  });
  return router;
}
