import { describe, expect, it } from 'vitest';
import { parseSse, type SseMessage } from './parseSse.js';

const encoder = new TextEncoder();

async function parse(chunks: (string | Uint8Array)[]): Promise<SseMessage[]> {
  async function* body() {
    for (const c of chunks) yield typeof c === 'string' ? encoder.encode(c) : c;
  }
  const out: SseMessage[] = [];
  for await (const m of parseSse(body())) out.push(m);
  return out;
}

/** The same bytes cut at every possible place, one byte per chunk. */
function byteByByte(text: string): Uint8Array[] {
  return Array.from(encoder.encode(text), (b) => Uint8Array.of(b));
}

const API_LIKE =
  ': stream of job events\n\n' +
  'id: 1700000000000-0\nevent: status\ndata: {"status":"queued"}\n\n' +
  'id: 1700000000001-0\nevent: text\ndata: {"text":"héllo ✓ 🙂"}\n\n' +
  ': heartbeat\n\n' +
  'event: result\ndata: {"id":"j","status":"succeeded"}\n\n';

describe('parseSse', () => {
  it("parses the API's stream: ids, event types, comments skipped", async () => {
    const events = await parse([API_LIKE]);
    expect(events).toEqual([
      { id: '1700000000000-0', event: 'status', data: '{"status":"queued"}', retryMs: null },
      { id: '1700000000001-0', event: 'text', data: '{"text":"héllo ✓ 🙂"}', retryMs: null },
      { id: null, event: 'result', data: '{"id":"j","status":"succeeded"}', retryMs: null },
    ]);
  });

  it('gives the same events whatever the chunking, multi-byte characters split included', async () => {
    expect(await parse(byteByByte(API_LIKE))).toEqual(await parse([API_LIKE]));
  });

  it('takes CRLF, CR and LF line ends, a CRLF split across chunks included', async () => {
    const crlf = await parse(['id: 1\r', '\nevent: text\r\ndata: a\r', '\n\r', '\n']);
    const cr = await parse(['id: 1\revent: text\rdata: a\r\r']);
    expect(crlf).toEqual([{ id: '1', event: 'text', data: 'a', retryMs: null }]);
    expect(cr).toEqual(crlf);
  });

  it('joins data lines with newlines, keeps colons in values and drops only one leading space', async () => {
    const [e] = await parse(['data: first\ndata:  second: with colon\ndata\n\n']);
    expect(e).toEqual({ id: null, event: 'message', data: 'first\n second: with colon\n', retryMs: null });
  });

  it('skips a leading BOM, ignores events without data and unknown fields, keeps the last valid retry', async () => {
    const events = await parse(['\uFEFFretry: 2500\nevent: nothing\n\nfoo: bar\nretry: x\ndata: {}\n\n']);
    expect(events).toEqual([{ id: null, event: 'message', data: '{}', retryMs: 2500 }]);
  });

  it('drops an event the stream cut off before its blank line', async () => {
    expect(await parse(['data: whole\n\ndata: cut off\n'])).toEqual([{ id: null, event: 'message', data: 'whole', retryMs: null }]);
  });

  it('ends an event on a blank line that is a lone CR at the very end', async () => {
    expect(await parse(['data: last\n\r'])).toEqual([{ id: null, event: 'message', data: 'last', retryMs: null }]);
  });
});
