/** A conversation folder packed and unpacked: what comes back, and what is refused. */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, expect, it } from 'vitest';
import { packFolder, SnapshotTooLargeError, unpackFolder } from './snapshot.js';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cq-snapshot-'));
  dirs.push(dir);
  return dir;
};

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

it('brings back every folder and file, with its bytes and mode; links stay behind', async () => {
  const from = await tempDir();
  await mkdir(path.join(from, 'workspace', 'src', 'deep'), { recursive: true });
  await mkdir(path.join(from, 'home', '.claude', 'projects'), { recursive: true });
  await writeFile(path.join(from, 'workspace', 'src', 'deep', 'a.bin'), Buffer.from([0, 1, 2, 255, 10, 13]));
  await writeFile(path.join(from, 'workspace', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(path.join(from, 'home', '.claude', 'projects', 's.jsonl'), '{"a":1}\n');
  await mkdir(path.join(from, 'workspace', 'empty'));
  await symlink('/etc/passwd', path.join(from, 'workspace', 'link'));
  await writeFile(path.join(from, 'not-included.txt'), 'left out');

  const snapshot = await packFolder(from, 1024 * 1024, ['workspace', 'home']);
  expect(snapshot.bytes).toBe(6 + 18 + 8);
  const to = await tempDir();
  await unpackFolder(snapshot.data, to);
  expect(await readFile(path.join(to, 'workspace', 'src', 'deep', 'a.bin'))).toEqual(Buffer.from([0, 1, 2, 255, 10, 13]));
  expect((await stat(path.join(to, 'workspace', 'run.sh'))).mode & 0o777).toBe(0o755);
  expect(await readFile(path.join(to, 'home', '.claude', 'projects', 's.jsonl'), 'utf8')).toBe('{"a":1}\n');
  expect((await stat(path.join(to, 'workspace', 'empty'))).isDirectory()).toBe(true);
  expect((await readdir(path.join(to, 'workspace'))).sort()).toEqual(['empty', 'run.sh', 'src']);
  expect(await readdir(to)).not.toContain('not-included.txt');
});

it('packs a folder that does not exist as an empty conversation', async () => {
  const missing = path.join(await tempDir(), 'never-made');
  const snapshot = await packFolder(missing, 1000, ['workspace', 'home']);
  expect(snapshot.bytes).toBe(0);
  const to = await tempDir();
  await unpackFolder(snapshot.data, to);
  expect(await readdir(to)).toEqual([]);
});

it('refuses a folder past the size limit, naming both sizes', async () => {
  const from = await tempDir();
  await writeFile(path.join(from, 'big'), Buffer.alloc(2000));
  const refused = await packFolder(from, 1000).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(SnapshotTooLargeError);
  expect((refused as Error).message).toBe('the conversation holds 2000 bytes, more than SESSION_MAX_BYTES (1000)');
});

it('refuses a snapshot whose entries would leave the folder', async () => {
  const evil = gzipSync(Buffer.concat([Buffer.from(`${JSON.stringify({ entries: [{ p: '../escaped', m: 0o644, s: 3 }] })}\n`), Buffer.from('bad')]));
  const to = await tempDir();
  await expect(unpackFolder(evil, path.join(to, 'root'))).rejects.toThrow('outside its folder');
  expect(await readdir(to)).toEqual(['root']);
});
