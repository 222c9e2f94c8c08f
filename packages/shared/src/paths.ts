/**
 * Where a conversation's files live under DATA_DIR. Each conversation has its own
 * workspace (the CLI's cwd) and its own home (HOME, with the CLI's config dir and
 * transcripts in `home/.claude`): a run sees those two folders and nothing else of
 * DATA_DIR (apps/worker/src/sandbox), and no two conversations share CLI state.
 *
 *   DATA_DIR/tenants/<tenant>/conversations/<conversation>/workspace
 *   DATA_DIR/tenants/<tenant>/conversations/<conversation>/home
 *
 * A conversation's id is the id of the job that began it. Every worker of a deployment
 * shares DATA_DIR, so any worker can continue any conversation.
 */
import path from 'node:path';

const SAFE_ID = /^[A-Za-z0-9-]+$/;

function segment(id: string, what: string): string {
  // Ids come from our own stores, but a path is no place to trust that.
  if (!SAFE_ID.test(id)) throw new Error(`unsafe ${what} id for a path: ${JSON.stringify(id)}`);
  return id;
}

export interface ConversationPaths {
  /** The conversation's folder: the janitor removes it whole once unused. */
  root: string;
  /** The CLI's working directory. */
  workspace: string;
  /** HOME of its runs; the CLI's config dir is `.claude` inside it. */
  home: string;
}

/** The folder holding a tenant's conversations. */
export function conversationsDir(dataDir: string, tenantId: string): string {
  return path.join(dataDir, 'tenants', segment(tenantId, 'tenant'), 'conversations');
}

export function conversationPaths(dataDir: string, tenantId: string, conversationId: string): ConversationPaths {
  const root = path.join(conversationsDir(dataDir, tenantId), segment(conversationId, 'conversation'));
  return { root, workspace: path.join(root, 'workspace'), home: path.join(root, 'home') };
}
