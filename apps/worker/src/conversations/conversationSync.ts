/**
 * A conversation follows its caller to any worker: after a turn that succeeded its folder
 * (`workspace/` and `home/`, the CLI's transcript inside) is saved to the conversation
 * store, and before a turn that continues it the folder is restored from there, unless
 * this worker's copy is already that version. DATA_DIR is a cache: a worker whose
 * DATA_DIR was wiped, or another machine's, restores what it lacks.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packFolder, unpackFolder, type ConversationPaths, type ConversationStore } from '@claude-queue/shared';

/** In a conversation's root, beside its two folders (a run sees neither it nor the root). */
const VERSION_FILE = '.snapshot-version';
/** What a snapshot holds of the root. */
const SAVED = ['workspace', 'home'] as const;

export interface SavedConversation {
  /** The files' bytes (what SESSION_MAX_BYTES bounds) and the compressed snapshot's. */
  bytes: number;
  storedBytes: number;
}

export class ConversationSync {
  constructor(
    private readonly store: ConversationStore,
    private readonly maxBytes: number,
  ) {}

  /**
   * Before a turn that continues the conversation: the local copy brought to the stored
   * version (unless it is that already), then marked as changing, so that a turn that
   * fails or is not saved leaves no copy that claims to be the stored one. True when it
   * was restored from the store; false when the local copy was current, or the store has
   * none (a conversation saved before the store existed: the local copy is all there is).
   */
  async restore(tenantId: string, conversationId: string, paths: ConversationPaths): Promise<boolean> {
    const versionFile = path.join(paths.root, VERSION_FILE);
    const stored = await this.store.version(tenantId, conversationId);
    if (!stored) return false;
    const local = await readFile(versionFile, 'utf8').catch(() => null);
    await rm(versionFile, { force: true });
    if (local === stored) return false;
    const snapshot = await this.store.get(tenantId, conversationId);
    if (!snapshot) return false;
    for (const name of SAVED) await rm(path.join(paths.root, name), { recursive: true, force: true });
    await unpackFolder(snapshot.data, paths.root);
    return true;
  }

  /**
   * Before a fork's turn: a new conversation's folder, a copy of `from` as the store has
   * it (or as this worker has it, for a conversation saved before the store existed).
   */
  async branch(tenantId: string, from: { id: string; paths: ConversationPaths }, to: ConversationPaths): Promise<void> {
    for (const name of SAVED) await rm(path.join(to.root, name), { recursive: true, force: true });
    const snapshot = await this.store.get(tenantId, from.id);
    if (snapshot) return unpackFolder(snapshot.data, to.root);
    for (const name of SAVED) await cp(path.join(from.paths.root, name), path.join(to.root, name), { recursive: true }).catch(() => undefined);
  }

  /** After a turn that succeeded. Throws SnapshotTooLargeError past SESSION_MAX_BYTES (nothing saved). */
  async save(tenantId: string, conversationId: string, paths: ConversationPaths): Promise<SavedConversation> {
    const snapshot = await packFolder(paths.root, this.maxBytes, SAVED);
    const version = randomUUID();
    await this.store.put(tenantId, conversationId, snapshot.data, version);
    await mkdir(paths.root, { recursive: true });
    await writeFile(path.join(paths.root, VERSION_FILE), version);
    return { bytes: snapshot.bytes, storedBytes: snapshot.data.length };
  }
}
