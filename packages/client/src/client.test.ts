/**
 * The client against a small HTTP server on loopback that answers what the real API
 * won't on cue: problem+json of every kind, a proxy's HTML page, 503s, streams that
 * drop or go silent. test/e2e/client.test.ts runs it against the real stack.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClaudeQueueClient } from './client.js';
import { ClaudeQueueError } from './claudeQueueError.js';
import type { Job, JobEvent } from './types.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let handler: Handler;
let requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];

beforeEach(async () => {
  requests = [];
  handler = (_req, res) => res.writeHead(500).end();
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = (extra: Partial<ConstructorParameters<typeof ClaudeQueueClient>[0]> = {}) => new ClaudeQueueClient({ baseUrl, apiKey: 'cq_test', ...extra });

function job(status: Job['status'], id = '0190a3b4-0000-7000-8000-000000000001'): Job {
  return {
    id,
    status,
    created_at: '2026-11-25T00:00:00.000Z',
    started_at: null,
    finished_at: null,
    attempts: 0,
    next_attempt_at: null,
    attempt_history: [],
    request: { prompt: 'p' },
    result: status === 'succeeded' ? { text: 'done', session_id: 's', num_turns: 1, duration_ms: 1, total_cost_usd: 0, usage: null, structured_output: null } : null,
    error: null,
    metadata: null,
  };
}

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

async function caught(promise: Promise<unknown>): Promise<ClaudeQueueError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClaudeQueueError);
  return err as ClaudeQueueError;
}

describe('requests', () => {
  it('sends the key, the JSON body, Idempotency-Key and Prefer, under a base path', async () => {
    handler = (_req, res) => sendJson(res, 202, job('queued'));
    const c = new ClaudeQueueClient({ baseUrl: `${baseUrl}/queue/`, apiKey: 'cq_secret' });
    await c.submit({ prompt: 'hi', model: 'sonnet' }, { idempotencyKey: 'k-1', wait: 30 });
    expect(requests[0]).toMatchObject({
      method: 'POST',
      url: '/queue/v1/jobs',
      body: '{"prompt":"hi","model":"sonnet"}',
      headers: { authorization: 'Bearer cq_secret', 'content-type': 'application/json', 'idempotency-key': 'k-1', prefer: 'wait=30' },
    });
    await c.list({ status: 'failed', limit: 5, cursor: 'abc' });
    await c.cancel('a/b');
    expect(requests.slice(1).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /queue/v1/jobs?status=failed&limit=5&cursor=abc', 'POST /queue/v1/jobs/a%2Fb/cancel']);
  });

  it('turns problem+json into a ClaudeQueueError with status, code, detail, field and Retry-After', async () => {
    handler = (_req, res) =>
      res.writeHead(400, { 'content-type': 'application/problem+json', 'retry-after': '7' }).end(
        JSON.stringify({
          type: 'https://claude-queue.dev/problems/invalid_request',
          title: 'Bad Request',
          status: 400,
          detail: 'max_turns: too small',
          code: 'invalid_request',
          field: 'max_turns',
          errors: [{ field: 'max_turns', message: 'too small' }],
        }),
      );
    const err = await caught(client().submit({ prompt: 'x', max_turns: 0 }));
    expect(err).toMatchObject({ status: 400, code: 'invalid_request', detail: 'max_turns: too small', field: 'max_turns', retryAfterSeconds: 7 });
    expect(err.errors).toEqual([{ field: 'max_turns', message: 'too small' }]);
  });

  it("names an answer that isn't problem+json unexpected_response, and no answer network_error", async () => {
    handler = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
    expect(await caught(client().get('x'))).toMatchObject({ status: 502, code: 'unexpected_response' });
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((resolve) => gone.close(resolve));
    const closed = new ClaudeQueueClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'cq_never_in_messages' });
    const err = await caught(closed.get('x'));
    expect(err).toMatchObject({ status: 0, code: 'network_error' });
    expect(err.detail).toContain('ECONNREFUSED');
    expect(err.message).not.toContain('cq_never_in_messages');
  });

  it("throws the signal's reason when aborted, not a ClaudeQueueError", async () => {
    handler = () => undefined; // never answers
    const controller = new AbortController();
    const pending = client().get('x', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('listAll follows next_cursor to the last page', async () => {
    const pages: Record<string, { data: Job[]; next_cursor: string | null }> = {
      '': { data: [job('succeeded', 'a'), job('failed', 'b')], next_cursor: 'b' },
      b: { data: [job('queued', 'c')], next_cursor: 'c' },
      c: { data: [], next_cursor: null },
    };
    handler = (req, res) => sendJson(res, 200, pages[new URL(req.url!, baseUrl).searchParams.get('cursor') ?? '']);
    const ids: string[] = [];
    for await (const j of client().listAll({ limit: 2 })) ids.push(j.id);
    expect(ids).toEqual(['a', 'b', 'c']);
    expect(requests.map((r) => r.url)).toEqual(['/v1/jobs?limit=2', '/v1/jobs?limit=2&cursor=b', '/v1/jobs?limit=2&cursor=c']);
  });
});

describe('wait', () => {
  it('long-polls with Prefer: wait=60 and rides out 503s until the job is final', async () => {
    let n = 0;
    handler = (_req, res) => {
      n++;
      if (n <= 2) sendJson(res, 503, { code: 'unavailable', detail: 'away' }, { 'retry-after': '1' });
      else sendJson(res, 200, job(n === 3 ? 'running' : 'succeeded'));
    };
    const done = await client().wait('j');
    expect(done.status).toBe('succeeded');
    expect(requests.map((r) => r.headers.prefer)).toEqual(['wait=60', 'wait=60', 'wait=60', 'wait=60']);
  });

  it("doesn't spin when the server answers at once (a proxy that ignores Prefer), and returns the job as it stands at the deadline", async () => {
    handler = (_req, res) => sendJson(res, 200, job('queued'));
    const started = Date.now();
    const stands = await client().wait('j', { timeoutMs: 2500 });
    expect(stands.status).toBe('queued');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
    // About one request a second, not thousands.
    expect(requests.length).toBeLessThanOrEqual(4);
    expect(requests[0]!.headers.prefer).toBe('wait=3');
  });

  it('throws an error a retry would not fix at once', async () => {
    handler = (_req, res) => sendJson(res, 404, { code: 'not_found', detail: 'job not found' });
    expect(await caught(client().wait('j'))).toMatchObject({ status: 404, code: 'not_found' });
    expect(requests).toHaveLength(1);
  });
});

describe('events', () => {
  const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });
  const status = (id: string, s: string) => `id: ${id}\nevent: status\ndata: {"status":"${s}"}\n\n`;
  const text = (id: string, t: string) => `id: ${id}\nevent: text\ndata: ${JSON.stringify({ text: t })}\n\n`;
  const result = `event: result\ndata: ${JSON.stringify(job('succeeded'))}\n\n`;

  async function collect(iterable: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
    const out: JobEvent[] = [];
    for await (const e of iterable) out.push(e);
    return out;
  }

  it('reconnects with Last-Event-ID when the connection drops before the result', async () => {
    const log = [status('1-0', 'queued'), status('2-0', 'running'), text('3-0', 'hel'), text('4-0', 'lo'), status('5-0', 'succeeded')];
    let connection = 0;
    handler = (req, res) => {
      connection++;
      const after = req.headers['last-event-id'];
      const from = after ? log.findIndex((e) => e.startsWith(`id: ${after}\n`)) + 1 : 0;
      sse(res);
      if (connection === 1) {
        res.write(log.slice(0, 3).join(''));
        setTimeout(() => res.destroy(), 20); // dropped mid-answer
      } else {
        res.end(log.slice(from).join('') + result);
      }
    };
    const events = await collect(client().events('j', { reconnectDelayMs: 10 }));
    expect(requests.map((r) => r.headers['last-event-id'])).toEqual([undefined, '3-0']);
    expect(events.map((e) => e.id)).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0', null]);
    expect(events.filter((e) => e.event === 'text').map((e) => e.data.text).join('')).toBe('hello');
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { status: 'succeeded' } });
    expect(requests[0]!.headers.accept).toBe('text/event-stream');
  });

  it('starts after lastEventId when given one', async () => {
    handler = (_req, res) => sse(res).end(text('4-0', 'lo') + result);
    await collect(client().events('j', { lastEventId: '3-0' }));
    expect(requests[0]!.headers['last-event-id']).toBe('3-0');
  });

  it('gives up with stream_failed after maxReconnects failures in a row', async () => {
    handler = (_req, res) => sse(res).end(': nothing here\n\n');
    const err = await caught(collect(client().events('j', { maxReconnects: 3, reconnectDelayMs: 5 })));
    expect(err.code).toBe('stream_failed');
    expect(requests).toHaveLength(4);
  });

  it('retries 503s but throws a 404 at once', async () => {
    let n = 0;
    handler = (_req, res) => (++n === 1 ? sendJson(res, 503, { code: 'unavailable', detail: 'away' }) : sse(res).end(result));
    expect((await collect(client().events('j', { reconnectDelayMs: 5 }))).map((e) => e.event)).toEqual(['result']);
    requests = [];
    handler = (_req, res) => sendJson(res, 404, { code: 'not_found', detail: 'job not found' });
    expect(await caught(collect(client().events('j', { reconnectDelayMs: 5 })))).toMatchObject({ status: 404, code: 'not_found' });
    expect(requests).toHaveLength(1);
  });

  it('takes a connection silent for idleTimeoutMs for dead and opens another', async () => {
    let n = 0;
    handler = (_req, res) => {
      if (++n === 1) sse(res).write(status('1-0', 'running')); // then silence, the socket left open
      else sse(res).end(result);
    };
    const events = await collect(client().events('j', { idleTimeoutMs: 200, reconnectDelayMs: 5 }));
    expect(events.map((e) => e.event)).toEqual(['status', 'result']);
    expect(requests[1]!.headers['last-event-id']).toBe('1-0');
  });

  it('closes the connection when the loop breaks, and throws AbortError when the signal aborts', async () => {
    let closed = false;
    handler = (req, res) => {
      sse(res).write(status('1-0', 'running'));
      res.on('close', () => (closed = true));
    };
    for await (const e of client().events('j')) {
      expect(e.event).toBe('status');
      break;
    }
    await expect.poll(() => closed).toBe(true);

    const controller = new AbortController();
    const seen: JobEvent[] = [];
    const loop = (async () => {
      for await (const e of client().events('j', { signal: controller.signal })) {
        seen.push(e);
        controller.abort();
      }
    })();
    await expect(loop).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toHaveLength(1);
  });
});
