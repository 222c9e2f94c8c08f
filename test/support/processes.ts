import { readdirSync, readFileSync } from 'node:fs';

/** Whether a process still runs; a zombie waiting for its reaper has ended too. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false; // gone between the two looks
  }
}

/**
 * Pids of the live processes whose command line holds `marker`: a sandboxed run's
 * processes live in their own pid namespace, so its own pids mean nothing outside; the
 * fake CLI puts a marker in its command line and its grandchild's (fake-claude.mjs).
 */
export function processesWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker) && isAlive(Number(name))) pids.push(Number(name));
    } catch {
      // gone while we looked
    }
  }
  return pids;
}
