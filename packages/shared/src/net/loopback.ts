/** Whether a listener's host is reachable from this machine only. */
import { isIPv4 } from 'node:net';

/**
 * `localhost`, 127.0.0.0/8, `::1` and IPv4-mapped loopback: an address no other machine
 * reaches. Anything else (`0.0.0.0`, `::`, a hostname, an interface's address) is not.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith('127.');
}
