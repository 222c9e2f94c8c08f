/**
 * Who may open the board: HTTP Basic against BOARD_USERS (without it there is no board).
 * Read-only logins may look, not act. The board has logins of its own, never ADMIN_TOKEN:
 * browsers keep a Basic password for the session, and the admin token would sit there.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { BoardUser } from '@claude-queue/shared';
import { HttpProblem } from '../problem.js';

export type BoardAccess = BoardUser['access'];

export interface BoardLogin {
  user: string;
  access: BoardAccess;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** The board login of the request (board/boardAuth.ts). */
    boardLogin?: BoardLogin;
  }
}

export const BOARD_REALM = 'claude-queue';

/** Methods that change nothing: read-only logins may use them, and they need no CSRF check. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** A wrong or missing login: the browser asks for one (RFC 7617). */
const unauthorized = () =>
  new HttpProblem(401, 'unauthorized', 'the board needs a login (HTTP Basic)', {
    headers: { 'WWW-Authenticate': `Basic realm="${BOARD_REALM}"` },
  });

export function requireBoardLogin(users: readonly BoardUser[]): RequestHandler {
  // Digests of equal length, so timingSafeEqual compares any two in constant time.
  const logins = users.map((u) => ({ user: digest(u.user), password: digest(u.password), login: { user: u.user, access: u.access } }));
  return (req, _res, next) => {
    const given = basicCredentials(req.headers.authorization);
    let found: BoardLogin | undefined;
    if (given) {
      const user = digest(given.user);
      const password = digest(given.password);
      // Every login compared in full, no early exit: the time taken tells neither which
      // users exist nor how much of a password was right.
      for (const l of logins) {
        const match = Number(timingSafeEqual(user, l.user)) & Number(timingSafeEqual(password, l.password));
        if (match === 1) found ??= l.login;
      }
    }
    if (!found) throw unauthorized();
    req.boardLogin = found;
    next();
  };
}

/** Read-only logins get the read-only board; this refuses their writes whatever the board does. */
export const refuseReadOnlyWrites: RequestHandler = (req, _res, next) => {
  if (req.boardLogin?.access !== 'rw' && !SAFE_METHODS.has(req.method)) {
    throw new HttpProblem(403, 'forbidden', 'this board login is read-only');
  }
  next();
};
