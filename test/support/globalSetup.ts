/**
 * Starts a private redis-server on a free port for the whole run; the suite never
 * touches a Redis on 6379. Tests read its URL with `inject('redisUrl')`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type {} from './env.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let redis: ChildProcess | undefined;
let dir: string | undefined;

export async function setup(project: TestProject) {
  dir = await mkdtemp(path.join(tmpdir(), 'cq-test-redis-'));
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    redis!.once('error', (err) =>
      reject(new Error(`cannot start redis-server (${err.message}); install it: sudo apt-get install redis-server`)),
    );
    redis!.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve();
    });
    redis!.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  project.provide('redisUrl', `redis://127.0.0.1:${port}`);
  project.provide('redisPort', port);
}

export async function teardown() {
  redis?.kill('SIGTERM');
  if (dir) await rm(dir, { recursive: true, force: true });
}
