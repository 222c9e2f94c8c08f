/**
 * Bull Board at /admin/queues: every queue of the catalog, for operators. bull-board has
 * no auth of its own, so this app puts it behind a Basic login (boardAuth.ts) and a
 * same-origin rule for its writes (sameOrigin.ts). bull-board's read-only mode is per
 * queue adapter, fixed when the board is built, so there are two boards over the same
 * queues: read-write and read-only, each login sent to its own.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type Express, type RequestHandler } from 'express';
import { catalog } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { limitFailedLogins } from '../middleware/failedLogins.js';
import { HttpProblem } from '../problem.js';
import { refuseReadOnlyWrites, requireBoardLogin, type BoardAccess } from './boardAuth.js';
import { ClaudeQueueAdapter } from './claudeQueueAdapter.js';
import { createJobRecordHooks, type BoardHooks } from './jobRecordHooks.js';
import { requireSameOrigin } from './sameOrigin.js';

export const BOARD_PATH = '/admin/queues';

const DESCRIPTIONS: Record<string, string> = {
  [catalog.claude.queue]:
    "Jobs from dispatch on (jobs still waiting in tenants' intakes are not here). Data is ids only; " +
    'the request and result are in the job record, GET /v1/jobs/{id}, where a retry or removal here shows too.',
};

/**
 * bull-board's page links IBM Plex from Google Fonts; operators' browsers may have no
 * internet, and the board should not tell Google who opens it. Without the link its
 * stylesheet falls back to system fonts (`system-ui`, `ui-monospace`).
 */
const REMOTE_FONTS = /<link\b[^>]*href="https:\/\/fonts\.(?:googleapis|gstatic)\.com[^"]*"[^>]*>/g;

/** The board's page (rendered by bull-board's entry route) without remote fonts. */
const withoutRemoteFonts: RequestHandler = (_req, res, next) => {
  const render = res.render.bind(res);
  res.render = ((view: string, options?: object) =>
    render(view, options ?? {}, (err: Error | null, html?: string) => (err ? next(err) : res.send(html!.replace(REMOTE_FONTS, ''))))) as typeof res.render;
  next();
};

/** The board's pages can't be framed: its buttons act with the operator's login (clickjacking). */
const denyFraming: RequestHandler = (_req, res, next) => {
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  next();
};

function createBoard(ctx: ApiContext, access: BoardAccess, hooks?: BoardHooks): Express {
  const serverAdapter = new ExpressAdapter().setBasePath(BOARD_PATH);
  const board = serverAdapter.getRouter() as Express;
  board.disable('x-powered-by');
  // First in the board's own stack: a login of the other kind skips this board.
  board.use((req, _res, next) => next(req.boardLogin?.access === access ? undefined : 'router'));
  board.use(withoutRemoteFonts);
  const queues = ctx.boardQueues.map((queue) => {
    // allowCompletedRetries isn't in the constructor's type, but BaseAdapter reads it:
    // a claude job that completed is final for its caller (jobRecordHooks.ts refuses it too).
    const options = {
      readOnlyMode: access === 'ro',
      allowCompletedRetries: queue.name !== catalog.claude.queue,
      description: DESCRIPTIONS[queue.name] ?? '',
    };
    if (queue.name === catalog.claude.queue) return new ClaudeQueueAdapter(queue, options, { life: ctx.life, jobs: ctx.jobs, logger: ctx.logger });
    return new BullMQAdapter(queue, options);
  });
  createBullBoard({
    queues,
    serverAdapter,
    options: { uiConfig: { boardTitle: access === 'ro' ? 'claude-queue (read-only)' : 'claude-queue' }, handlerHooks: hooks },
  });
  // bull-board answers its own errors 500 with their message; thrown on instead, they reach
  // the API's error middleware: 503 with Retry-After while Redis is away, and 5xx messages
  // stay in the log.
  serverAdapter.setErrorHandler((err) => {
    throw err;
  });
  return board;
}

/** Without BOARD_USERS there is no board: it has logins of its own, never ADMIN_TOKEN (boardAuth.ts). */
const boardOff: RequestHandler = () => {
  throw new HttpProblem(404, 'not_found', 'the queue board is off: BOARD_USERS turns it on');
};

/** The board app; app.ts mounts it at BOARD_PATH, ahead of the API's 404. */
export function createBoardApp(ctx: ApiContext): Express {
  const app = express();
  app.disable('x-powered-by');
  if (!ctx.config.BOARD_USERS) return app.use(boardOff);
  const hooks = createJobRecordHooks({ jobs: ctx.jobs, logger: ctx.logger });
  app.use(limitFailedLogins(ctx.failedLogins, requireBoardLogin(ctx.config.BOARD_USERS)), requireSameOrigin, refuseReadOnlyWrites, denyFraming);
  app.use(createBoard(ctx, 'rw', hooks));
  app.use(createBoard(ctx, 'ro'));
  return app;
}
