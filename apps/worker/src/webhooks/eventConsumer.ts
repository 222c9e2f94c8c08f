/**
 * Reads the service-wide event stream (keys.events(): job.started and final events,
 * batch.ended and tenant.budget_reached, appended by a move of the job's life (JobLife) in the same script as
 * the change) with a consumer
 * group, so every event is handed on by exactly one worker process, and one that dies
 * holding events loses none: each entry is acknowledged only after `handle` has run
 * (enqueued its delivery, whose BullMQ id is the delivery id, so doing it twice is
 * harmless), and entries left pending longer than `claimIdleMs` are taken over by
 * whichever consumer looks next (XAUTOCLAIM).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { fieldsOf, JOB_SERVICE_EVENT_TYPES, type JobServiceEventType, type Keys, type Logger, type ServiceEvent } from '@claude-queue/shared';

/** The consumer group of webhook delivery on the events stream. */
export const WEBHOOK_CONSUMER_GROUP = 'webhooks';

export interface EventConsumerOptions {
  /** A connection of its own: XREADGROUP BLOCK holds it while it waits. */
  reader: Redis;
  /** For XGROUP, XACK and XAUTOCLAIM. */
  redis: Redis;
  keys: Keys;
  /** Hands one event on; throws only when it could not (Redis away), so the entry stays pending. */
  handle(event: ServiceEvent, occurredAtMs: number): Promise<void>;
  /** WEBHOOK_CLAIM_IDLE_MS: how long an entry read by a consumer that went away stays pending. */
  claimIdleMs: number;
  logger: Logger;
  /** How long one XREADGROUP waits for new entries (default: 5 s). */
  blockMs?: number;
}

type Entry = [id: string, fields: string[] | null];

export class EventConsumer {
  /** Unique per process start: a restarted worker's old entries are claimed like anyone's. */
  readonly name = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly options: EventConsumerOptions) {}

  async start(): Promise<void> {
    await this.ensureGroup();
    this.loop = this.run();
  }

  /** Stops reading; an event being handed on is finished first. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Ends the blocked XREADGROUP at once instead of after up to `blockMs`.
    this.options.reader.disconnect();
    await this.loop;
  }

  private async ensureGroup(): Promise<void> {
    const { redis, keys } = this.options;
    try {
      // From the stream's start, not '$': events appended before any worker made the
      // group (the API started first) are delivered too. MKSTREAM: no event yet.
      await redis.xgroup('CREATE', keys.events(), WEBHOOK_CONSUMER_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }

  private async run(): Promise<void> {
    const { reader, keys, logger } = this.options;
    const claimEveryMs = Math.max(1000, this.options.claimIdleMs / 2);
    // Waits no longer than the next look for stale entries is due.
    const blockMs = Math.min(this.options.blockMs ?? 5000, claimEveryMs);
    let claimedAt = 0;
    while (!this.stopping) {
      try {
        if (Date.now() - claimedAt >= claimEveryMs) {
          claimedAt = Date.now();
          await this.claimStale();
        }
        const read = (await reader.xreadgroup(
          'GROUP', WEBHOOK_CONSUMER_GROUP, this.name,
          'COUNT', 100, 'BLOCK', blockMs,
          'STREAMS', keys.events(), '>',
        )) as Array<[string, Entry[]]> | null;
        for (const [, entries] of read ?? []) await this.process(entries);
      } catch (err) {
        if (this.stopping) break;
        const message = (err as Error).message;
        // The stream (and its group) went away, e.g. flushed: make them again.
        if (/NOGROUP/.test(message)) await this.ensureGroup().catch(() => undefined);
        logger.warn({ err: { message } }, 'webhook event consumer: retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Takes over entries another consumer read and left pending past `claimIdleMs`. */
  private async claimStale(): Promise<void> {
    const { redis, keys, claimIdleMs } = this.options;
    let cursor = '0-0';
    do {
      const [next, entries] = (await redis.xautoclaim(keys.events(), WEBHOOK_CONSUMER_GROUP, this.name, claimIdleMs, cursor, 'COUNT', 100)) as [
        string,
        Entry[],
      ];
      if (entries.length) this.options.logger.info({ count: entries.length }, 'webhook events taken over from a consumer that went away');
      await this.process(entries);
      cursor = next;
    } while (cursor !== '0-0' && !this.stopping);
  }

  private async process(entries: Entry[]): Promise<void> {
    const { redis, keys } = this.options;
    for (const [id, fields] of entries) {
      // A trimmed entry comes back without fields: nothing to hand on.
      const event = fields ? parseEvent(id, fields) : null;
      if (event) await this.options.handle(event, Number(id.split('-')[0]));
      await redis.xack(keys.events(), WEBHOOK_CONSUMER_GROUP, id);
    }
  }
}

/** An entry as a move of the job's life (JobLife) writes it; null for anything else, which is acknowledged and dropped. */
function parseEvent(id: string, fields: string[]): ServiceEvent | null {
  const f = fieldsOf(fields);
  if (!f.tenant_id) return null;
  const attempt = Number(f.attempt ?? 0);
  if (f.type === 'tenant.budget_reached') return f.period ? { id, type: f.type, tenant_id: f.tenant_id, period: f.period } : null;
  if (f.type === 'batch.ended') return f.batch_id ? { id, type: f.type, batch_id: f.batch_id, tenant_id: f.tenant_id, attempt: attempt || 1 } : null;
  const type = f.type as JobServiceEventType;
  if (!JOB_SERVICE_EVENT_TYPES.includes(type) || !f.job_id) return null;
  return { id, type, job_id: f.job_id, tenant_id: f.tenant_id, attempt };
}
