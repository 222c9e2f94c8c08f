/**
 * A sandboxed run's processes as the host sees them: the descendants of the process the
 * worker spawned (bwrap), found through /proc/<pid>/task/<tid>/children. Used to tell a
 * pooled process's own few processes from strays a job left behind, and to read its memory.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface TreeProcess {
  pid: number;
  /** The executable's name (`/proc/<pid>/comm`). */
  name: string;
  rssBytes: number;
}

function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (child) out.push(Number(child));
    } catch {
      // the task ended while we looked
    }
  }
  return out;
}

function describe(pid: number): TreeProcess | null {
  try {
    const name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { pid, name, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
  } catch {
    return null;
  }
}

/** The process and all its descendants that are still there. */
export function processTree(root: number): TreeProcess[] {
  const out: TreeProcess[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const p = describe(pid);
    if (!p) continue;
    out.push(p);
    queue.push(...childrenOf(pid));
  }
  return out;
}
