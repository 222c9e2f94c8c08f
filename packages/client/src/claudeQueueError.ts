/**
 * Every failed call to the API: an RFC 9457 problem+json answer with its stable
 * `code`, or (status 0) a request that got no answer at all. Branch on `code`, never
 * on the message.
 */

/** One field at fault in a request, as the API names it (`metadata`, `allowed_tools.2`). */
export interface FieldError {
  field: string;
  message: string;
}

/** Codes the client gives errors that are not the API's own answers. */
export type ClientErrorCode =
  /** No answer: connection refused or reset, DNS, TLS. */
  | 'network_error'
  /** An answer that is not problem+json (a proxy's error page, say). */
  | 'unexpected_response'
  /** The event stream kept dropping: more reconnects than allowed in a row. */
  | 'stream_failed';

export class ClaudeQueueError extends Error {
  override readonly name = 'ClaudeQueueError';
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  /** The API's stable code (`not_found`, `job_already_final`, `queue_full`, …) or a ClientErrorCode. */
  readonly code: string;
  /** What went wrong, for people. */
  readonly detail: string;
  /** For bad input: the first field at fault (all of them in `errors`). */
  readonly field: string | undefined;
  readonly errors: FieldError[];
  /** The answer's `Retry-After`, in seconds, when it had one (429, 503). */
  readonly retryAfterSeconds: number | undefined;

  constructor(init: {
    status: number;
    code: string;
    detail: string;
    field?: string | undefined;
    errors?: FieldError[] | undefined;
    retryAfterSeconds?: number | undefined;
    cause?: unknown;
  }) {
    super(init.status ? `${init.code} (${init.status}): ${init.detail}` : `${init.code}: ${init.detail}`, { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.field = init.field;
    this.errors = init.errors ?? [];
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  /** The error for a non-2xx answer; reads its body. */
  static async fromResponse(res: Response): Promise<ClaudeQueueError> {
    const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
    const retryAfterSeconds = Number.isFinite(retryAfter) ? retryAfter : undefined;
    const text = await res.text().catch(() => '');
    let body: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      // not JSON: described below by its status
    }
    if (body && typeof body.code === 'string') {
      return new ClaudeQueueError({
        status: res.status,
        code: body.code,
        detail: typeof body.detail === 'string' ? body.detail : String(body.title ?? res.statusText),
        field: typeof body.field === 'string' ? body.field : undefined,
        errors: Array.isArray(body.errors) ? (body.errors as FieldError[]) : undefined,
        retryAfterSeconds,
      });
    }
    return new ClaudeQueueError({
      status: res.status,
      code: 'unexpected_response',
      detail: `HTTP ${res.status} ${res.statusText}`.trim(),
      retryAfterSeconds,
    });
  }
}

/**
 * Answers a retry may fix: no answer at all, the API saying it is away or busy for now,
 * or a limit that lifts by itself (429: too many requests or open streams for now).
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ClaudeQueueError)) return false;
  return err.status === 0 || err.status === 429 || err.status === 502 || err.status === 503 || err.status === 504;
}

/** How long to wait before asking again: the answer's `Retry-After` if it gave one, else `fallbackMs`. */
export function retryDelayOf(err: unknown, fallbackMs: number): number {
  const seconds = err instanceof ClaudeQueueError ? err.retryAfterSeconds : undefined;
  return seconds !== undefined && seconds >= 0 ? Math.max(fallbackMs, seconds * 1000) : fallbackMs;
}
