/** Where `cq` reads a batch from and writes results to: a file, or "-" / nothing for stdin / stdout. */
import { open } from 'node:fs/promises';
import type { CliIo } from './command.js';
import { UsageError } from './usageError.js';

export interface Input {
  /** "stdin" or the path, for messages. */
  name: string;
  chunks: AsyncIterable<string | Uint8Array>;
  close(): Promise<void>;
}

/** Opens the file now, so a wrong path is a usage error before anything is sent. */
export async function openInput(path: string, io: CliIo): Promise<Input> {
  if (path === '-') {
    if (!io.stdin) throw new UsageError('"-" reads the batch from stdin, which is not available here');
    return { name: 'stdin', chunks: io.stdin, close: async () => undefined };
  }
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${path}: ${err.code ?? err.message}`);
  });
  const stream = handle.createReadStream();
  return {
    name: path,
    chunks: stream,
    close: async () => {
      stream.destroy();
      await handle.close().catch(() => undefined);
    },
  };
}

export interface Output {
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

/** Text gathered before one write: a line per write would be slow for 10,000 results. */
const FLUSH_CHARS = 64 * 1024;

/** Opens (truncates) the file now, so a wrong path fails before a long wait; without a path, stdout. */
export async function openOutput(path: string | undefined, io: CliIo): Promise<Output> {
  if (path === undefined) {
    return { write: async (text) => void io.stdout.write(text), close: async () => undefined };
  }
  const handle = await open(path, 'w').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot write ${path}: ${err.code ?? err.message}`);
  });
  let pending = '';
  const flush = async () => {
    if (pending) await handle.write(pending);
    pending = '';
  };
  return {
    async write(text) {
      pending += text;
      if (pending.length >= FLUSH_CHARS) await flush();
    },
    async close() {
      try {
        await flush();
      } finally {
        await handle.close();
      }
    },
  };
}
