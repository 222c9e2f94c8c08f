/** RFC 7240 `Prefer: wait=N`: how long the client will wait for a final answer. */

/** The longest wait honoured, in seconds. */
export const MAX_WAIT_SECONDS = 60;

/** The wait asked for, capped at MAX_WAIT_SECONDS; null when none (or malformed). */
export function preferredWait(header: string | undefined): number | null {
  if (!header) return null;
  for (const token of header.split(/[,;]/)) {
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(token);
    if (m) return Math.min(Number(m[1]), MAX_WAIT_SECONDS);
  }
  return null;
}
