/**
 * GET /v1/jobs/{id}/events: a job's events as Server-Sent Events. `status` and `text`
 * events come from the job's event stream with their stream ids (increasing per job),
 * so a client that reconnects with Last-Event-ID gets what it missed; when the job is
 * final, one `result` event with the job object, and the stream closes. The worker
 * that runs the job and this process are different processes: new events are
 * announced over Redis (JobWatcher) and read from the stream here.
 *
 * Each stream holds one of its tenant's live-request leases (liveRequests.ts) and lasts
 * at most STREAM_MAX_SECONDS: then it ends with a reconnect hint, and the client
 * resumes where it was with Last-Event-ID.
 */
import type { Request, RequestHandler } from 'express';
import { FINAL_STATUSES, parseEventId, toView, type JobRecord } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';

/** Comment lines keep proxies and clients from closing an idle stream. */
export const HEARTBEAT_MS = 15_000;

/** The `retry` hint: how long a client waits before it reconnects, after STREAM_MAX_SECONDS or a drop. */
export const RECONNECT_HINT_MS = 1000;

/**
 * How long this stream may last: STREAM_MAX_SECONDS less up to a tenth at random, so the
 * streams an API restart reconnected all at once don't all end, and reconnect, at once.
 */
function streamLifetimeMs(maxSeconds: number): number {
  return Math.round(maxSeconds * 1000 * (1 - Math.random() / 10));
}

export function streamJobEvents(ctx: ApiContext, findJob: (req: Request) => Promise<JobRecord>): RequestHandler {
  return async (req, res) => {
    const job = await findJob(req);
    let cursor = parseEventId(req.get('last-event-id') ?? (typeof req.query.last_event_id === 'string' ? req.query.last_event_id : undefined)) ?? '0';
    // Before anything is written: over MAX_STREAMS_PER_TENANT this is a 429, not a stream.
    const lease = await ctx.liveRequests.acquire(job.tenant_id);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The hint first: a client reads it with the events that follow (EventSource keeps it).
    res.write(`: stream of job events\nretry: ${RECONNECT_HINT_MS}\n\n`);

    let closed = false;
    let pumping = false;
    let again = false;
    const send = (event: string, data: unknown, id?: string) => {
      res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    // The heartbeat also looks for events: an announcement lost while the subscription
    // reconnected (a Redis restart) delays the stream by one beat, not forever.
    const heartbeat = setInterval(() => {
      res.write(': heartbeat\n\n');
      void pump();
    }, HEARTBEAT_MS);
    // The stream's lifetime is up: end it cleanly; the client resumes with Last-Event-ID.
    const lifetime = setTimeout(() => {
      res.write(`: this stream has lasted STREAM_MAX_SECONDS; reconnect with Last-Event-ID\nretry: ${RECONNECT_HINT_MS}\n\n`);
      end();
    }, streamLifetimeMs(ctx.config.STREAM_MAX_SECONDS));
    let unwatch: (() => void) | undefined;
    const end = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearTimeout(lifetime);
      unwatch?.();
      lease.release();
      res.end();
    };
    res.on('close', end);
    // The client may have gone while the lease was being taken: its close has been and gone.
    if (req.socket.destroyed) end();

    /** Sends every event after the cursor; once the job is final, the result, and ends. */
    const pump = async (): Promise<void> => {
      if (pumping) {
        again = true;
        return;
      }
      pumping = true;
      try {
        do {
          again = false;
          // Read the record first: a job final now has all its events in the stream
          // (text is appended before the final status, the status with the change).
          const now = await ctx.jobs.get(job.id);
          for (let batch = await ctx.events.read(job.id, cursor); batch.length > 0 && !closed; batch = await ctx.events.read(job.id, cursor)) {
            for (const e of batch) {
              send(e.type, e.data, e.id);
              cursor = e.id;
            }
          }
          if (!now || FINAL_STATUSES.includes(now.status)) {
            if (now && !closed) send('result', toView(now));
            return end();
          }
        } while (again && !closed);
      } catch (err) {
        req.log.warn({ job_id: job.id, err: { message: (err as Error).message } }, 'event stream failed');
        end();
      } finally {
        pumping = false;
      }
    };

    unwatch = await ctx.watcher.watch(job.id, () => void pump());
    // The client may have gone while the subscription was getting ready.
    if (closed) return unwatch();
    await pump();
  };
}
