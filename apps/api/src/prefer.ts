/** RFC 7240 `Prefer: wait=N`: how long the client will wait for a final answer. */

/** The longest wait honoured, in seconds. */
export const MAX_WAIT_SECONDS = 60;

/** One `wait=N` preference, among the header's comma- or semicolon-separated ones; `name` matches `wait`. */
const waitPreference = (name: string) => String.raw`\s*${name}\s*=\s*"?(\d{1,6})"?\s*`;
const WAIT_TOKEN = new RegExp(`^${waitPreference('wait')}$`, 'i');

/**
 * A whole `Prefer` header with a `wait=N` among its preferences, for the OpenAPI
 * document (JSON Schema patterns have no `i` flag, so the name is caseless by hand).
 */
export const PREFER_WAIT_PATTERN = `^(.*[,;])?${waitPreference('[Ww][Aa][Ii][Tt]')}([,;].*)?$`;

/** The wait asked for, capped at MAX_WAIT_SECONDS; null when none (or malformed). */
export function preferredWait(header: string | undefined): number | null {
  if (!header) return null;
  for (const token of header.split(/[,;]/)) {
    const m = WAIT_TOKEN.exec(token);
    if (m) return Math.min(Number(m[1]), MAX_WAIT_SECONDS);
  }
  return null;
}
