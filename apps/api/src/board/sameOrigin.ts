/**
 * CSRF protection for the board's actions. A browser sends a Basic login it has cached
 * with any request to the origin, whichever page started it, so a page elsewhere could
 * post to /admin/queues/api/… on an operator's behalf. The board's own UI only calls
 * its API with fetch from the same origin, and every browser in use marks where a
 * request comes from: so a write is refused unless
 * - `Sec-Fetch-Site` says `same-origin` (or `none`: typed by the user), or, without it,
 * - `Origin` names the host the request was sent to, or
 * - neither header is there: not a browser (curl, scripts), which CSRF can't drive.
 * The same rule as Go's net/http CrossOriginProtection. A custom-header check would need
 * the board's UI to send one, which it doesn't; tokens would need state and a UI change.
 */
import type { RequestHandler } from 'express';
import { HttpProblem } from '../problem.js';
import { SAFE_METHODS } from './boardAuth.js';

const crossOrigin = () => new HttpProblem(403, 'forbidden', 'cross-origin requests may not change the board');

export const requireSameOrigin: RequestHandler = (req, _res, next) => {
  if (SAFE_METHODS.has(req.method)) return next();
  const site = req.get('sec-fetch-site');
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return next();
    throw crossOrigin();
  }
  const origin = req.get('origin');
  if (origin === undefined) return next();
  let host: string | null = null;
  try {
    host = new URL(origin).host;
  } catch {
    // `Origin: null` (sandboxed frames, some redirects) and garbage: refused.
  }
  if (host !== null && host === req.get('host')?.toLowerCase()) return next();
  throw crossOrigin();
};
