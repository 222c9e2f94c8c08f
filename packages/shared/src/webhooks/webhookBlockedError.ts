/** A webhook URL whose address the SSRF guard refuses (ssrf.ts): never retried. */
export class WebhookBlockedError extends Error {
  override readonly name = 'WebhookBlockedError';
  readonly code = 'webhook_blocked';
}
