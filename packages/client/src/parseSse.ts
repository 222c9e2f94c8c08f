/**
 * A Server-Sent Events parser as the WHATWG HTML spec ("Parsing an event stream")
 * describes it: lines end with CRLF, LF or CR (a CR may end one chunk and its LF begin
 * the next), `:` starts a comment, one space after the colon is dropped, `data` lines
 * join with newlines, and an event without data is not dispatched. Bytes arrive in
 * arbitrary chunks; nothing here assumes an event fits in one.
 */

export interface SseMessage {
  /** This event's own `id` field, if it had one. */
  id: string | null;
  /** `message` when the event named no type. */
  event: string;
  data: string;
  /** The latest `retry` field so far (it outlives its event): the reconnection delay the server asks for, in ms. */
  retryMs: number | null;
}

/** The events of a byte stream, as they complete. An event cut off by the end of the stream is dropped. */
export async function* parseSse(body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let first = true;
  let id: string | null = null;
  let event = '';
  let data: string[] = [];
  let retryMs: number | null = null;

  /** Handles one line; returns the event a blank line completes. */
  const line = (text: string): SseMessage | null => {
    if (text === '') {
      const message = data.length > 0 ? { id, event: event || 'message', data: data.join('\n'), retryMs } : null;
      id = null;
      event = '';
      data = [];
      return message;
    }
    if (text.startsWith(':')) return null;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
    return null;
  };

  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      if (buffer.startsWith('\uFEFF')) buffer = buffer.slice(1);
      first = false;
    }
    let start = 0;
    for (;;) {
      const end = nextLineEnd(buffer, start);
      if (end < 0) break;
      // A CR as the last character may be the first half of a CRLF: wait for the next chunk.
      if (buffer[end] === '\r' && end === buffer.length - 1) break;
      const message = line(buffer.slice(start, end));
      start = end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1);
      if (message) yield message;
    }
    buffer = buffer.slice(start);
  }
  // At the end, a lone CR still ends its line; an event without its blank line is dropped.
  buffer += decoder.decode();
  if (buffer.endsWith('\r')) {
    const message = line(buffer.slice(0, -1));
    if (message) yield message;
  }
}

function nextLineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}
