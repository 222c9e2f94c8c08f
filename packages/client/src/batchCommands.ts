/**
 * `cq batch …`: submit a file of JSON lines, follow the batch, fetch its results as
 * JSON lines. `submit --wait` and `wait` exit 0 only if every request succeeded.
 */
import { describeCounts, createProgressDisplay } from './batchProgress.js';
import { ClaudeQueueError } from './claudeQueueError.js';
import { openInput, openOutput } from './cliFiles.js';
import { JSON_FLAG, PAGE_FLAGS, listItems, printJson, stringValue, type CliIo, type Command, type CommandContext } from './command.js';
import type { ClaudeQueueClient } from './client.js';
import { readLines } from './jsonLines.js';
import type { Batch, BatchRequestItem } from './types.js';
import { UsageError } from './usageError.js';

const OUT_FLAG = { out: { type: 'string' } } as const;

export const BATCH_COMMANDS: Record<string, Command> = {
  'batch submit': {
    options: {
      ...JSON_FLAG,
      ...OUT_FLAG,
      wait: { type: 'boolean' },
      'webhook-url': { type: 'string' },
      'idempotency-key': { type: 'string' },
    },
    positionals: 1,
    run: submit,
  },
  'batch get': {
    options: JSON_FLAG,
    positionals: 1,
    async run({ client, arg, values, io }) {
      const batch = await client.getBatch(arg);
      if (values.json) printJson(io, batch);
      else io.stdout.write(`${summary(batch)}\n`);
      return 0;
    },
  },
  'batch wait': { options: OUT_FLAG, positionals: 1, run: ({ client, arg, values, io }) => waitAndWriteResults(client, arg, stringValue(values, 'out'), io) },
  'batch results': {
    options: OUT_FLAG,
    positionals: 1,
    async run({ client, arg, values, io }) {
      await writeResults(client, arg, stringValue(values, 'out'), io);
      return 0;
    },
  },
  'batch cancel': {
    options: JSON_FLAG,
    positionals: 1,
    async run({ client, arg, values, io }) {
      const batch = await client.cancelBatch(arg);
      if (values.json) printJson(io, batch);
      else io.stdout.write(`${batch.id} ${batch.status}\n`);
      return 0;
    },
  },
  'batch retry': {
    options: JSON_FLAG,
    positionals: 1,
    async run({ client, arg, values, io }) {
      const batch = await client.retryBatch(arg);
      if (values.json) printJson(io, batch);
      else io.stdout.write(`${batch.id} ${batch.status}: ${batch.retried} failed request(s) running again\n`);
      return 0;
    },
  },
  'batch list': {
    options: PAGE_FLAGS,
    positionals: 0,
    run: ({ client, values, io }) =>
      listItems<Batch>(values, io, {
        page: (options) => client.listBatches(options),
        all: (options) => client.listAllBatches(options),
        line: (batch) => `${summary(batch)}  ${batch.created_at}`,
        more: 'cq batch list',
        first: 'the newest batch',
      }),
  },
};

async function submit({ client, arg, values, io }: CommandContext): Promise<number> {
  const out = stringValue(values, 'out');
  if (!values.wait && out !== undefined) throw new UsageError('--out writes the results of --wait: add --wait, or use "cq batch results <id> --out …" later');
  if (values.wait && values.json) throw new UsageError('--json prints the batch as submitted; with --wait the output is its results');
  const webhookUrl = stringValue(values, 'webhook-url');
  const input = await openInput(arg, io);
  let batch: Batch;
  // The file line of each request sent, so the API's errors can name the file's lines.
  const fileLines: number[] = [];
  try {
    const requests = readRequests(input.name, input.chunks, fileLines);
    // One request drawn before anything is sent: an empty file is a usage error, not a 400.
    const first = await requests.next();
    if (first.done) throw new UsageError(`${input.name} holds no requests (one JSON object per line)`);
    const items = (async function* () {
      yield first.value;
      yield* requests;
    })();
    batch = await client
      .submitBatch({ requests: items, ...(webhookUrl !== undefined ? { webhook_url: webhookUrl } : {}) }, { idempotencyKey: stringValue(values, 'idempotency-key') })
      .catch((err: unknown) => {
        throw err instanceof ClaudeQueueError ? inFileLines(err, input.name, fileLines) : err;
      });
  } finally {
    await input.close();
  }
  if (!values.wait) {
    if (values.json) printJson(io, batch);
    else io.stdout.write(`${batch.id}\n`);
    return 0;
  }
  // stdout is for the results: the id goes with the progress.
  io.stderr.write(`batch ${batch.id}: ${batch.total} request(s)\n`);
  return waitAndWriteResults(client, batch.id, out, io);
}

