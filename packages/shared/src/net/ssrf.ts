/**
 * URLs chosen by tenants (webhooks, the MCP servers of a job) are reached from inside
 * the deployment's network: without a guard, a job could make a worker talk to Redis on
 * 127.0.0.1, to the cloud metadata service on 169.254.169.254, or to anything else only
 * the worker can reach (SSRF). So by default only public addresses are reached.
 *
 * Two checks, the same rule:
 * - `checkPublicUrl`, early (submit, PATCH of a tenant's default): refuses what is
 *   knowable then, an IP literal or a name that resolves only to blocked addresses.
 * - `createGuardedLookup`, the `lookup` of the socket that connects (a webhook delivery,
 *   the sandbox's egress proxy): the address checked is the address connected to, so a
 *   name that resolved to a public address at submit and to 127.0.0.1 now (DNS
 *   rebinding) is still refused. Node skips `lookup` for IP literals, so callers check
 *   those with `blockedAddressReason` themselves.
 *
 * WEBHOOK_ALLOW_PRIVATE and MCP_ALLOW_PRIVATE (tests, local development) lift both.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { BlockedAddressError } from './blockedAddressError.js';

export interface AddressCheckOptions {
  /** WEBHOOK_ALLOW_PRIVATE or MCP_ALLOW_PRIVATE: allow any address (default: false). */
  allowPrivate: boolean;
}

/** What a tenant's URL can be for, and the setting that lets it reach non-public addresses. */
const PRIVATE_ADDRESS_SETTINGS = {
  webhooks: 'WEBHOOK_ALLOW_PRIVATE',
  'MCP servers': 'MCP_ALLOW_PRIVATE',
} as const;
export type UrlPurpose = keyof typeof PRIVATE_ADDRESS_SETTINGS;

/**
 * The end of every refusal of a non-public address: the rule, and the setting that lifts
 * it, so whoever runs the deployment (often the caller, in development) knows what to set.
 */
export function publicOnlyRule(purpose: UrlPurpose): string {
  return `${purpose} go to public addresses only (${PRIVATE_ADDRESS_SETTINGS[purpose]}=true allows others: tests, local development)`;
}

export interface PublicUrlCheckOptions extends AddressCheckOptions {
  /** What the URL is for, as the refusal names it (default: `webhooks`). */
  purpose?: UrlPurpose;
}

export type PublicUrlCheck = { ok: true } | { ok: false; reason: string };

type Range = [name: string, first: number[], prefixBits: number];

/** IPv4 ranges that are not the public internet (IANA special-purpose registry). */
const V4_BLOCKED: Range[] = [
  ['unspecified ("this network")', [0, 0, 0, 0], 8],
  ['private', [10, 0, 0, 0], 8],
  ['shared address space (CGNAT)', [100, 64, 0, 0], 10],
  ['loopback', [127, 0, 0, 0], 8],
  ['link-local (cloud metadata)', [169, 254, 0, 0], 16],
  ['private', [172, 16, 0, 0], 12],
  ['IETF protocol assignments', [192, 0, 0, 0], 24],
  ['documentation', [192, 0, 2, 0], 24],
  ['6to4 relay anycast', [192, 88, 99, 0], 24],
  ['private', [192, 168, 0, 0], 16],
  ['benchmarking', [198, 18, 0, 0], 15],
  ['documentation', [198, 51, 100, 0], 24],
  ['documentation', [203, 0, 113, 0], 24],
  ['multicast', [224, 0, 0, 0], 4],
  ['reserved (and broadcast)', [240, 0, 0, 0], 4],
];

/**
 * Within 2000::/3, the only IPv6 space that is global unicast today, the ranges that
 * are not (everything outside 2000::/3 is refused: loopback, unspecified, unique local
 * fc00::/7 with the fd00:ec2::254 metadata address, link-local, multicast, …).
 */
const V6_GLOBAL_BLOCKED: Range[] = [
  ['IETF protocol assignments (incl. Teredo)', [0x20, 0x01, 0x00], 23],
  ['documentation', [0x20, 0x01, 0x0d, 0xb8], 32],
  ['documentation', [0x3f, 0xff, 0x00], 20],
];

function inRange(bytes: number[], [, first, bits]: Range): boolean {
  for (let i = 0; i < first.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== (first[i]! & mask)) return false;
  }
  return true;
}

