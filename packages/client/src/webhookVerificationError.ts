/** A webhook delivery that must not be trusted: verifyWebhook() found it unsigned, forged, stale or malformed. */

export type WebhookVerificationCode =
  /** A `webhook-id`, `webhook-timestamp` or `webhook-signature` header is missing. */
  | 'missing_headers'
  /** `webhook-timestamp` is not whole seconds since the epoch. */
  | 'invalid_timestamp'
  /** Signed longer ago than the tolerance: possibly a replay. */
  | 'timestamp_too_old'
  /** Signed further in the future than the tolerance. */
  | 'timestamp_too_new'
  /** No `v1` signature in the header matches the body under this secret. */
  | 'invalid_signature';

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly code: WebhookVerificationCode,
    message: string,
  ) {
    super(message);
  }
}
