/**
 * Where conversations live between turns, so that any worker on any machine can
 * continue one: a snapshot of its folder (the CLI's transcript and config in `home/`,
 * the files the conversation wrote in `workspace/`), saved after each turn that
 * succeeded and restored before a turn that continues it (apps/worker/src/conversations).
 *
 * The store is this small interface. `RedisConversationStore` is the default: one hash
 * per conversation, the snapshot gzip-compressed (snapshot.ts), kept SESSION_TTL_DAYS
 * after its last save. A deployment with large workspaces can put an object store
 * (S3, GCS) behind the same four methods: README, Conversations.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';

export interface StoredSnapshot {
  /** Changes with every save: a worker whose local copy has this version needn't restore it. */
  version: string;
  /** The gzip-compressed snapshot (snapshot.ts). */
  data: Buffer;
}

export interface ConversationStore {
  put(tenantId: string, conversationId: string, data: Buffer, version: string): Promise<void>;
  get(tenantId: string, conversationId: string): Promise<StoredSnapshot | null>;
  /** The version stored, without the data: null when there is none. */
  version(tenantId: string, conversationId: string): Promise<string | null>;
  delete(tenantId: string, conversationId: string): Promise<void>;
}

export class RedisConversationStore implements ConversationStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {}

  async put(tenantId: string, conversationId: string, data: Buffer, version: string): Promise<void> {
    const key = this.keys.conversation(tenantId, conversationId);
    await this.redis.multi().hset(key, { data, version, saved_at: new Date().toISOString() }).expire(key, this.ttlSeconds).exec();
  }

  async get(tenantId: string, conversationId: string): Promise<StoredSnapshot | null> {
    const key = this.keys.conversation(tenantId, conversationId);
    const [data, version] = await this.redis.hmgetBuffer(key, 'data', 'version');
    return data && version ? { data, version: version.toString() } : null;
  }

  async version(tenantId: string, conversationId: string): Promise<string | null> {
    return this.redis.hget(this.keys.conversation(tenantId, conversationId), 'version');
  }

  async delete(tenantId: string, conversationId: string): Promise<void> {
    await this.redis.del(this.keys.conversation(tenantId, conversationId));
  }
}
