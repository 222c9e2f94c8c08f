/**
 * @claude-queue/client and the `cq` command against the whole stack: the API, an
 * in-process worker running the real CLI against the fake model API, and Redis.
 * Everything a caller does goes through the client as a user's code would.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClaudeQueueClient,
  ClaudeQueueError,
  verifyWebhook,
  WebhookVerificationError,
  type Batch,
  type BatchRequestItem,
  type BatchResultLine,
  type Job,
  type JobEvent,
} from '@claude-queue/client';
import { createLogger } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from '../support/apiServer.js';
import { createTestEnv, waitFor, type TestEnv } from '../support/env.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fakeAnthropic.js';
import { startStack, type Stack } from '../support/stack.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let env: TestEnv;
let api: TestApi;
let model: FakeAnthropic;
let worker: ClaudeWorker;
let tenant: { id: string; api_key: string; webhook_secret: string };
let client: ClaudeQueueClient;

beforeAll(async () => {
  env = await createTestEnv();
  model = await startFakeAnthropic();
  // Webhooks to the loopback receiver below.
  api = await startTestApi(env.apiConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }));
  worker = createClaudeWorker({
    config: env.workerConfig({ WORKER_CONCURRENCY: '2', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_MS: '0,200' }),
    logger: createLogger('worker', 'silent'),
    env: { PATH: process.env.PATH, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'sk-ant-client' },
  });
  await worker.ready;
  tenant = (await api.createTenant('client')) as typeof tenant;
  client = new ClaudeQueueClient({ baseUrl: api.url, apiKey: tenant.api_key });
});

afterAll(async () => {
  await worker?.close(1000);
  await api?.close();
  await model?.close();
  await env?.cleanup();
});

async function rejection(promise: Promise<unknown>): Promise<ClaudeQueueError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClaudeQueueError);
  return err as ClaudeQueueError;
}

/** Events until `until` holds (inclusive), then the loop breaks and the connection closes. */
async function eventsUntil(iterable: AsyncIterable<JobEvent>, until: (e: JobEvent) => boolean): Promise<JobEvent[]> {
  const seen: JobEvent[] = [];
  for await (const e of iterable) {
    seen.push(e);
    if (until(e)) break;
  }
  return seen;
}

const isRunning = (e: JobEvent) => e.event === 'status' && e.data.status === 'running';

