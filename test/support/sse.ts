/** A small Server-Sent Events client for tests: fetch, then parse events as they arrive. */

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
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const queue: SseEvent[] = [];
  let ended = false;

  const parseBlocks = () => {
    let sep = buffer.indexOf('\n\n');
    while (sep >= 0) {
      const block = buffer.slice(0, sep);
      buffer = buffer.slice(sep + 2);
      const ev: Partial<SseEvent> & { dataLines: string[] } = { dataLines: [] };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const [field, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (field === 'id') ev.id = value;
        if (field === 'event') ev.event = value;
        if (field === 'data') ev.dataLines.push(value);
      }
      if (ev.event || ev.dataLines.length) {
        queue.push({ id: ev.id, event: ev.event ?? 'message', data: JSON.parse(ev.dataLines.join('\n') || 'null') });
      }
      sep = buffer.indexOf('\n\n');
    }
  };

  return {
    status: res.status,
    headers: res.headers,
    async next(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) {
        if (ended) return null;
        if (Date.now() > deadline) throw new Error('no SSE event in time');
        const read = await Promise.race([
          reader.read(),
          new Promise<null>((r) => setTimeout(() => r(null), Math.max(1, deadline - Date.now()))),
        ]);
        if (read === null) continue;
        if (read.done) ended = true;
        else buffer += decoder.decode(read.value, { stream: true });
        parseBlocks();
      }
      return queue.shift()!;
    },
    close() {
      controller.abort();
    },
  };
}
