/**
 * `Authorization: Bearer <token>`, the one scheme the API's keys, ADMIN_TOKEN and
 * METRICS_TOKEN are sent with: parsed here, and compared in constant time here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The token of an `Authorization` header value, or null when it is missing or not a Bearer. */
export function bearerToken(authorization: string | undefined): string | null {
  const m = BEARER.exec(authorization ?? '');
  return m ? m[1]! : null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * A check of an `Authorization` header against one secret token, in constant time
 * (both sides hashed first, so neither the token's content nor its length leaks).
 */
export function bearerMatches(expected: string): (authorization: string | undefined) => boolean {
  const want = digest(expected);
  return (authorization) => {
    const token = bearerToken(authorization);
    return token !== null && timingSafeEqual(digest(token), want);
  };
}