interface CqRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the cq binary from its TypeScript source, as `npm run cq` runs the built one (default: this file's stack and tenant). */
function cq(args: string[], key = tenant.api_key, stdin = '', url = api.url): Promise<CqRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'packages/client/src/cli.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, CQ_URL: url, CQ_API_KEY: key },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the client', () => {
  it('submits, reads and waits for a job', async () => {
    const submitted = await client.submit({ prompt: 'client says hi', metadata: { ticket: 7 } });
    expect(submitted).toMatchObject({ status: 'queued', request: { prompt: 'client says hi' }, metadata: { ticket: 7 } });
    expect((await client.get(submitted.id)).id).toBe(submitted.id);

    const done = await client.wait(submitted.id, { timeoutMs: 60_000 });
    expect(done).toMatchObject({ id: submitted.id, status: 'succeeded', error: null, result: { text: 'echo: client says hi' } });
    // Already final: wait answers at once.
    expect(await client.wait(submitted.id)).toEqual(done);
  });

  it('submit with wait answers with the finished job; an Idempotency-Key gives back the same job', async () => {
    const done = await client.submit({ prompt: 'wait on submit' }, { wait: 30, idempotencyKey: 'client-key-1' });
    expect(done).toMatchObject({ status: 'succeeded', result: { text: 'echo: wait on submit' } });
    const again = await client.submit({ prompt: 'wait on submit' }, { idempotencyKey: 'client-key-1' });
    expect(again.id).toBe(done.id);
    const reused = await rejection(client.submit({ prompt: 'something else' }, { idempotencyKey: 'client-key-1' }));
    expect(reused).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    expect(model.callsFor('wait on submit')).toHaveLength(1);
  });

  it('cancels a running job; canceling it again is job_already_final', async () => {
    const prompt = 'client hangs at the model';
    model.script(prompt, [{ kind: 'hang' }]);
    const job = await client.submit({ prompt, timeout_ms: 30_000 });
    await eventsUntil(client.events(job.id), isRunning);

    const canceled = await client.cancel(job.id);
    expect(canceled).toMatchObject({ id: job.id, status: 'canceled', error: { code: 'canceled' } });
    expect((await client.wait(job.id)).status).toBe('canceled');
    expect(await rejection(client.cancel(job.id))).toMatchObject({ status: 409, code: 'job_already_final' });
  });

  it("throws ClaudeQueueErrors with the API's status, code, detail and field", async () => {
    const missing = await rejection(client.get('0190a3b4-0000-7000-8000-000000000000'));
    expect(missing).toMatchObject({ status: 404, code: 'not_found', detail: 'job not found', field: undefined });

    const invalid = await rejection(client.submit({ prompt: 'x', max_turns: 0 }));
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_request', field: 'max_turns' });
    const unknown = await rejection(client.submit({ prompt: 'x', bogus: true } as never));
    expect(unknown).toMatchObject({ status: 400, field: 'bogus', errors: [{ field: 'bogus', message: 'unknown field' }] });

    const stranger = new ClaudeQueueClient({ baseUrl: api.url, apiKey: 'cq_not_a_key' });
    expect(await rejection(stranger.list())).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it("lists a tenant's jobs page by page, newest first, and by status", async () => {
    const own = (await api.createTenant('lister')) as typeof tenant;
    const lister = new ClaudeQueueClient({ baseUrl: api.url, apiKey: own.api_key });
    const jobs: Job[] = [];
    for (let i = 0; i < 5; i++) jobs.push(await lister.submit({ prompt: `listed ${i}` }));
    await Promise.all(jobs.map((j) => lister.wait(j.id, { timeoutMs: 60_000 })));
    const hanging = 'listed but canceled';
    model.script(hanging, [{ kind: 'hang' }]);
    const canceled = await lister.submit({ prompt: hanging });
    await lister.cancel(canceled.id);

    const first = await lister.list({ limit: 2 });
    expect(first.data.map((j) => j.id)).toEqual([canceled.id, jobs[4]!.id]);
    expect(first.next_cursor).toBe(jobs[4]!.id);
    const all: string[] = [];
    for await (const j of lister.listAll({ limit: 2 })) all.push(j.id);
    expect(all).toEqual([canceled.id, ...jobs.map((j) => j.id).reverse()]);
    expect((await lister.list({ status: 'canceled' })).data.map((j) => j.id)).toEqual([canceled.id]);
    const succeeded: Job[] = [];
    for await (const j of lister.listAll({ status: 'succeeded', limit: 100 })) succeeded.push(j);
    expect(succeeded).toHaveLength(5);
  });
});

describe('events', () => {
  it('streams a reply in chunks: the text joins to the answer, then the result ends the iteration', async () => {
    const prompt = 'client streams slowly';
    const answer = 'one two three four five six seven eight';
    model.script(prompt, [{ kind: 'text', text: answer, chunks: 6, delayMs: 150 }]);
    const job = await client.submit({ prompt, stream: true });

    const events: JobEvent[] = [];
    for await (const e of client.events(job.id)) events.push(e);

    expect(events.filter((e) => e.event === 'status').map((e) => e.data.status)).toEqual(['queued', 'running', 'succeeded']);
    const chunks = events.flatMap((e) => (e.event === 'text' ? [e.data.text] : []));
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks.join('')).toBe(answer);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ id: null, event: 'result', data: { id: job.id, status: 'succeeded', result: { text: answer } } });
    expect(events.slice(0, -1).every((e) => typeof e.id === 'string')).toBe(true);
  });

  it('resumes with Last-Event-ID when the connection drops mid-answer, missing and repeating nothing', async () => {
    const prompt = 'client stream is cut';
    const answer = 'alpha beta gamma delta epsilon zeta eta theta';
    model.script(prompt, [{ kind: 'text', text: answer, chunks: 6, delayMs: 200 }]);
    const job = await client.submit({ prompt, stream: true });

    // A network that resets the first events connection right after its second text event.
    const lastEventIds: (string | null)[] = [];
    const flaky: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/events')) return res;
      lastEventIds.push(new Headers(init?.headers).get('last-event-id'));
      return lastEventIds.length === 1 ? cutAfterTextEvents(res, 2) : res;
    };
    const resuming = new ClaudeQueueClient({ baseUrl: api.url, apiKey: tenant.api_key, fetch: flaky });
    const events: JobEvent[] = [];
    for await (const e of resuming.events(job.id, { reconnectDelayMs: 50 })) events.push(e);

    const texts = events.filter((e) => e.event === 'text');
    expect(lastEventIds).toEqual([null, texts[1]!.id]);
    const ids = events.flatMap((e) => (e.id ? [e.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    expect(texts.map((e) => e.data.text).join('')).toBe(answer);
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { status: 'succeeded' } });
  });

  it("resumes from lastEventId, and answers another tenant's job with not_found", async () => {
    const job = await client.submit({ prompt: 'client replays' }, { wait: 30 });
    const all: JobEvent[] = [];
    for await (const e of client.events(job.id)) all.push(e);
    const afterFirst: JobEvent[] = [];
    for await (const e of client.events(job.id, { lastEventId: all[0]!.id! })) afterFirst.push(e);
    expect(afterFirst).toEqual(all.slice(1));

    const other = (await api.createTenant('other')) as typeof tenant;
    const outsider = new ClaudeQueueClient({ baseUrl: api.url, apiKey: other.api_key });
    expect(await rejection(eventsUntil(outsider.events(job.id), () => true))).toMatchObject({ status: 404, code: 'not_found' });
  });
});

