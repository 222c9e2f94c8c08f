/**
 * The claude-queue HTTP API from TypeScript, on Node 20's own fetch: no runtime
 * dependencies and no server code. Every non-2xx answer becomes a ClaudeQueueError
 * with the API's stable `code`.
 */
import { ClaudeQueueError, isTransient, retryDelayOf } from './claudeQueueError.js';
import { followJobEvents, type EventsOptions } from './followJobEvents.js';
import { readLines, streamJsonItems } from './jsonLines.js';
import { sleep } from './sleep.js';
import {
  isFinal,
  type Batch,
  type BatchPage,
  type BatchRequest,
  type BatchRequestItem,
  type BatchResultLine,
  type Job,
  type JobEvent,
  type JobPage,
  type JobRequest,
  type JobStatus,
  type RetriedBatch,
  type Session,
  type SessionPage,
  type SessionSummary,
} from './types.js';

export interface ClaudeQueueClientOptions {
  /** Where the API answers, e.g. `http://127.0.0.1:3000` (a path prefix is kept). */
  baseUrl: string;
  /** A tenant's API key (`cq_…`). */
  apiKey: string;
  /** The fetch to call (default: the global fetch). */
  fetch?: typeof fetch;
}

export interface SubmitOptions {
  /** Sent as `Idempotency-Key`: the same key with the same body answers with the original job instead of a new one. */
  idempotencyKey?: string;
  /** Seconds to hold the answer until the job is final (`Prefer: wait=N`; the API caps it at 60) (default: answer at once). */
  wait?: number;
  signal?: AbortSignal;
}

export interface GetOptions {
  /** Seconds to hold the answer until the job is final (`Prefer: wait=N`; the API caps it at 60) (default: answer at once). */
  wait?: number;
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Give up after this long and return the job as it stands, rounded up to whole seconds (default: no limit). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PageOptions {
  /** Items per page, 1–100 (default: the API's, 20). */
  limit?: number;
  /** A `next_cursor` from an earlier page. */
  cursor?: string;
  signal?: AbortSignal;
}

export interface ListOptions extends PageOptions {
  status?: JobStatus;
}

/** A batch's requests drawn one by one: an array, a generator, lines parsed from a file as it is read. */
export type BatchRequestItems = Iterable<BatchRequestItem> | AsyncIterable<BatchRequestItem>;

/** A batch whose requests may come from any iterable (`BatchRequest` is the plain JSON form). */
export type BatchInput = Omit<BatchRequest, 'requests'> & { requests: BatchRequestItems };

export interface SubmitBatchOptions {
  /** Sent as `Idempotency-Key`: the same key with the same requests answers with the original batch instead of a new one. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface WaitForBatchOptions {
  /** Called with the batch on the first answer and whenever its counts or status change. */
  onProgress?: (batch: Batch) => void;
  /** Give up after this long and return the batch as it stands (default: no limit). */
  timeoutMs?: number;
  /** Between two looks at the batch (default: 1000; at least 100). */
  intervalMs?: number;
  signal?: AbortSignal;
}

/** The longest long-poll the API grants (apps/api/src/prefer.ts). */
const MAX_WAIT_SECONDS = 60;
/** wait() rides out a restart or a proxy hiccup this many times in a row before it gives up. */
const WAIT_RETRIES = 5;
/** waitForBatch's pace: one small read (the batch's counts) a second. */
const BATCH_POLL_INTERVAL_MS = 1000;
/** Below this, an unfinished answer to a long-poll means the server didn't hold it: poll at this pace instead. */
const MIN_POLL_INTERVAL_MS = 1000;

export class ClaudeQueueClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchFn: typeof fetch;

  constructor(options: ClaudeQueueClientOptions) {
    if (!options.apiKey) throw new TypeError('ClaudeQueueClient: apiKey is required');
    // Throws on a malformed URL here rather than on the first request.
    const url = new URL(options.baseUrl);
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.fetchFn = options.fetch ?? globalThis.fetch;
  }

