/**
 * `npm run bench:conversations`: what saving a conversation after a turn and restoring
 * it before the next costs (apps/worker/src/conversations), for a small conversation (a
 * transcript and a few files) and a 5 MB workspace, against Redis on loopback. Save is
 * pack + gzip + write; restore is read + gunzip + unpack into an empty folder (a worker
 * that has not seen the conversation). Medians of 9 rounds each.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { conversationPaths, createKeys, RedisConversationStore } from '@claude-queue/shared';
import { ConversationSync } from '../apps/worker/src/conversations/conversationSync.js';
import { startRedisServer } from '../test/support/redisServer.js';

export interface ConversationBenchRow {
  name: string;
  files: number;
  bytes: number;
  storedBytes: number;
  saveMs: number;
  restoreMs: number;
}

/** Text a model writes (source code, notes): compressible, not repetitive. */
function textOf(bytes: number): string {
  const words = ['const', 'value', 'return', 'function', 'the', 'result', 'of', 'await', 'export', 'import', 'if', 'else', 'data', 'file'];
  let out = '';
  while (out.length < bytes) out += `${words[randomBytes(1)[0]! % words.length]}${randomBytes(1)[0]! % 7 === 0 ? '\n' : ' '}`;
  return out.slice(0, bytes);
}

async function fill(root: string, shape: 'small' | 'large'): Promise<number> {
  const transcript = path.join(root, 'home', '.claude', 'projects', '-workspace');
  await mkdir(transcript, { recursive: true });
  await writeFile(path.join(transcript, 'session.jsonl'), textOf(shape === 'small' ? 12_000 : 60_000));
  await writeFile(path.join(root, 'home', '.claude.json'), textOf(2_000));
  const ws = path.join(root, 'workspace');
  await mkdir(path.join(ws, 'src'), { recursive: true });
  if (shape === 'small') {
    for (let i = 0; i < 3; i++) await writeFile(path.join(ws, `note-${i}.md`), textOf(2_000));
    return 5;
  }
  // 5 MB: 200 source files of 20 KB, and 1 MB of binary that does not compress.
  for (let i = 0; i < 200; i++) await writeFile(path.join(ws, 'src', `file-${i}.ts`), textOf(20_000));
  await writeFile(path.join(ws, 'blob.bin'), randomBytes(1_000_000));
  return 203;
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runConversationBench(): Promise<ConversationBenchRow[]> {
  const server = await startRedisServer();
  const redis = new Redis(server.url);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-bench-conv-'));
  try {
    const sync = new ConversationSync(new RedisConversationStore(redis, createKeys('benchconv'), 3600), 64 * 1024 * 1024);
    const rows: ConversationBenchRow[] = [];
    for (const shape of ['small', 'large'] as const) {
      const from = conversationPaths(dataDir, 'tenant', `from-${shape}`);
      const files = await fill(from.root, shape);
      const saves: number[] = [];
      const restores: number[] = [];
      let saved = { bytes: 0, storedBytes: 0 };
      for (let i = 0; i < 9; i++) {
        let t = performance.now();
        saved = await sync.save('tenant', `from-${shape}`, from);
        saves.push(performance.now() - t);
        const to = conversationPaths(dataDir, 'tenant', `to-${shape}-${i}`);
        // Another worker: the stored version under this conversation's id, restored into an empty folder.
        await sync.save('tenant', `to-${shape}-${i}`, from);
        await rm(to.root, { recursive: true, force: true });
        t = performance.now();
        await sync.restore('tenant', `to-${shape}-${i}`, to);
        restores.push(performance.now() - t);
      }
      rows.push({ name: shape === 'small' ? 'small: a transcript and 3 notes' : '5 MB workspace: 200 source files and 1 MB binary', files, bytes: saved.bytes, storedBytes: saved.storedBytes, saveMs: median(saves), restoreMs: median(restores) });
    }
    return rows;
  } finally {
    redis.disconnect();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export function conversationBenchTable(rows: ConversationBenchRow[]): string {
  return [
    '| conversation | files | bytes | stored (gzip) | save per turn | restore on another worker |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.files} | ${r.bytes.toLocaleString('en-US')} | ${r.storedBytes.toLocaleString('en-US')} | ${r.saveMs.toFixed(1)} ms | ${r.restoreMs.toFixed(1)} ms |`),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(conversationBenchTable(await runConversationBench()));
}