describe('webhooks', () => {
  it('verifies a real delivery with verifyWebhook, and refuses it changed', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const receiver: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
      const job = await client.submit({ prompt: 'client webhook', webhook_url: url, webhook_events: ['job.succeeded'] });
      const delivery = await waitFor(() => received[0], 30_000, 'the webhook delivery');

      const payload = verifyWebhook(tenant.webhook_secret, delivery.headers, delivery.body);
      expect(payload).toMatchObject({ type: 'job.succeeded', data: { id: job.id, status: 'succeeded', result: { text: 'echo: client webhook' } } });
      const forged = () => verifyWebhook(tenant.webhook_secret, delivery.headers, delivery.body.replace('client webhook', 'forged'));
      expect(forged).toThrow(WebhookVerificationError);
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});

describe('cq', () => {
  it('cq submit "hello" --wait prints the result', async () => {
    expect(await cq(['submit', 'hello', '--wait'])).toEqual({ code: 0, stdout: 'echo: hello\n', stderr: '' });
  });

  it('reads the prompt from stdin with "-"', async () => {
    expect(await cq(['submit', '-', '--wait'], tenant.api_key, 'a prompt\non two lines')).toEqual({
      code: 0,
      stdout: 'echo: a prompt\non two lines\n',
      stderr: '',
    });
  });

  it('submit prints the id; tail prints the text as it comes, then the status; get and list show the job', async () => {
    const prompt = 'cq tails this';
    model.script(prompt, [{ kind: 'text', text: 'streamed through cq', chunks: 4, delayMs: 100 }]);
    const submitted = await cq(['submit', prompt, '--stream']);
    expect(submitted).toMatchObject({ code: 0, stderr: '' });
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    expect(await cq(['tail', id])).toEqual({ code: 0, stdout: 'streamed through cq\n', stderr: `job ${id} succeeded\n` });
    const got = await cq(['get', id]);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, status: 'succeeded', result: { text: 'streamed through cq' } });
    const listed = await cq(['list', '--limit', '1']);
    expect(listed.stdout).toMatch(new RegExp(`^${id}  succeeded  \\S+  cq tails this\\n$`));
  });

  it('exits 1 with the reason when the job fails or the API refuses, and prints the job with --json', async () => {
    const prompt = 'cq meets a bad key';
    model.script(prompt, [{ kind: 'error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }]);
    const failed = await cq(['submit', prompt, '--wait', '--json']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ status: 'failed', error: { code: 'auth_failed' } });
    expect(failed.stderr).toMatch(/^cq: job \S+ failed: auth_failed: /);

    const [canceled, unauthorized] = await Promise.all([
      cq(['cancel', JSON.parse(failed.stdout).id]),
      cq(['list'], 'cq_not_a_key'),
    ]);
    expect(canceled).toMatchObject({ code: 1, stdout: '', stderr: 'cq: job_already_final 409: the job has already failed\n' });
    expect(unauthorized).toMatchObject({ code: 1, stdout: '' });
    expect(unauthorized.stderr).toMatch(/^cq: unauthorized 401: /);
  });
});

describe('sessions', () => {
  it('lists, reads and deletes a conversation, with the client and with cq', async () => {
    const own = (await api.createTenant('talker')) as typeof tenant;
    const talker = new ClaudeQueueClient({ baseUrl: api.url, apiKey: own.api_key });
    const first = await talker.wait((await talker.submit({ prompt: 'client session turn one' })).id, { timeoutMs: 60_000 });
    const sessionId = first.result!.session_id;
    const second = await talker.wait((await talker.submit({ prompt: 'client session turn two', session_id: sessionId })).id, { timeoutMs: 60_000 });
    expect(second.status).toBe('succeeded');

    const page = await talker.listSessions();
    expect(page).toMatchObject({ data: [{ id: sessionId, forked_from: null }], next_cursor: null });
    expect(page.data[0]!.max_bytes).toBeGreaterThan(0);
    const all: string[] = [];
    for await (const s of talker.listAllSessions({ limit: 1 })) all.push(s.id);
    expect(all).toEqual([sessionId]);
    expect(await talker.getSession(sessionId)).toMatchObject({ id: sessionId, turns: [first.id, second.id] });

    const listed = await cq(['sessions', 'list'], own.api_key);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(new RegExp(`^${sessionId}  \\S+ +\\d`));
    const got = await cq(['sessions', 'get', sessionId], own.api_key);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: sessionId, turns: [first.id, second.id] });
    // Another tenant's session reads as missing.
    expect(await rejection(client.getSession(sessionId))).toMatchObject({ status: 404, code: 'session_not_found' });

    expect(await cq(['sessions', 'delete', sessionId], own.api_key)).toEqual({ code: 0, stdout: `${sessionId} deleted\n`, stderr: '' });
    expect(await rejection(talker.getSession(sessionId))).toMatchObject({ status: 404, code: 'session_not_found' });
    expect(await rejection(talker.deleteSession(sessionId))).toMatchObject({ status: 404, code: 'session_not_found' });
    expect((await talker.listSessions()).data).toEqual([]);
  });
});

