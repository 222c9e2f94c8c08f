/**
 * Which hosts a sandboxed run may open connections to (apps/worker/src/sandbox): the
 * operator's SANDBOX_ALLOWED_HOSTS and the hosts of the MCP servers a job declares.
 *
 *   example.com          that host, on ports 80 and 443
 *   example.com:8443     that host, on that port only
 *   *.example.com        every subdomain of example.com (not example.com itself), 80 and 443
 *   10.0.0.7:5432        an IP literal; IPv6 in brackets: [2001:db8::1]:443
 *
 * Names are compared lower-case, without a trailing dot.
 */

export interface HostRule {
  /** The host, lower-case; for a wildcard, the suffix after `*.`. */
  host: string;
  wildcard: boolean;
  /** null: 80 and 443. */
  port: number | null;
}

const NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const DEFAULT_PORTS = [80, 443];

/** A rule from its text, or an Error that says what is wrong with it. */
export function parseHostRule(text: string): HostRule | Error {
  const trimmed = text.trim().toLowerCase().replace(/\.$/, '');
  let host = trimmed;
  let port: number | null = null;
  const v6 = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(trimmed);
  const withPort = /^(.*):(\d+)$/.exec(trimmed);
  if (v6) {
    host = v6[1]!;
    port = v6[2] === undefined ? null : Number(v6[2]);
  } else if (withPort) {
    host = withPort[1]!;
    port = Number(withPort[2]);
  }
  if (port !== null && (port < 1 || port > 65535)) return new Error(`${JSON.stringify(text)}: port must be 1 to 65535`);
  if (!v6 && !NAME.test(host)) return new Error(`${JSON.stringify(text)}: must be host, host:port or *.domain`);
  const wildcard = host.startsWith('*.');
  return { host: wildcard ? host.slice(2) : host, wildcard, port };
}

/** The rule that lets a run reach the host of an http(s) URL (an MCP server's): that host and port only. */
export function hostRuleOfUrl(url: URL): HostRule {
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, ''), wildcard: false, port };
}

export function matchesHostRule(rule: HostRule, host: string, port: number): boolean {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (rule.port === null ? !DEFAULT_PORTS.includes(port) : rule.port !== port) return false;
  return rule.wildcard ? name.endsWith(`.${rule.host}`) : name === rule.host;
}

export function formatHostRule(rule: HostRule): string {
  const host = rule.host.includes(':') ? `[${rule.host}]` : rule.host;
  return `${rule.wildcard ? '*.' : ''}${host}${rule.port === null ? '' : `:${rule.port}`}`;
}
