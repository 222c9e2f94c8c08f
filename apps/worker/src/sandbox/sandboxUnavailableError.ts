/**
 * The worker can't sandbox its runs (SANDBOX=bubblewrap): a missing program, user
 * namespaces the kernel or the container forbids. The message says what is missing
 * and how to fix it; the worker refuses to start rather than run jobs unsandboxed.
 */
export class SandboxUnavailableError extends Error {
  override readonly name = 'SandboxUnavailableError';
  readonly code = 'sandbox_unavailable';
}
