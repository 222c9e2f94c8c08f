/**
 * A delivery attempt that failed in a way a later attempt may not (5xx, 3xx, 4xx other
 * than 410, a network error, a timeout): the webhooks Worker's backoffStrategy reads
 * the receiver's Retry-After from it.
 */
export class DeliveryFailedError extends Error {
  override readonly name = 'DeliveryFailedError';
  readonly code = 'delivery_failed';
  constructor(
    message: string,
    /** The receiver's Retry-After, in ms; null when it sent none. */
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}