  /** `POST /v1/jobs`: the new job (queued), or with `wait` the job once final if it ended in time. */
  async submit(request: JobRequest, options: SubmitOptions = {}): Promise<Job> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    if (options.wait !== undefined) headers.prefer = `wait=${Math.max(0, Math.ceil(options.wait))}`;
    return this.json<Job>('POST', '/v1/jobs', { body: request, headers, signal: options.signal });
  }

  /** `GET /v1/jobs/{id}`; with `wait`, held until the job is final or `wait` seconds pass. */
  async get(id: string, options: GetOptions = {}): Promise<Job> {
    const headers: Record<string, string> = {};
    if (options.wait !== undefined) headers.prefer = `wait=${Math.max(0, Math.ceil(options.wait))}`;
    return this.json<Job>('GET', jobPath(id), { headers, signal: options.signal });
  }

  /**
   * The job once it is final, by long-polls of up to 60 s each; after `timeoutMs`, the
   * job as it stands (check `isFinal`). Rides out a few dropped connections and 502–504s
   * in a row (an API restart); other errors are thrown.
   */
  async wait(id: string, options: WaitOptions = {}): Promise<Job> {
    const deadline = Date.now() + (options.timeoutMs ?? Infinity);
    let failures = 0;
    for (;;) {
      const started = Date.now();
      const waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.ceil((deadline - started) / 1000)));
      let job: Job;
      try {
        job = await this.get(id, { wait: waitSeconds, signal: options.signal });
        failures = 0;
      } catch (err) {
        if (!isTransient(err) || ++failures > WAIT_RETRIES) throw err;
        await sleep(Math.min(retryDelayOf(err, MIN_POLL_INTERVAL_MS * failures), deadline - Date.now()), options.signal);
        continue;
      }
      if (isFinal(job) || Date.now() >= deadline) return job;
      const elapsed = Date.now() - started;
      if (elapsed < MIN_POLL_INTERVAL_MS) await sleep(Math.min(MIN_POLL_INTERVAL_MS - elapsed, deadline - Date.now()), options.signal);
    }
  }

  /** `POST /v1/jobs/{id}/cancel`: the job, now canceled. A job that had ended: `409 job_already_final`. */
  async cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.json<Job>('POST', `${jobPath(id)}/cancel`, { signal: options.signal });
  }

  /** `GET /v1/jobs`: one page, newest first. */
  async list(options: ListOptions = {}): Promise<JobPage> {
    return this.json<JobPage>('GET', `/v1/jobs${pageQuery(options, { status: options.status })}`, { signal: options.signal });
  }

  /** Every job, newest first, page after page (`limit` is the page size). */
  listAll(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Job, void, undefined> {
    return everyItem((cursor) => this.list({ ...options, cursor }));
  }

  /**
   * `GET /v1/jobs/{id}/events` as an async iterator: `status` and `text` events as they
   * happen, then `result` with the final job, and the iteration ends. A connection that
   * drops before the result is opened again with `Last-Event-ID`, so no event is missed
   * or repeated. Breaking out of the loop closes the connection.
   */
  events(id: string, options: EventsOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
    return followJobEvents(
      (lastEventId, signal) =>
        this.send('GET', `${jobPath(id)}/events`, {
          headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
          signal,
        }),
      options,
    );
  }

  /**
   * `POST /v1/batches`: the new batch (in progress), every request a job, all enqueued or
   * none. Requests in an array (bare, or as `requests`) go as one JSON body, and errors
   * name `requests[i].field`. Requests from any other iterable (a generator, a file's
   * lines) are streamed as they are drawn: as JSON lines (`application/x-ndjson`, which
   * the API also reads line by line), errors then naming `line n.field` for the n-th
   * request (from 1); with `metadata` or webhook fields as well, as a JSON body written
   * as it goes.
   * If the iterable throws, the request is abandoned and that error is thrown.
   */
  async submitBatch(batch: BatchRequest | BatchInput | BatchRequestItems, options: SubmitBatchOptions = {}): Promise<Batch> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    const { requests, ...rest } = isIterable(batch) ? { requests: batch } : batch;
    if (Array.isArray(requests)) return this.json<Batch>('POST', '/v1/batches', { body: { ...rest, requests }, headers, signal: options.signal });
    const settings = JSON.stringify(rest);
    const lines = settings === '{}';
    const { body, failure } = streamJsonItems(
      requests,
      lines ? { head: '', separator: '\n', tail: '\n' } : { head: `${settings.slice(0, -1)},"requests":[`, separator: ',', tail: ']}' },
    );
    try {
      return await this.json<Batch>('POST', '/v1/batches', {
        raw: { body, contentType: lines ? 'application/x-ndjson' : 'application/json' },
        headers,
        signal: options.signal,
      });
    } catch (err) {
      // The iterable's own error (a line that isn't JSON, say), not the failed upload it caused.
      throw failure() ?? err;
    }
  }

  /** `GET /v1/batches/{id}`: the batch with its live counts. */
  async getBatch(id: string, options: { signal?: AbortSignal } = {}): Promise<Batch> {
    return this.json<Batch>('GET', batchPath(id), { signal: options.signal });
  }

  /** `GET /v1/batches`: one page, newest first. */
  async listBatches(options: PageOptions = {}): Promise<BatchPage> {
    return this.json<BatchPage>('GET', `/v1/batches${pageQuery(options)}`, { signal: options.signal });
  }

  /** Every batch, newest first, page after page (`limit` is the page size). */
  listAllBatches(options: Omit<PageOptions, 'cursor'> = {}): AsyncGenerator<Batch, void, undefined> {
    return everyItem((cursor) => this.listBatches({ ...options, cursor }));
  }

  /** `POST /v1/batches/{id}/cancel`: the batch, `canceling` until its running requests stop. An ended batch: `409 job_already_final`. */
  async cancelBatch(id: string, options: { signal?: AbortSignal } = {}): Promise<Batch> {
    return this.json<Batch>('POST', `${batchPath(id)}/cancel`, { signal: options.signal });
  }

  /** `POST /v1/batches/{id}/retry`: once ended, its failed requests run again (same jobs, same custom_ids); `retried` says how many. */
  async retryBatch(id: string, options: { signal?: AbortSignal } = {}): Promise<RetriedBatch> {
    return this.json<RetriedBatch>('POST', `${batchPath(id)}/retry`, { signal: options.signal });
  }

  /**
   * `GET /v1/batches/{id}/results` as an async iterator: one line per finished request,
   * in submission order, parsed as it arrives (the body is never held whole). Works
   * while the batch runs: requests not finished yet are left out. Breaking out of the
   * loop closes the connection.
   */
  async *batchResults(id: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<BatchResultLine, void, undefined> {
    const res = await this.send('GET', `${batchPath(id)}/results`, { headers: { accept: 'application/x-ndjson' }, signal: options.signal });
    if (!res.body) return;
    let lineNo = 0;
    try {
      for await (const line of readLines(res.body as unknown as AsyncIterable<Uint8Array>)) {
        lineNo++;
        if (line.trim() === '') continue;
        let parsed: BatchResultLine;
        try {
          parsed = JSON.parse(line) as BatchResultLine;
        } catch (err) {
          throw new ClaudeQueueError({ status: res.status, code: 'unexpected_response', detail: `results line ${lineNo} is not JSON`, cause: err });
        }
        yield parsed;
      }
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (err instanceof ClaudeQueueError) throw err;
      throw new ClaudeQueueError({ status: 0, code: 'network_error', detail: `the results broke off after line ${lineNo}: ${describeCause(err)}`, cause: err });
    }
  }

  /**
   * The batch once it has ended, looking at it every `intervalMs`; after `timeoutMs`,
   * the batch as it stands (check `status`). `onProgress` sees each change of its counts.
   * Rides out a few dropped connections and 502–504s in a row, as wait() does.
   */
  async waitForBatch(id: string, options: WaitForBatchOptions = {}): Promise<Batch> {
    const deadline = Date.now() + (options.timeoutMs ?? Infinity);
    const intervalMs = Math.max(100, options.intervalMs ?? BATCH_POLL_INTERVAL_MS);
    let failures = 0;
    let seen = '';
    for (;;) {
      let batch: Batch;
      try {
        batch = await this.getBatch(id, { signal: options.signal });
        failures = 0;
      } catch (err) {
        if (!isTransient(err) || ++failures > WAIT_RETRIES || Date.now() >= deadline) throw err;
        await sleep(Math.min(retryDelayOf(err, MIN_POLL_INTERVAL_MS * failures), deadline - Date.now()), options.signal);
        continue;
      }
      const state = `${batch.status} ${JSON.stringify(batch.request_counts)}`;
      if (state !== seen) {
        seen = state;
        options.onProgress?.(batch);
      }
      if (batch.status === 'ended' || Date.now() >= deadline) return batch;
      await sleep(Math.min(intervalMs, deadline - Date.now()), options.signal);
    }
  }

  /** `GET /v1/sessions`: one page of the tenant's conversations, most recently used first. */
  async listSessions(options: PageOptions = {}): Promise<SessionPage> {
    return this.json<SessionPage>('GET', `/v1/sessions${pageQuery(options)}`, { signal: options.signal });
  }

  /**
   * Every session, page after page. The pages are in order of last use, so a session
   * used during the walk may be seen twice or missed once.
   */
  listAllSessions(options: Omit<PageOptions, 'cursor'> = {}): AsyncGenerator<SessionSummary, void, undefined> {
    return everyItem((cursor) => this.listSessions({ ...options, cursor }));
  }

  /** `GET /v1/sessions/{id}`: the session and its turns; missing or another tenant's: `404 session_not_found`. */
  async getSession(id: string, options: { signal?: AbortSignal } = {}): Promise<Session> {
    return this.json<Session>('GET', sessionPath(id), { signal: options.signal });
  }

  /** `DELETE /v1/sessions/{id}`: its stored conversation is removed; later follow-ups get `session_not_found`. */
  async deleteSession(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const res = await this.send('DELETE', sessionPath(id), { signal: options.signal });
    await res.body?.cancel();
  }

  private async json<T>(method: string, path: string, init: SendOptions): Promise<T> {
    const res = await this.send(method, path, init);
    try {
      return (await res.json()) as T;
    } catch (err) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new ClaudeQueueError({ status: res.status, code: 'unexpected_response', detail: 'the answer is not JSON', cause: err });
    }
  }

  /** One request; a 2xx Response, else a thrown ClaudeQueueError (or the signal's reason if aborted). */
  private async send(method: string, path: string, init: SendOptions): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers, authorization: `Bearer ${this.apiKey}` };
    let body: string | ReadableStream<Uint8Array> | undefined;
    if (init.raw !== undefined) {
      body = init.raw.body;
      headers['content-type'] = init.raw.contentType;
    } else if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] = 'application/json';
    }
    // A stream is sent as it is read (chunked); fetch requires saying so.
    const streaming = typeof body === 'object' ? { duplex: 'half' } : {};
    let res: Response;
    try {
      res = await this.fetchFn(this.baseUrl + path, { method, headers, body, signal: init.signal, ...streaming } as RequestInit);
    } catch (err) {
      if (init.signal?.aborted) throw init.signal.reason;
      // Never the key: `cause` is fetch's own error, which doesn't carry the headers.
      const detail = `${method} ${this.baseUrl}${path} got no answer: ${describeCause(err)}`;
      throw new ClaudeQueueError({ status: 0, code: 'network_error', detail, cause: err });
    }
    if (!res.ok) throw await ClaudeQueueError.fromResponse(res);
    return res;
  }
}

