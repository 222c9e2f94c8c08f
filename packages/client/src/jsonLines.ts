/**
 * JSON lines both ways, as streams: the lines of a body read as they arrive (a batch's
 * results can be far larger than is wise to hold), and a batch's requests written as
 * they are drawn from an iterable (a file of 10,000 prompts is never one string).
 */

/**
 * The lines of a byte (or text) stream as each completes: split at LF, a CR before it
 * dropped, UTF-8 decoded across chunk boundaries. Blank lines are kept, so a caller can
 * count lines as a file's reader would; a last line needs no newline.
 */
export async function* readLines(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      yield withoutCr(pending.slice(start, nl));
      start = nl + 1;
    }
    pending = pending.slice(start);
  }
  pending += decoder.decode();
  if (pending !== '') yield withoutCr(pending);
}

function withoutCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Bytes gathered before a chunk goes to the socket: one write per item would be slow. */
const CHUNK_CHARS = 64 * 1024;

/**
 * A request body drawn from `items` as the socket takes it: `head`, then each item as
 * JSON with `separator` between, then `tail`. If the iterable throws, the body errors
 * (the request is abandoned, nothing half-sent is accepted) and `failure()` returns
 * what it threw, so the caller reports that rather than fetch's "fetch failed".
 */
export function streamJsonItems(
  items: Iterable<unknown> | AsyncIterable<unknown>,
  framing: { head: string; separator: string; tail: string },
): { body: ReadableStream<Uint8Array>; failure: () => unknown } {
  const encoder = new TextEncoder();
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<unknown>)[Symbol.iterator]();
  let failed: unknown;
  let started = false;
  let sentItem = false;
  let done = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let text = started ? '' : framing.head;
      started = true;
      try {
        while (!done && text.length < CHUNK_CHARS) {
          const next = await iterator.next();
          if (next.done) {
            done = true;
            text += framing.tail;
            break;
          }
          text += (sentItem ? framing.separator : '') + JSON.stringify(next.value);
          sentItem = true;
        }
      } catch (err) {
        failed = err;
        controller.error(err);
        return;
      }
      if (text) controller.enqueue(encoder.encode(text));
      if (done) controller.close();
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  return { body, failure: () => failed };
}
