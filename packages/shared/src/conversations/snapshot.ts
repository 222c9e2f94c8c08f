/**
 * A conversation folder as one buffer and back: every directory and regular file below
 * it (paths relative to it, modes kept), gzip-compressed. Symbolic links and special
 * files are left out: a run's folders hold none the CLI needs, and a link restored on
 * another machine could point anywhere.
 *
 * Layout before compression: a JSON header line `{"entries":[{"p","m","s"}…]}` (path,
 * mode, size; size -1 for a directory), then the files' bytes one after the other.
 */
import { lstat, mkdir, readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

interface Entry {
  p: string;
  m: number;
  s: number;
}

export class SnapshotTooLargeError extends Error {
  override readonly name = 'SnapshotTooLargeError';
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`the conversation holds ${bytes} bytes, more than SESSION_MAX_BYTES (${maxBytes})`);
  }
}

export interface Snapshot {
  /** Compressed. */
  data: Buffer;
  /** The files' bytes before compression: what SESSION_MAX_BYTES bounds. */
  bytes: number;
}

/**
 * Packs `root` (only its top-level entries named in `include`, when given); refuses
 * (SnapshotTooLargeError) past `maxBytes` of file contents, without reading further.
 */
export async function packFolder(root: string, maxBytes: number, include?: readonly string[]): Promise<Snapshot> {
  const entries: Entry[] = [];
  const contents: Buffer[] = [];
  let bytes = 0;
  async function walk(rel: string): Promise<void> {
    const listed = await readdir(path.join(root, rel)).catch((err: NodeJS.ErrnoException) => {
      // A conversation whose run wrote nothing (a runner that makes no folder) is empty.
      if (err.code === 'ENOENT' && rel === '') return [];
      throw err;
    });
    const names = listed.sort().filter((n) => rel || !include || include.includes(n));
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      const st = await lstat(path.join(root, relPath));
      if (st.isDirectory()) {
        entries.push({ p: relPath, m: st.mode & 0o7777, s: -1 });
        await walk(relPath);
      } else if (st.isFile()) {
        bytes += st.size;
        if (bytes > maxBytes) throw new SnapshotTooLargeError(bytes, maxBytes);
        const data = await readFile(path.join(root, relPath));
        entries.push({ p: relPath, m: st.mode & 0o7777, s: data.length });
        contents.push(data);
      }
    }
  }
  await walk('');
  const header = Buffer.from(`${JSON.stringify({ entries })}\n`);
  return { data: await gzipAsync(Buffer.concat([header, ...contents])), bytes };
}

/** Unpacks a snapshot into `root` (which should be empty). */
export async function unpackFolder(data: Buffer, root: string): Promise<void> {
  const raw = await gunzipAsync(data);
  const newline = raw.indexOf(0x0a);
  const { entries } = JSON.parse(raw.subarray(0, newline).toString()) as { entries: Entry[] };
  await mkdir(root, { recursive: true });
  let offset = newline + 1;
  const dirs: Array<[string, number]> = [];
  for (const e of entries) {
    const target = path.resolve(root, e.p);
    // Paths come from our own snapshots; a path leaving the root is refused all the same.
    if (!target.startsWith(`${path.resolve(root)}${path.sep}`)) throw new Error(`snapshot entry outside its folder: ${e.p}`);
    if (e.s < 0) {
      await mkdir(target, { recursive: true });
      dirs.push([target, e.m]);
      continue;
    }
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, raw.subarray(offset, offset + e.s), { mode: e.m });
    offset += e.s;
  }
  // Directories' own modes last, deepest first: a read-only one must not stop its files.
  for (const [dir, mode] of dirs.reverse()) await chmod(dir, mode);
}
