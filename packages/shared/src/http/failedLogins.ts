/**
 * The one rule against guessing credentials, for every check of one: ADMIN_TOKEN, tenant
 * API keys, board logins and METRICS_TOKEN, on the API and on workers' metrics port.
 *
 * A client address may fail `maxFailures` times in a window of `windowSeconds` (which
 * starts at its first failure); after that every credential it sends is refused, right
 * or wrong, until the window ends: `Retry-After` says when. Refusing right ones too is
 * what makes guessing pointless: an answer that differed would tell the guess was right.
 * Successes don't count, and don't reset the count (a login that works from an address
 * an attacker shares must not buy the attacker more guesses).
 *
 * The counts live in Redis, so every API process and worker of a deployment agrees.
 * IPv6 clients are counted by their /64, the block one subscriber usually holds.
 */
import { isIPv6 } from 'node:net';
import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';

export interface FailedLoginsOptions {
  redis: Redis;
  keys: Keys;
  /** Failures an address may have in one window (LOGIN_FAILURES_MAX). */
  maxFailures: number;
  /** How long a window lasts, from the first failure in it (LOGIN_FAILURES_WINDOW_SECONDS). */
  windowSeconds: number;
}

export interface FailedLogins {
  /** Seconds until `address` may send a credential again; 0 when it may now. */
  blockedForSeconds(address: string | undefined): Promise<number>;
  /** Counts one wrong or missing credential from `address`. */
  recordFailure(address: string | undefined): Promise<void>;
}

export function createFailedLogins(options: FailedLoginsOptions): FailedLogins {
  const { redis, keys, maxFailures, windowSeconds } = options;
  const keyOf = (address: string | undefined) => keys.failedLogins(clientGroupOf(address));
  return {
    async blockedForSeconds(address) {
      const key = keyOf(address);
      const [[, count], [, ttl]] = (await redis.multi().get(key).ttl(key).exec()) as [[null, string | null], [null, number]];
      if (Number(count ?? 0) < maxFailures) return 0;
      // A counter without expiry can't be (the window sets one with the first failure); be safe.
      return ttl > 0 ? ttl : windowSeconds;
    },
    async recordFailure(address) {
      const key = keyOf(address);
      // One step: the first failure starts the window; later ones don't stretch it.
      await redis.multi().incr(key).expire(key, windowSeconds, 'NX').exec();
    },
  };
}

/**
 * What failures are counted by: an IPv4 address (an IPv4-mapped IPv6 one as IPv4), or an
 * IPv6 address's /64; `unknown` for a socket that has none (already closed).
 */
export function clientGroupOf(address: string | undefined): string {
  if (!address) return 'unknown';
  const plain = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(plain);
  if (mapped) return mapped[1]!;
  if (!isIPv6(plain)) return plain;
  const [head = '', tail] = plain.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
