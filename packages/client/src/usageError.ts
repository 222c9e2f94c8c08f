/** A `cq` command given wrongly (a missing argument, a bad option, an unreadable file): exit 2 with usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
