/**
 * A Server-Sent Events client for tests: fetch, then read events as they arrive, parsed
 * by the client package's parser (the one `cq` and `ClaudeQueueClient.events` use) and
 * their data read as JSON.
 */
import { parseSse, type SseMessage } from '@claude-queue/client';

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

export interface SseStream {
  /** The next event, or null when the stream ended. */
  next(timeoutMs?: number): Promise<SseEvent | null>;
  /** Drops the connection (as a client that goes away). */
  close(): void;
  status: number;
  headers: Headers;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const messages = parseSse(res.body!)[Symbol.asyncIterator]();
  // A read that outlived a timeout is still the next event: the following call takes it.
  let pending: Promise<IteratorResult<SseMessage>> | null = null;

  return {
    status: res.status,
    headers: res.headers,
    async next(timeoutMs = 20_000) {
      pending ??= messages.next();
      let timer: NodeJS.Timeout | undefined;
      const read = await Promise.race([
        pending,
        new Promise<null>((r) => {
          timer = setTimeout(() => r(null), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      if (read === null) throw new Error('no SSE event in time');
      pending = null;
      if (read.done) return null;
      const m = read.value;
      return { id: m.id ?? undefined, event: m.event, data: JSON.parse(m.data || 'null') };
    },
    close() {
      pending?.catch(() => {});
      controller.abort();
    },
  };
}
