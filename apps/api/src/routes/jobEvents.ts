/**
 * GET /v1/jobs/{id}/events: a job's events as Server-Sent Events. `status` and `text`
 * events come from the job's event stream with their stream ids (increasing per job),
 * so a client that reconnects with Last-Event-ID gets what it missed; when the job is
 * final, one `result` event with the job object, and the stream closes. The worker
 * that runs the job and this process are different processes: new events are
 * announced over Redis (JobWatcher) and read from the stream here.
 */
import type { Request, RequestHandler } from 'express';
import { FINAL_STATUSES, parseEventId, toView, type JobRecord } from '@claude-queue/shared';
import type { ApiContext } from '../context.js';

/** Comment lines keep proxies and clients from closing an idle stream. */
export const HEARTBEAT_MS = 15_000;

export function streamJobEvents(ctx: ApiContext, findJob: (req: Request) => Promise<JobRecord>): RequestHandler {
  return async (req, res) => {
    const job = await findJob(req);
    let cursor = parseEventId(req.get('last-event-id') ?? (typeof req.query.last_event_id === 'string' ? req.query.last_event_id : undefined)) ?? '0';
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': stream of job events\n\n');

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
    let unwatch: (() => void) | undefined;
    const end = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unwatch?.();
      res.end();
    };
    res.on('close', end);

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
