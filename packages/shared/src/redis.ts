import { Redis, type RedisOptions } from 'ioredis';
import type { RedisOutageLog } from './redisOutageLog.js';

export type RedisRole =
  /** Request/response work (the API, stores): fail fast instead of queueing commands while Redis is away. */
  | 'client'
  /** BullMQ workers and blocking connections: BullMQ requires `maxRetriesPerRequest: null`. */
  | 'worker';

/**
 * A connection whose errors go to the process's RedisOutageLog instead of its 'error'
 * listeners. ioredis emits 'error' only for the connection itself (a command's failure
 * rejects that command), and BullMQ forwards each one from every Queue and Worker built
 * on the connection: one outage, N lines per retry. Its copies (`duplicate()`, BullMQ's
 * blocking connections) report the same way.
 */
class ReportingRedis extends Redis {
  private readonly outageLog: RedisOutageLog | undefined;

  /** `url` undefined: everything is in `options` (a duplicate's). */
  constructor(outageLog: RedisOutageLog | undefined, url: string | undefined, options: RedisOptions) {
    // ioredis skips an undefined argument.
    super(url as string, options);
    this.outageLog = outageLog;
    // ioredis prints "[ioredis] Unhandled error event" (raw, with a stack) for an error
    // no one listens to, and checks for listeners before it emits: so one is always there.
    // It is never called: emit() below takes every 'error'.
    this.on('error', () => undefined);
    this.on('ready', () => this.outageLog?.connected());
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'error') return super.emit(event, ...args);
    // Without an outage log (a component's extra connection), the process's own
    // connections to the same Redis see the same outage and report it.
    this.outageLog?.connectionError(args[0]);
    return true;
  }

  override duplicate(override?: Partial<RedisOptions>): Redis {
    return new ReportingRedis(this.outageLog, undefined, { ...this.options, ...override });
  }
}

/**
 * One factory for every Redis connection, so their options are decided in one place.
 * `outageLog` is where the connection's errors are reported (one per process, shared by
 * its connections); commands still fail or wait as `role` says.
 */
export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}, outageLog?: RedisOutageLog): Redis {
  const base: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
  // Reconnect forever, soon: workers ride out a Redis restart, and the sooner they are
  // back the less of a job lock's life the outage eats (a lock that lapses meanwhile
  // lets another worker run the job again: README, Reliability).
  const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 4), 500);
  return new ReportingRedis(outageLog, url, { ...base, retryStrategy, lazyConnect: false, ...extra });
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