interface SendOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is, with its content type. */
  raw?: { body: string | ReadableStream<Uint8Array>; contentType: string };
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

function jobPath(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`;
}

function batchPath(id: string): string {
  return `/v1/batches/${encodeURIComponent(id)}`;
}

function sessionPath(id: string): string {
  return `/v1/sessions/${encodeURIComponent(id)}`;
}

/** `?limit=…&cursor=…` and any other filters given, or '' when there are none. */
function pageQuery(options: PageOptions, filters: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value !== undefined) query.set(name, value);
  if (options.limit !== undefined) query.set('limit', String(options.limit));
  if (options.cursor !== undefined) query.set('cursor', options.cursor);
  return query.size > 0 ? `?${query}` : '';
}

/** Every item of every page, following `next_cursor` to the last page. */
async function* everyItem<T>(page: (cursor: string | undefined) => Promise<{ data: T[]; next_cursor: string | null }>): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  do {
    const { data, next_cursor } = await page(cursor);
    yield* data;
    cursor = next_cursor ?? undefined;
  } while (cursor);
}

function isIterable(value: object): value is BatchRequestItems {
  return Symbol.iterator in value || Symbol.asyncIterator in value;
}

/** fetch's "fetch failed" says little; the reason is in its cause (ECONNREFUSED, …). */
function describeCause(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