function v4Reason(bytes: number[]): string | null {
  const hit = V4_BLOCKED.find((r) => inRange(bytes, r));
  return hit ? `${bytes.join('.')} is ${hit[0]}` : null;
}

/** The 16 bytes of an IPv6 address (without brackets or zone), or null if malformed. */
function parseV6(text: string): number[] | null {
  let s = text;
  let tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    if (isIP(dotted[1]!) !== 4) return null;
    tail = dotted[1]!.split('.').map(Number);
    s = s.slice(0, -dotted[1]!.length) + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string | undefined) => (h ? h.split(':') : []);
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  if (fill < 0 || head.length + fill + rest.length !== 8) return null;
  const all = [...head, ...Array<string>(fill).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/**
 * Why an address may not be called, or null when it is a public one. IPv6 addresses
 * that carry an IPv4 address the packet really goes to (IPv4-mapped ::ffff:a.b.c.d,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that IPv4 address.
 */
export function blockedAddressReason(address: string): string | null {
  const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(ip);
  if (family === 4) return v4Reason(ip.split('.').map(Number));
  if (family !== 6) return `${address} is not an IP address`;
  const b = parseV6(ip);
  if (!b) return `${address} is not an IP address`;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4Reason(b.slice(12));
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return v4Reason(b.slice(12));
  if (b[0] === 0x20 && b[1] === 0x02) return v4Reason(b.slice(2, 6));
  if ((b[0]! & 0xe0) !== 0x20) {
    if (zeros(0, 15) && b[15] === 1) return `${address} is loopback`;
    if (zeros(0, 16)) return `${address} is unspecified`;
    if ((b[0]! & 0xfe) === 0xfc) return `${address} is unique local (private)`;
    if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return `${address} is link-local`;
    if (b[0] === 0xff) return `${address} is multicast`;
    return `${address} is not global unicast`;
  }
  const hit = V6_GLOBAL_BLOCKED.find((r) => inRange(b, r));
  return hit ? `${address} is ${hit[0]}` : null;
}

/** The URL's host as an IP literal (brackets removed), or null for a name. */
export function ipLiteralOf(url: URL): string | null {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? host : null;
}

function resolveAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
}

/**
 * Whether a tenant's URL may be used, as far as can be known before calling it: an
 * http(s) URL whose host is a public IP literal, or a name that resolves to at least
 * one public address. A name that does not resolve now is accepted (it may later; the
 * call then fails like any unreachable host). The caller checks again when it
 * connects (`createGuardedLookup`).
 */
export async function checkPublicUrl(url: string, options: PublicUrlCheckOptions): Promise<PublicUrlCheck> {
  const only = publicOnlyRule(options.purpose ?? 'webhooks');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return { ok: false, reason: 'must be an http(s) URL' };
  if (options.allowPrivate) return { ok: true };
  const literal = ipLiteralOf(parsed);
  if (literal) {
    const reason = blockedAddressReason(literal);
    return reason ? { ok: false, reason: `${reason}: ${only}` } : { ok: true };
  }
  let addresses: LookupAddress[];
  try {
    addresses = await resolveAll(parsed.hostname);
  } catch {
    return { ok: true };
  }
  const reasons = addresses.map((a) => blockedAddressReason(a.address));
  if (addresses.length > 0 && reasons.every((r) => r !== null)) {
    // Which addresses, stays here: the answer must not map the deployment's internal DNS.
    return { ok: false, reason: `${parsed.hostname} resolves only to non-public addresses: ${only}` };
  }
  return { ok: true };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/http sockets that resolves as usual, then drops every blocked
 * address; with none left the connection fails with BlockedAddressError. Node asks for
 * `all: true` when it tries several addresses (autoSelectFamily) and for one otherwise;
 * both get only allowed addresses.
 */
export function createGuardedLookup(options: AddressCheckOptions) {
  return (hostname: string, lookupOptions: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const allowed = options.allowPrivate ? addresses : addresses.filter((a) => blockedAddressReason(a.address) === null);
      if (allowed.length === 0) {
        // Not which addresses: the message reaches the tenant (its delivery log), and must
        // not map the deployment's internal DNS.
        return callback(new BlockedAddressError(`${hostname} resolves only to blocked (non-public) addresses`), []);
      }
      if (lookupOptions.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}
