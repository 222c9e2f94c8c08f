/**
 * One account per process of Redis being unreachable. Every connection of a process
 * fails at once when Redis goes away, and each retries every 50–500 ms (redis.ts), and
 * BullMQ re-emits each failure from every Queue and Worker over it: logged as they come,
 * a few seconds' outage made hundreds of lines. So connection errors come here
 * (createRedis routes them), and the log says it once:
 * - the first error: `redis unreachable`, with the Redis (password masked) and the error;
 * - then one `redis still unreachable` per `summaryIntervalMs` with the errors counted;
 * - the first connection ready again: `redis reachable again`, with how long and how many.
 */
import type { Logger } from 'pino';

/** One summary line per this while Redis stays away (default of RedisOutageLogOptions). */
export const OUTAGE_SUMMARY_INTERVAL_MS = 30_000;

export interface RedisOutageLogOptions {
  /** The Redis, as printed: describeRedisUrl's form, never with its password. */
  redis: string;
  /** How often a continuing outage is summarized (default: OUTAGE_SUMMARY_INTERVAL_MS). */
  summaryIntervalMs?: number;
}

/** An error as a log field: its kind, code and message, not a stack (ioredis's say nothing here). */
function errorFields(err: unknown): { type: string; code?: string; message: string } {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { type: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message };
}

export class RedisOutageLog {
  private downSince: number | null = null;
  private errors = 0;
  private errorsSinceSummary = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;

  constructor(
    private readonly logger: Logger,
    private readonly options: RedisOutageLogOptions,
  ) {
    this.intervalMs = options.summaryIntervalMs ?? OUTAGE_SUMMARY_INTERVAL_MS;
  }

  /** A connection failed (refused, reset, timed out, auth…): said once per outage, then counted. */
  connectionError(err: unknown): void {
    this.errors++;
    this.errorsSinceSummary++;
    if (this.downSince !== null) return;
    this.downSince = Date.now();
    this.errorsSinceSummary = 0;
    this.logger.warn({ redis: this.options.redis, err: errorFields(err) }, 'redis unreachable; reconnecting');
    this.timer = setInterval(() => this.summarize(), this.intervalMs);
    this.timer.unref();
  }

  /** A connection is ready: if Redis had been away, the outage is over. */
  connected(): void {
    if (this.downSince === null) return;
    this.logger.info({ redis: this.options.redis, down_ms: Date.now() - this.downSince, errors: this.errors }, 'redis reachable again');
    this.reset();
  }

  /** Whether Redis is away now, as far as this process's connections know. */
  get down(): boolean {
    return this.downSince !== null;
  }

  /**
   * A command failed: while Redis is away that is the outage (counted, true: said
   * already); otherwise false, and the caller reports it.
   */
  commandFailed(): boolean {
    if (this.downSince === null) return false;
    this.errors++;
    this.errorsSinceSummary++;
    return true;
  }

  /** Stops the summary timer (the process is closing its connections). */
  close(): void {
    this.reset();
  }

  private summarize(): void {
    if (this.downSince === null) return;
    this.logger.warn(
      { redis: this.options.redis, down_ms: Date.now() - this.downSince, errors: this.errorsSinceSummary, interval_ms: this.intervalMs },
      'redis still unreachable; reconnecting',
    );
    this.errorsSinceSummary = 0;
  }

  private reset(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.downSince = null;
    this.errors = 0;
    this.errorsSinceSummary = 0;
  }
}

/**
 * Listens to a BullMQ queue's 'error' events: each is logged as `message`, except while
 * Redis is away, when it is the outage the log has said once already (BullMQ re-emits
 * every command that failed meanwhile, from every queue).
 */
export function logQueueErrors(queue: { on(event: 'error', listener: (err: Error) => void): unknown }, logger: Logger, message: string, outageLog?: RedisOutageLog): void {
  queue.on('error', (err) => {
    if (outageLog?.commandFailed()) return;
    logger.warn({ err: { message: err.message } }, message);
  });
}