/** Parsed requests, one per non-blank line; `fileLines` gets each one's line number. */
async function* readRequests(name: string, chunks: AsyncIterable<string | Uint8Array>, fileLines: number[]): AsyncGenerator<BatchRequestItem, void, undefined> {
  let lineNo = 0;
  for await (const line of readLines(chunks)) {
    lineNo++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UsageError(`${name} line ${lineNo} is not valid JSON`);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${name} line ${lineNo} is not a JSON object`);
    fileLines.push(lineNo);
    yield value as BatchRequestItem;
  }
}

/**
 * The API names a bad request by its place in what was sent (`line n` of the JSON
 * lines, `requests[i]` of a JSON body); blank lines were not sent, so say the file's line.
 */
function inFileLines(err: ClaudeQueueError, name: string, fileLines: number[]): ClaudeQueueError {
  if (err.errors.length === 0 && err.field === undefined) return err;
  const rename = (text: string) =>
    text
      .replace(/\bline (\d+)/g, (whole, n: string) => (fileLines[Number(n) - 1] === undefined ? whole : `${name} line ${fileLines[Number(n) - 1]}`))
      .replace(/\brequests\[(\d+)\]/g, (whole, i: string) => (fileLines[Number(i)] === undefined ? whole : `${name} line ${fileLines[Number(i)]}`));
  return new ClaudeQueueError({
    status: err.status,
    code: err.code,
    detail: rename(err.detail),
    field: err.field === undefined ? undefined : rename(err.field),
    errors: err.errors.map((e) => ({ field: rename(e.field), message: e.message })),
    retryAfterSeconds: err.retryAfterSeconds,
    cause: err,
  });
}

/** Progress on stderr until the batch ends, then its results; 0 only if every request succeeded. */
async function waitAndWriteResults(client: ClaudeQueueClient, id: string, out: string | undefined, io: CliIo): Promise<number> {
  // Opened before the wait: a path that can't be written fails now, not after an hour.
  const output = await openOutput(out, io);
  let batch: Batch;
  const progress = createProgressDisplay(io.stderr);
  try {
    batch = await client.waitForBatch(id, { onProgress: (b) => progress.show(b) });
  } catch (err) {
    await output.close();
    throw err;
  } finally {
    progress.end();
  }
  await copyResults(client, id, output);
  const { succeeded } = batch.request_counts;
  if (succeeded === batch.total) return 0;
  io.stderr.write(`cq: batch ${batch.id}: ${batch.total - succeeded} of ${batch.total} request(s) did not succeed (${describeCounts(batch)})\n`);
  return 1;
}

async function writeResults(client: ClaudeQueueClient, id: string, out: string | undefined, io: CliIo): Promise<void> {
  await copyResults(client, id, await openOutput(out, io));
}

async function copyResults(client: ClaudeQueueClient, id: string, output: Awaited<ReturnType<typeof openOutput>>): Promise<void> {
  try {
    for await (const line of client.batchResults(id)) await output.write(`${JSON.stringify(line)}\n`);
  } finally {
    await output.close();
  }
}

/** `<id>  ended  500/500 done (498 succeeded, 2 failed)` */
function summary(batch: Batch): string {
  return `${batch.id}  ${batch.status.padEnd(11)}  ${describeCounts(batch)}`;
}
