/**
 * One HTTP POST to a webhook receiver, through Node's http/https with the SSRF guard
 * as the socket's `lookup` (the address checked is the address connected to) and IP
 * literals checked before connecting (Node does not call `lookup` for them). No
 * redirects are followed: a 3xx is an answer like any other non-2xx. No keep-alive
 * (`agent: false`): receivers are many and seldom called twice in a row.
 */
import http from 'node:http';
import https from 'node:https';
import { blockedAddressReason, createGuardedLookup, ipLiteralOf, BlockedAddressError } from '@claude-queue/shared';
import { parseRetryAfter } from './retrySchedule.js';

export interface SendWebhookOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** WEBHOOK_TIMEOUT_MS: from the request's start until the answer's status line. */
  timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE. */
  allowPrivate: boolean;
}

export type SendOutcome =
  | { kind: 'answered'; status: number; retryAfterMs: number | null }
  | { kind: 'blocked'; reason: string }
  /** No answer: a network error code (ECONNREFUSED, ENOTFOUND, …) or `timeout`. */
  | { kind: 'error'; error: string };

export type SendResult = SendOutcome & { durationMs: number };

/** Bytes of an answer's body read (and dropped) before the connection is closed. */
const MAX_ANSWER_BYTES = 64 * 1024;

export function sendWebhook(options: SendWebhookOptions): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    return Promise.resolve({ kind: 'error', error: 'invalid_url', durationMs: 0 });
  }
  const literal = ipLiteralOf(url);
  const literalReason = literal && !options.allowPrivate ? blockedAddressReason(literal) : null;
  if (literalReason) return Promise.resolve({ kind: 'blocked', reason: literalReason, durationMs: 0 });

  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: SendOutcome) => {
      if (settled) return;
      settled = true;
      resolve({ ...outcome, durationMs: elapsed() });
    };
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body, 'utf8')) },
        agent: false,
        lookup: createGuardedLookup({ allowPrivate: options.allowPrivate }),
      },
      (res) => {
        settle({ kind: 'answered', status: res.statusCode ?? 0, retryAfterMs: parseRetryAfter(header(res.headers['retry-after'])) });
        // The answer's body means nothing to us: read a little so the receiver can
        // finish writing, then hang up.
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) request.destroy();
        });
        res.on('end', () => request.destroy());
        res.on('error', () => undefined);
      },
    );
    // One timer for the whole exchange: no answer by then is a timeout; an answer
    // still streaming its body by then is simply cut off.
    const timer = setTimeout(() => {
      settle({ kind: 'error', error: 'timeout' });
      request.destroy();
    }, options.timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof BlockedAddressError) settle({ kind: 'blocked', reason: err.message });
      else settle({ kind: 'error', error: err.code ?? 'network_error' });
    });
    request.end(options.body);
  });
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
