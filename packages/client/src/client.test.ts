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
import type { Batch, BatchRequestItem, BatchResultLine, Job, JobEvent } from './types.js';

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

  it('opens a stream the server ended after a while again without counting it as a failure, however often', async () => {
    let n = 0;
    handler = (_req, res) => {
      const stream = sse(res);
      if (++n <= 3) setTimeout(() => stream.end(': this stream has lasted its time\n\n'), 60);
      else stream.end(result);
    };
    const events = await collect(client().events('j', { maxReconnects: 1, reconnectDelayMs: 5, livedMs: 50 }));
    expect(events.map((e) => e.event)).toEqual(['result']);
    expect(requests).toHaveLength(4);
  });

  it('waits for the Retry-After of a 429 (the tenant at its cap of open streams), then goes on', async () => {
    let n = 0;
    handler = (_req, res) => (++n === 1 ? sendJson(res, 429, { code: 'too_many_streams', detail: 'at the cap' }, { 'retry-after': '1' }) : sse(res).end(result));
    const started = Date.now();
    expect((await collect(client().events('j', { reconnectDelayMs: 5 }))).map((e) => e.event)).toEqual(['result']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
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

function batch(status: Batch['status'], counts: Partial<Batch['request_counts']> = {}, id = '0190a3b4-0000-7000-8000-00000000000b'): Batch {
  return {
    id,
    status,
    request_counts: { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0, ...counts },
    total: 3,
    created_at: '2026-11-25T00:00:00.000Z',
    ended_at: status === 'ended' ? '2026-11-25T00:01:00.000Z' : null,
    expires_at: '2026-11-26T00:00:00.000Z',
    metadata: null,
    webhook_url: null,
    webhook_events: ['batch.ended'],
  };
}

describe('batches', () => {
  const items: BatchRequestItem[] = [
    { custom_id: 'a', prompt: 'one' },
    { custom_id: 'b', prompt: 'two', max_turns: 2 },
  ];
  async function* drawn(): AsyncGenerator<BatchRequestItem> {
    yield* items;
  }

  it('sends a BatchRequest with an array as JSON, and an iterable as JSON lines, with Idempotency-Key', async () => {
    handler = (_req, res) => sendJson(res, 202, batch('in_progress', { queued: 2 }));
    await client().submitBatch({ requests: items, metadata: { run: 1 } });
    await client().submitBatch(drawn(), { idempotencyKey: 'b-1' });
    await client().submitBatch(new Set(items));
    expect(requests[0]).toMatchObject({ url: '/v1/batches', headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(requests[0]!.body)).toEqual({ metadata: { run: 1 }, requests: items });
    for (const r of requests.slice(1)) {
      expect(r.headers['content-type']).toBe('application/x-ndjson');
      expect(r.body).toBe(`${items.map((i) => JSON.stringify(i)).join('\n')}\n`);
    }
    expect(requests[1]!.headers['idempotency-key']).toBe('b-1');
  });

  it("streams an iterable with the batch's settings as a JSON body", async () => {
    handler = (_req, res) => sendJson(res, 202, batch('in_progress'));
    await client().submitBatch({ requests: drawn(), webhook_url: 'https://example.com/h', webhook_events: ['batch.ended', 'job.failed'] });
    expect(requests[0]!.headers['content-type']).toBe('application/json');
    expect(requests[0]!.headers['transfer-encoding']).toBe('chunked');
    expect(JSON.parse(requests[0]!.body)).toEqual({ webhook_url: 'https://example.com/h', webhook_events: ['batch.ended', 'job.failed'], requests: items });
  });

  it("sends a large iterable whole and in order, and throws the iterable's own error", async () => {
    handler = (_req, res) => sendJson(res, 202, batch('in_progress'));
    const many = Array.from({ length: 5000 }, (_, i) => ({ custom_id: `r-${i}`, prompt: `prompt ${i} `.repeat(10) }));
    await client().submitBatch(many.values());
    expect(requests[0]!.body.split('\n').filter(Boolean).map((l) => JSON.parse(l).custom_id)).toEqual(many.map((m) => m.custom_id));

    const bad = new Error('line 3 is not JSON');
    async function* broken(): AsyncGenerator<BatchRequestItem> {
      yield* many.slice(0, 2000);
      throw bad;
    }
    await expect(client().submitBatch(broken())).rejects.toBe(bad);
  });

  it('reads results line by line as they arrive, and closes the connection when the loop breaks', async () => {
    const line = (i: number): BatchResultLine => ({ custom_id: `c-${i}`, job_id: `j-${i}`, status: 'succeeded', result: null, error: null });
    let closed = false;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      // One line in two chunks, then one whole, then nothing more until the client leaves.
      const text = `${JSON.stringify(line(0))}\n`;
      res.write(text.slice(0, 10));
      res.write(`${text.slice(10)}${JSON.stringify(line(1))}\r\n`);
      res.on('close', () => (closed = true));
    };
    const seen: BatchResultLine[] = [];
    for await (const l of client().batchResults('b/1')) {
      seen.push(l);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([line(0), line(1)]);
    expect(requests[0]).toMatchObject({ url: '/v1/batches/b%2F1/results', headers: { accept: 'application/x-ndjson' } });
    await expect.poll(() => closed).toBe(true);
  });

  it('names a results line that is not JSON, and a stream cut short', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end('{"custom_id":"a"}\n{broken\n');
    const out: unknown[] = [];
    const err = await caught((async () => {
      for await (const l of client().batchResults('b')) out.push(l);
    })());
    expect(err).toMatchObject({ code: 'unexpected_response', detail: 'results line 2 is not JSON' });
    expect(out).toHaveLength(1);

    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' }).write('{"custom_id":"a"}\n');
      setTimeout(() => res.destroy(), 20);
    };
    const cut = await caught((async () => {
      for await (const _ of client().batchResults('b')) void _;
    })());
    expect(cut).toMatchObject({ status: 0, code: 'network_error' });
    expect(cut.detail).toMatch(/^the results broke off after line 1/);
  });

  it('waitForBatch polls until ended, reports each change once, and rides out 503s', async () => {
    const answers = [
      () => batch('in_progress', { queued: 3 }),
      () => batch('in_progress', { queued: 3 }),
      null,
      () => batch('in_progress', { running: 1, succeeded: 2 }),
      null,
      () => batch('ended', { succeeded: 3 }),
    ];
    let n = 0;
    handler = (_req, res) => {
      const answer = answers[n++];
      if (answer) sendJson(res, 200, answer());
      else sendJson(res, 503, { code: 'unavailable', detail: 'away' });
    };
    const progress: Batch['request_counts'][] = [];
    const done = await client().waitForBatch('b', { intervalMs: 100, onProgress: (b) => progress.push(b.request_counts) });
    expect(done.status).toBe('ended');
    expect(progress.map((c) => c.succeeded)).toEqual([0, 2, 3]);
    expect(requests).toHaveLength(6);
  });

  it('waitForBatch returns the batch as it stands at the deadline, and throws a 404 at once', async () => {
    handler = (_req, res) => sendJson(res, 200, batch('in_progress', { running: 1 }));
    const started = Date.now();
    expect((await client().waitForBatch('b', { timeoutMs: 400, intervalMs: 100 })).status).toBe('in_progress');
    expect(Date.now() - started).toBeLessThan(2000);
    requests = [];
    handler = (_req, res) => sendJson(res, 404, { code: 'not_found', detail: 'no batch' });
    expect(await caught(client().waitForBatch('b'))).toMatchObject({ status: 404, code: 'not_found' });
    expect(requests).toHaveLength(1);
  });

  it('lists, cancels and retries with the right requests; listAllBatches follows the cursor', async () => {
    handler = (req, res) => {
      const cursor = new URL(req.url!, baseUrl).searchParams.get('cursor');
      if (req.method === 'GET') sendJson(res, 200, cursor ? { data: [batch('ended', {}, 'y')], next_cursor: null } : { data: [batch('ended', {}, 'x')], next_cursor: '1' });
      else sendJson(res, 200, { ...batch('in_progress'), retried: 1 });
    };
    const ids: string[] = [];
    for await (const b of client().listAllBatches({ limit: 1 })) ids.push(b.id);
    expect(ids).toEqual(['x', 'y']);
    await client().cancelBatch('x');
    expect((await client().retryBatch('x')).retried).toBe(1);
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/batches?limit=1',
      'GET /v1/batches?limit=1&cursor=1',
      'POST /v1/batches/x/cancel',
      'POST /v1/batches/x/retry',
    ]);
  });
});

describe('sessions', () => {
  it('lists, reads and deletes', async () => {
    handler = (req, res) => {
      if (req.method === 'DELETE') res.writeHead(204).end();
      else if (req.url!.startsWith('/v1/sessions?')) sendJson(res, 200, { data: [], next_cursor: null });
      else sendJson(res, 200, { id: 's', turns: ['j'] });
    };
    expect(await client().listSessions({ limit: 5, cursor: '10' })).toEqual({ data: [], next_cursor: null });
    expect((await client().getSession('s')).turns).toEqual(['j']);
    expect(await client().deleteSession('s')).toBeUndefined();
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v1/sessions?limit=5&cursor=10', 'GET /v1/sessions/s', 'DELETE /v1/sessions/s']);
  });
});
