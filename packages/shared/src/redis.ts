import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole =
  /** Request/response work (the API, stores): fail fast instead of queueing commands while Redis is away. */
  | 'client'
  /** BullMQ workers and blocking connections: BullMQ requires `maxRetriesPerRequest: null`. */
  | 'worker';

/** One factory for every Redis connection, so their options are decided in one place. */
export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const base: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
  // Reconnect forever, soon: workers ride out a Redis restart, and the sooner they are
  // back the less of a job lock's life the outage eats (a lock that lapses meanwhile
  // lets another worker run the job again: README, Reliability).
  const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 4), 500);
  return new Redis(url, { ...base, retryStrategy, lazyConnect: false, ...extra });
}

/**
 * A Redis URL fit to print or log: the password replaced by `***` (the user name, host,
 * port and database kept), so an operator sees which Redis without leaking its secret.
 */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(not a URL)';
  }
}

/** Resolves when the connection is ready, or rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/**
 * True for the errors ioredis raises when Redis is not there (offline queue off,
 * retries spent, connection closed): the API answers those with 503, not 500.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT') return true;
  return /enableOfflineQueue|Connection is closed|Stream isn't writeable/.test(err.message);
}
