/**
 * An address the SSRF guard refuses (ssrf.ts): a webhook's, or a host a sandboxed run
 * asked to reach. Never retried: the address won't become public by waiting.
 */
export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError';
  readonly code = 'address_blocked';
}
