/**
 * How long a process takes to stop on SIGTERM, at most: one rule for the processes
 * themselves (apps/api/src/main.ts, apps/worker/src/main.ts) and for whoever waits for
 * them (`npm start`'s launcher kills only a process past this deadline).
 */

/**
 * After its grace period, how long a process may spend closing its Redis connections
 * before it exits anyway: closing waits for Redis, which may be away.
 */
export const CLOSE_TIMEOUT_MS = 15_000;

/** From SIGTERM to exit at the latest: SHUTDOWN_GRACE_MS for work in flight, then closing. */
export function stopDeadlineMs(config: { SHUTDOWN_GRACE_MS: number }): number {
  return config.SHUTDOWN_GRACE_MS + CLOSE_TIMEOUT_MS;
}
