/**
 * The receiving side of Standard Webhooks (https://www.standardwebhooks.com), as the
 * API's deliveries are signed: `webhook-signature` holds one or more space-separated
 * `v1,<base64 HMAC-SHA256>` of `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with
 * the base64-decoded part of the `whsec_…` secret. Several signatures appear while a
 * secret is being rotated; any one that matches will do.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookPayload } from './types.js';
import { WebhookVerificationError } from './webhookVerificationError.js';

const SECRET_PREFIX = 'whsec_';

/** A fetch `Headers`, or Node's `req.headers` (any case; a repeated header's first value counts). */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way, in seconds (default: 300). */
  toleranceSeconds?: number;
  /** The current time, ms since the epoch (default: Date.now()). For tests. */
  now?: number;
}

/**
 * Checks a delivery and returns its body parsed as JSON (a WebhookPayload); throws a
 * WebhookVerificationError if it is not authentic and fresh. `body` must be the raw
 * bytes or text as received: JSON parsed and serialized again won't match.
 */
export function verifyWebhook<T = WebhookPayload>(secret: string, headers: WebhookHeaders, body: string | Uint8Array, options: VerifyWebhookOptions = {}): T {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError('missing_headers', 'webhook-id, webhook-timestamp and webhook-signature are all required');
  }

  if (!/^\d{1,15}$/.test(timestamp)) throw new WebhookVerificationError('invalid_timestamp', 'webhook-timestamp is not seconds since the epoch');
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  const signedAt = Number(timestamp);
  if (signedAt < nowSeconds - toleranceSeconds) throw new WebhookVerificationError('timestamp_too_old', 'the delivery was signed too long ago');
  if (signedAt > nowSeconds + toleranceSeconds) throw new WebhookVerificationError('timestamp_too_new', 'the delivery is signed in the future');

  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  let matched = false;
  for (const signature of signatures.split(' ')) {
    const comma = signature.indexOf(',');
    if (comma < 0 || signature.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(signature.slice(comma + 1), 'base64');
    // timingSafeEqual needs equal lengths; a length says nothing about the key.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError('invalid_signature', 'no signature matches this body and secret');

  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return JSON.parse(text) as T;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = name in record ? name : Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}
