/**
 * A job's event stream that survives dropped connections: each connection resumes
 * with `Last-Event-ID` after the last event seen (the API replays from its per-job
 * stream), until the `result` event ends it. Gives up after `maxReconnects` failed
 * connections in a row; a connection that delivered an event resets the count, so a
 * long answer over a flaky network still arrives whole. A stream the server ended
 * cleanly after a while (the API ends each at STREAM_MAX_SECONDS; proxies have their
 * timeouts) is no failure: it is opened again after the server's `retry`, however long
 * the job waits; one ended at once is. A 429 (the tenant's streams at their cap) waits
 * for its `Retry-After`.
 */
import { ClaudeQueueError, isTransient, retryDelayOf } from './claudeQueueError.js';
import { parseSse, type SseMessage } from './parseSse.js';
import { sleep } from './sleep.js';
import type { JobEvent } from './types.js';

export interface EventsOptions {
  /** Resume after this event id (a `status` or `text` event's `id`) (default: from the job's first event). */
  lastEventId?: string;
  /** Ends the iteration: the loop throws the signal's reason. */
  signal?: AbortSignal;
  /** Failed connections in a row before giving up with `stream_failed` (default: 5). */
  maxReconnects?: number;
  /** Wait before reconnecting, times the failures in a row (default: 1000, or the server's `retry`). */
  reconnectDelayMs?: number;
  /**
   * A connection silent this long is taken for dead and opened again. The API sends a
   * heartbeat every 15 s, so silence means a half-open connection (default: 45000).
   */
  idleTimeoutMs?: number;
  /** A stream the server ended after at least this long ended at its lifetime, not in a failure (default: 5000). */
  livedMs?: number;
}

/** Opens one connection: a 2xx Response, or throws a ClaudeQueueError. */
export type OpenEventStream = (lastEventId: string | null, signal: AbortSignal) => Promise<Response>;

class IdleTimeout extends Error {
  override readonly name = 'IdleTimeout';
}

export async function* followJobEvents(open: OpenEventStream, options: EventsOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
  const { signal, maxReconnects = 5, idleTimeoutMs = 45_000, livedMs = 5000 } = options;
  let delayMs = options.reconnectDelayMs ?? 1000;
  let cursor = options.lastEventId ?? null;
  let failuresInRow = 0;

  for (;;) {
    signal?.throwIfAborted();
    const connection = new AbortController();
    const onAbort = () => connection.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const stopIdle = () => clearTimeout(idle);
    const startIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(new IdleTimeout(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
    };
    let failure: unknown;
    let endedCleanly = false;
    const openedAt = Date.now();
    try {
      startIdle();
      const res = await open(cursor, connection.signal);
      if (!res.body) throw new ClaudeQueueError({ status: res.status, code: 'unexpected_response', detail: 'the event stream has no body' });
      for await (const message of parseSse(touching(res.body, startIdle))) {
        if (message.retryMs !== null) delayMs = message.retryMs;
        const event = toJobEvent(message);
        if (!event) continue;
        failuresInRow = 0;
        if (event.id !== null) cursor = event.id;
        // The consumer may take its time with an event: that is not the connection's silence.
        stopIdle();
        yield event;
        if (event.event === 'result') return;
        startIdle();
      }
      // The server closed it before the result: after a while, a stream's lifetime (not a
      // failure); at once, something wrong (counted, so a broken server ends the loop).
      endedCleanly = Date.now() - openedAt >= livedMs;
      failure = new ClaudeQueueError({ status: 0, code: 'network_error', detail: 'the event stream ended before the result' });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // 401, 404 and the like won't change by asking again.
      if (err instanceof ClaudeQueueError && !isTransient(err)) throw err;
      failure = err;
    } finally {
      stopIdle();
      signal?.removeEventListener('abort', onAbort);
      connection.abort();
    }
    if (endedCleanly) {
      await sleep(delayMs, signal);
      continue;
    }
    if (++failuresInRow > maxReconnects) {
      throw new ClaudeQueueError({
        status: 0,
        code: 'stream_failed',
        detail: `the event stream failed ${failuresInRow} times in a row (last: ${(failure as Error)?.message ?? String(failure)})`,
        cause: failure,
      });
    }
    await sleep(retryDelayOf(failure, delayMs * failuresInRow), signal);
  }
}

/** The body's chunks, calling `onChunk` as each arrives. */
async function* touching(body: ReadableStream<Uint8Array>, onChunk: () => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    onChunk();
    yield chunk;
  }
}

/** The API's three event types; others (a newer server's) are skipped. */
function toJobEvent(message: SseMessage): JobEvent | null {
  if (message.event !== 'status' && message.event !== 'text' && message.event !== 'result') return null;
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch (err) {
    throw new ClaudeQueueError({ status: 200, code: 'unexpected_response', detail: `a ${message.event} event's data is not JSON`, cause: err });
  }
  if (message.event === 'result') return { id: null, event: 'result', data: data as Extract<JobEvent, { event: 'result' }>['data'] };
  if (message.id === null) {
    throw new ClaudeQueueError({ status: 200, code: 'unexpected_response', detail: `a ${message.event} event has no id` });
  }
  return { id: message.id, event: message.event, data } as JobEvent;
}
