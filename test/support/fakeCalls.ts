/**
 * Where the fake CLI (fake-claude.mjs) wrote what it was called with: the job's
 * conversation folder, or, while a pooled process runs it (WARM_POOL=reuse), the pool
 * folder the process runs in; its files move to the conversation when the turn ends.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { conversationsDir } from '@claude-queue/shared';

export interface FakeCall {
  argv: string[];
  env: Record<string, string>;
  /** In its command line and its grandchild's: how a test finds them from outside the sandbox. */
  marker: string;
  prompt: string;
}

async function readCall(file: string): Promise<FakeCall | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as FakeCall;
  } catch {
    return null;
  }
}

/** The last call with this prompt in any of the tenant's conversations or pool folders, or null. */
export async function findFakeCall(dataDir: string, tenantId: string, prompt: string): Promise<FakeCall | null> {
  const conversations = conversationsDir(dataDir, tenantId);
  const pool = path.join(path.dirname(conversations), 'pool');
  for (const root of [pool, conversations]) {
    for (const name of await readdir(root).catch(() => [] as string[])) {
      const call = await readCall(path.join(root, name, 'workspace', 'fake-claude-call.json'));
      if (call?.prompt === prompt) return call;
    }
  }
  return null;
}