/**
 * Batches on a stack of their own whose worker runs the fake CLI: `FAKE:api:401` fails a
 * request for certain (auth_failed, not retried), and fifty requests take seconds.
 */
describe('batches', () => {
  let stack: Stack;
  let batcher: ClaudeQueueClient;
  let dir: string;
  const cqb = (args: string[], stdin = '') => cq(args, stack.tenant.api_key, stdin, stack.api.url);

  beforeAll(async () => {
    stack = await startStack({ cli: 'fake', worker: { WORKER_CONCURRENCY: '4' }, tenantName: 'batcher' });
    batcher = new ClaudeQueueClient({ baseUrl: stack.api.url, apiKey: stack.tenant.api_key });
    dir = await mkdtemp(path.join(tmpdir(), 'cq-batches-'));
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const jsonLines = (items: unknown[]) => items.map((i) => `${JSON.stringify(i)}\n`).join('');
  const readJsonLines = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as BatchResultLine);

  it('cq batch submit FILE --wait --out: progress on stderr, every custom_id once in the results file, exit 0', async () => {
    const requests = Array.from({ length: 50 }, (_, i) => ({ custom_id: `q-${i}`, prompt: `cq batch prompt ${i}`, ...(i % 10 === 0 ? { metadata: { i } } : {}) }));
    const input = path.join(dir, 'requests.jsonl');
    const output = path.join(dir, 'results.jsonl');
    await writeFile(input, jsonLines(requests));

    const run = await cqb(['batch', 'submit', input, '--wait', '--out', output]);
    expect(run).toMatchObject({ code: 0, stdout: '' });
    const [announced, ...progress] = run.stderr.trimEnd().split('\n');
    const id = /^batch (\S+): 50 request\(s\)$/.exec(announced!)?.[1];
    expect(id).toBeDefined();
    // Not a terminal: one plain line per change, ending with all done.
    for (const line of progress) expect(line).toMatch(/^\d+\/50 done \(\d+ succeeded, 0 failed\)$/);
    expect(progress.at(-1)).toBe('50/50 done (50 succeeded, 0 failed)');

    const results = await readJsonLines(output);
    expect(results.map((r) => r.custom_id).sort()).toEqual(requests.map((r) => r.custom_id).sort());
    for (const r of results) expect(r).toMatchObject({ status: 'succeeded', error: null, result: { text: `fake: cq batch prompt ${r.custom_id.slice(2)}` } });
    expect(await batcher.getBatch(id!)).toMatchObject({ status: 'ended', total: 50, request_counts: { succeeded: 50 } });
  }, 120_000);

  it('with a failed request: waitForBatch reports progress, batchResults streams, cq batch wait exits 1, retryBatch runs it again', async () => {
    const requests: BatchRequestItem[] = [
      { custom_id: 'ok-1', prompt: 'client batch fine one' },
      { custom_id: 'bad-1', prompt: 'FAKE:api:401 client batch fails' },
      { custom_id: 'ok-2', prompt: 'client batch fine two' },
    ];
    async function* drawn(): AsyncGenerator<BatchRequestItem> {
      yield* requests;
    }
    const submitted = await batcher.submitBatch(drawn(), { idempotencyKey: 'client-batch-1' });
    expect(submitted).toMatchObject({ status: 'in_progress', total: 3 });
    const progress: Batch[] = [];
    const ended = await batcher.waitForBatch(submitted.id, { timeoutMs: 60_000, intervalMs: 200, onProgress: (b) => progress.push(b) });
    expect(ended).toMatchObject({ status: 'ended', request_counts: { succeeded: 2, failed: 1, queued: 0, running: 0 } });
    expect(progress.at(-1)).toEqual(ended);
    // The same key answers with the same batch, not a new one.
    expect((await batcher.submitBatch(requests.values(), { idempotencyKey: 'client-batch-1' })).id).toBe(submitted.id);

    const lines: BatchResultLine[] = [];
    for await (const line of batcher.batchResults(submitted.id)) lines.push(line);
    expect(lines.map((l) => [l.custom_id, l.status])).toEqual([
      ['ok-1', 'succeeded'],
      ['bad-1', 'failed'],
      ['ok-2', 'succeeded'],
    ]);
    expect(lines[1]!.error).toMatchObject({ code: 'auth_failed' });

    const waited = await cqb(['batch', 'wait', submitted.id]);
    expect(waited.code).toBe(1);
    expect(waited.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(lines);
    expect(waited.stderr).toBe(`3/3 done (2 succeeded, 1 failed)\ncq: batch ${submitted.id}: 1 of 3 request(s) did not succeed (3/3 done (2 succeeded, 1 failed))\n`);
    expect(await cqb(['batch', 'get', submitted.id])).toEqual({ code: 0, stdout: `${submitted.id}  ended        3/3 done (2 succeeded, 1 failed)\n`, stderr: '' });

    const retried = await batcher.retryBatch(submitted.id);
    expect(retried).toMatchObject({ id: submitted.id, retried: 1, status: 'in_progress' });
    const again = await batcher.waitForBatch(submitted.id, { timeoutMs: 60_000, intervalMs: 200 });
    expect(again.request_counts).toMatchObject({ succeeded: 2, failed: 1 });
    expect(await cqb(['batch', 'retry', submitted.id])).toMatchObject({ code: 0, stdout: `${submitted.id} in_progress: 1 failed request(s) running again\n` });
    await batcher.waitForBatch(submitted.id, { timeoutMs: 60_000, intervalMs: 200 });
    expect(await cqb(['batch', 'cancel', submitted.id])).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^cq: job_already_final 409: /) });

    expect((await batcher.listBatches({ limit: 1 })).data.map((b) => b.id)).toEqual([submitted.id]);
    const all: string[] = [];
    for await (const b of batcher.listAllBatches({ limit: 1 })) all.push(b.id);
    expect(all).toHaveLength(2);
    expect(all[0]).toBe(submitted.id);
    const listed = await cqb(['batch', 'list']);
    expect(listed.stdout.split('\n')[0]).toMatch(new RegExp(`^${submitted.id}  ended +3/3 done \\(2 succeeded, 1 failed\\)  \\S+$`));
  }, 120_000);

  it("cq batch submit names a bad request by the file's line and creates nothing; reads stdin; cancel stops the rest", async () => {
    const before = (await batcher.listBatches({ limit: 100 })).data.length;
    const input = path.join(dir, 'bad.jsonl');
    await writeFile(input, `${JSON.stringify({ custom_id: 'a', prompt: 'fine' })}\n\n${JSON.stringify({ custom_id: 'b', prompt: '' })}\n`);
    const refused = await cqb(['batch', 'submit', input, '--webhook-url', 'https://example.com/hooks']);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toContain(`(field: ${input} line 3.prompt)`);
    const refusedLines = await cqb(['batch', 'submit', input]);
    expect(refusedLines.stderr).toContain(`(field: ${input} line 3.prompt)`);
    expect((await batcher.listBatches({ limit: 100 })).data).toHaveLength(before);

    const slow = Array.from({ length: 20 }, (_, i) => ({ custom_id: `s-${i}`, prompt: `FAKE:sleep:1500 slow ${i}` }));
    const submitted = await cqb(['batch', 'submit', '-'], jsonLines(slow));
    expect(submitted).toMatchObject({ code: 0, stderr: '' });
    const id = submitted.stdout.trim();
    await waitFor(async () => ((await batcher.getBatch(id)).request_counts.running > 0 ? true : undefined), 30_000, 'the batch to run');
    expect(await cqb(['batch', 'cancel', id])).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^${id} (canceling|ended)\n$`)) });
    const ended = await batcher.waitForBatch(id, { timeoutMs: 60_000, intervalMs: 200 });
    expect(ended.status).toBe('ended');
    expect(ended.request_counts.canceled).toBeGreaterThan(10);
    const results = await cqb(['batch', 'results', id]);
    expect(results.code).toBe(0);
    expect(results.stdout.trimEnd().split('\n')).toHaveLength(20);
  }, 120_000);
});

/**
 * The response with its body cut off (as by a connection reset) right after the
 * `count`-th text event. Events pass whole, one per chunk, so the client sees exactly
 * the events before the cut.
 */
function cutAfterTextEvents(res: Response, count: number): Response {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let texts = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const sep = buffer.indexOf('\n\n');
        if (sep >= 0) {
          const block = buffer.slice(0, sep + 2);
          buffer = buffer.slice(sep + 2);
          controller.enqueue(new TextEncoder().encode(block));
          if (/^event: text$/m.test(block) && ++texts === count) {
            await reader.cancel();
            controller.error(new TypeError('terminated: connection reset'));
          }
          return;
        }
        const { done, value } = await reader.read();
        if (done) return controller.close();
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: res.status, headers: res.headers });
}
