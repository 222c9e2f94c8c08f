/** Per-file test environment: a unique Redis prefix, a temp DATA_DIR, configs built from them. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { loadApiConfig, loadWorkerConfig, type ApiConfig, type WorkerConfig } from '@claude-queue/shared';

/** What globalSetup.ts provides. */
declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisPort: number;
  }
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestEnv {
  redisUrl: string;
  prefix: string;
  dataDir: string;
  apiConfig(overrides?: Record<string, string>): ApiConfig;
  workerConfig(overrides?: Record<string, string>): WorkerConfig;
  /** The variables a worker child process needs to join this test's queue. */
  processEnv(overrides?: Record<string, string>): Record<string, string>;
  cleanup(): Promise<void>;
}

/** A fresh prefix and DATA_DIR on the suite's Redis, or on `options.redisUrl`. */
export async function createTestEnv(options: { redisUrl?: string } = {}): Promise<TestEnv> {
  const redisUrl = options.redisUrl ?? inject('redisUrl');
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-test-data-'));
  const base = {
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ADMIN_TOKEN,
    // Tests poll jobs fast; the per-key request limit has tests of its own.
    TENANT_REQUESTS_PER_MINUTE: '1000000',
    // Every test comes from 127.0.0.1, and many send wrong credentials on purpose; the
    // failed-login limit has tests of its own.
    LOGIN_FAILURES_MAX: '1000000',
  };
  return {
    redisUrl,
    prefix,
    dataDir,
    apiConfig: (o = {}) => loadApiConfig({ ...base, PORT: '0', ...o }),
    workerConfig: (o = {}) => loadWorkerConfig({ ...base, ...o }),
    processEnv: (o = {}) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...base, ...o }),
    async cleanup() {
      const redis = new Redis(redisUrl);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
