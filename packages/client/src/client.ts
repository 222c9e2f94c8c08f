/**
 * The claude-queue HTTP API from TypeScript, on Node 20's own fetch: no runtime
 * dependencies and no server code. Every non-2xx answer becomes a ClaudeQueueError
 * with the API's stable `code`.
 */
import { ClaudeQueueError, isTransient } from './claudeQueueError.js';
import { followJobEvents, type EventsOptions } from './followJobEvents.js';
import { sleep } from './sleep.js';
import { isFinal, type Job, type JobEvent, type JobPage, type JobRequest, type JobStatus } from './types.js';

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

export interface ListOptions {
  status?: JobStatus;
  /** Jobs per page, 1–100 (default: the API's, 20). */
  limit?: number;
  /** A `next_cursor` from an earlier page. */
  cursor?: string;
  signal?: AbortSignal;
}

/** The longest long-poll the API grants (apps/api/src/prefer.ts). */
const MAX_WAIT_SECONDS = 60;
/** wait() rides out a restart or a proxy hiccup this many times in a row before it gives up. */
const WAIT_RETRIES = 5;
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
        await sleep(Math.min(MIN_POLL_INTERVAL_MS * failures, deadline - Date.now()), options.signal);
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
    const query = new URLSearchParams();
    if (options.status !== undefined) query.set('status', options.status);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const qs = query.size > 0 ? `?${query}` : '';
    return this.json<JobPage>('GET', `/v1/jobs${qs}`, { signal: options.signal });
  }

  /** Every job, newest first, page after page (`limit` is the page size). */
  async *listAll(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Job, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...options, cursor });
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
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
    let body: string | undefined;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.baseUrl + path, { method, headers, body, signal: init.signal });
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
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

function jobPath(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`;
}

/** fetch's "fetch failed" says little; the reason is in its cause (ECONNREFUSED, …). */
function describeCause(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
