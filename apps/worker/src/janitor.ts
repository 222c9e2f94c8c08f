/**
 * Keeps what the service stores bounded: one worker at a time (a Redis lock), every
 * JANITOR_INTERVAL_MS, it
 * - trims each tenant's job index of jobs created more than twice JOB_RETENTION_HOURS
 *   ago (records, events and deliveries expire by their own TTLs; the index keeps ids a
 *   retention longer so a GET of an expired job can say `expired`);
 * - removes conversations (workspace, home and the CLI's transcripts in it) unused for
 *   longer than a conversation can be continued (SESSION_TTL_DAYS) and than jobs are
 *   kept. A run touches its conversation's folder, so a live one is never old.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { conversationsDir, type JobStore, type Keys, type Logger } from '@claude-queue/shared';

export interface JanitorOptions {
  redis: Redis;
  keys: Keys;
  jobs: JobStore;
  dataDir: string;
  retentionSeconds: number;
  sessionTtlSeconds: number;
  intervalMs: number;
  logger: Logger;
}

export interface JanitorReport {
  indexEntries: number;
  workspaces: number;
}

export class Janitor {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: JanitorOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      void this.runIfFirst().catch((err: Error) => this.options.logger.warn({ err: { message: err.message } }, 'janitor failed'));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Runs unless another worker did within the interval. */
  async runIfFirst(): Promise<JanitorReport | null> {
    const { redis, keys, intervalMs } = this.options;
    const mine = await redis.set(keys.janitorLock(), String(process.pid), 'PX', intervalMs, 'NX');
    return mine === 'OK' ? this.run() : null;
  }

  async run(now = Date.now()): Promise<JanitorReport> {
    const { redis, keys, jobs, retentionSeconds, sessionTtlSeconds } = this.options;
    let indexEntries = 0;
    const tenants = await redis.zrange(keys.tenantIndex(), 0, -1);
    for (const tenantId of tenants) indexEntries += await jobs.trimIndex(tenantId, now - 2 * retentionSeconds * 1000);
    const unusedSince = now - Math.max(retentionSeconds, sessionTtlSeconds) * 1000;
    let workspaces = 0;
    for (const tenantId of tenants) workspaces += await this.removeUnusedWorkspaces(tenantId, unusedSince);
    if (indexEntries || workspaces) this.options.logger.info({ index_entries: indexEntries, workspaces }, 'janitor cleaned up');
    return { indexEntries, workspaces };
  }

  private async removeUnusedWorkspaces(tenantId: string, unusedSince: number): Promise<number> {
    const root = conversationsDir(this.options.dataDir, tenantId);
    let names: string[];
    try {
      names = await readdir(root);
    } catch {
      return 0; // no conversation yet
    }
    let removed = 0;
    for (const name of names) {
      const dir = path.join(root, name);
      const info = await stat(dir).catch(() => null);
      if (!info?.isDirectory() || info.mtimeMs >= unusedSince) continue;
      await rm(dir, { recursive: true, force: true });
      removed++;
    }
    return removed;
  }
}
