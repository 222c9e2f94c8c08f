/**
 * `cq`, the command line on top of the client: submit, get, tail, cancel, list.
 * Apart from cli.ts (which only calls this with the process's streams) so tests can
 * run it in-process. Exit codes: 0 ok, 1 the job failed or the API said no, 2 usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ClaudeQueueClient } from './client.js';
import { ClaudeQueueError } from './claudeQueueError.js';
import { isFinal, type Job, type JobStatus } from './types.js';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

export const USAGE = `Usage: cq <command> [options]

Commands:
  submit <prompt|->       Submit a prompt ("-" reads it from stdin); prints the job id
      --wait                  wait for the job and print its result text
      --json                  print the job object instead
      --model <name>          the model to run
      --session <id>          continue the conversation of an earlier result's session_id
      --idempotency-key <k>   a retried submit with the same key returns the same job
      --stream                stream the answer in small chunks to "cq tail"
  get <id> [--wait]       Print the job object (--wait: once it is final)
  tail <id> [--json]      Print the answer's text as it arrives, then the final status
                          (--json: every event as one JSON line)
  cancel <id> [--json]    Cancel a queued or running job
  list [--status <s>] [--limit <n>] [--cursor <c>] [--all] [--json]
                          List jobs, newest first (--all: every page)

Environment:
  CQ_URL       the API (default: ${DEFAULT_URL})
  CQ_API_KEY   a tenant's API key (required)

Exit status: 0 ok, 1 the job failed or the API refused, 2 usage error.
`;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Where `cq submit -` reads the prompt (default: none: "-" is refused). */
  stdin?: AsyncIterable<string | Uint8Array>;
  /** For tests (default: the global fetch). */
  fetch?: typeof fetch;
}

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
const JSON_FLAG: Options = { json: { type: 'boolean' } };
const COMMANDS: Record<string, { options: Options; positionals: number }> = {
  submit: {
    options: {
      ...JSON_FLAG,
      wait: { type: 'boolean' },
      model: { type: 'string' },
      session: { type: 'string' },
      'idempotency-key': { type: 'string' },
      stream: { type: 'boolean' },
    },
    positionals: 1,
  },
  get: { options: { wait: { type: 'boolean' } }, positionals: 1 },
  tail: { options: JSON_FLAG, positionals: 1 },
  cancel: { options: JSON_FLAG, positionals: 1 },
  list: {
    options: { ...JSON_FLAG, status: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } },
    positionals: 0,
  },
};
const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

/** Runs one `cq` command; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    (command === undefined ? io.stderr : io.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  try {
    const spec = COMMANDS[command];
    if (!spec) throw new UsageError(`unknown command "${command}"`);
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (parsed.values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (parsed.positionals.length !== spec.positionals) {
      throw new UsageError(spec.positionals === 0 ? `${command} takes no arguments` : `${command} takes one argument`);
    }
    const apiKey = io.env.CQ_API_KEY;
    if (!apiKey) throw new UsageError('CQ_API_KEY is not set (a tenant API key, cq_…)');
    let client: ClaudeQueueClient;
    try {
      client = new ClaudeQueueClient({ baseUrl: io.env.CQ_URL || DEFAULT_URL, apiKey, fetch: io.fetch });
    } catch {
      throw new UsageError(`CQ_URL is not a URL: ${io.env.CQ_URL}`);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    const arg = parsed.positionals[0] ?? '';
    switch (command) {
      case 'submit':
        return await submit(client, arg, values, io);
      case 'get': {
        const job = values.wait ? await client.wait(arg) : await client.get(arg);
        io.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
        return 0;
      }
      case 'tail':
        return await tail(client, arg, values.json === true, io);
      case 'cancel': {
        const job = await client.cancel(arg);
        io.stdout.write(values.json ? `${JSON.stringify(job, null, 2)}\n` : `${job.id} ${job.status}\n`);
        return 0;
      }
      default:
        return await list(client, values, io);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`cq: ${err.message}\nRun "cq --help" for usage.\n`);
      return 2;
    }
    if (err instanceof ClaudeQueueError) {
      const field = err.field ? ` (field: ${err.field})` : '';
      io.stderr.write(`cq: ${err.code}${err.status ? ` ${err.status}` : ''}: ${err.detail}${field}\n`);
      return 1;
    }
    io.stderr.write(`cq: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}

async function submit(client: ClaudeQueueClient, promptArg: string, values: Record<string, string | boolean | undefined>, io: CliIo): Promise<number> {
  const prompt = promptArg === '-' ? await readAll(io) : promptArg;
  if (!prompt.trim()) throw new UsageError('the prompt is empty');
  const request = {
    prompt,
    ...(typeof values.model === 'string' ? { model: values.model } : {}),
    ...(typeof values.session === 'string' ? { session_id: values.session } : {}),
    ...(values.stream ? { stream: true } : {}),
  };
  const idempotencyKey = typeof values['idempotency-key'] === 'string' ? values['idempotency-key'] : undefined;
  let job = await client.submit(request, { idempotencyKey, ...(values.wait ? { wait: 60 } : {}) });
  if (!values.wait) {
    io.stdout.write(values.json ? `${JSON.stringify(job, null, 2)}\n` : `${job.id}\n`);
    return 0;
  }
  if (!isFinal(job)) job = await client.wait(job.id);
  if (values.json) io.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
  else if (job.status === 'succeeded') io.stdout.write(withNewline(job.result?.text ?? ''));
  return reportFinal(job, io, false);
}

async function tail(client: ClaudeQueueClient, id: string, json: boolean, io: CliIo): Promise<number> {
  let endsWithNewline = true;
  for await (const event of client.events(id)) {
    if (json) {
      io.stdout.write(`${JSON.stringify(event)}\n`);
    } else if (event.event === 'text') {
      io.stdout.write(event.data.text);
      if (event.data.text) endsWithNewline = event.data.text.endsWith('\n');
    } else if (event.event === 'status' && event.data.status === 'retrying') {
      if (!endsWithNewline) io.stdout.write('\n');
      endsWithNewline = true;
      const error = event.data.error ? `: ${event.data.error.code}: ${event.data.error.message}` : '';
      io.stderr.write(`retrying (attempt ${event.data.attempt ?? '?'} failed${error})\n`);
    }
    if (event.event === 'result') {
      if (!json && !endsWithNewline) io.stdout.write('\n');
      return reportFinal(event.data, io, true);
    }
  }
  return 1;
}

async function list(client: ClaudeQueueClient, values: Record<string, string | boolean | undefined>, io: CliIo): Promise<number> {
  const status = values.status as JobStatus | undefined;
  if (status !== undefined && !STATUSES.includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 100)) throw new UsageError('--limit must be a whole number from 1 to 100');
  const cursor = typeof values.cursor === 'string' ? values.cursor : undefined;
  if (values.all && cursor) throw new UsageError('--all starts from the newest job: leave out --cursor');

  let jobs: Job[];
  let nextCursor: string | null = null;
  if (values.all) {
    jobs = [];
    for await (const job of client.listAll({ status, limit })) jobs.push(job);
  } else {
    const page = await client.list({ status, limit, cursor });
    jobs = page.data;
    nextCursor = page.next_cursor;
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify(values.all ? jobs : { data: jobs, next_cursor: nextCursor }, null, 2)}\n`);
    return 0;
  }
  for (const job of jobs) io.stdout.write(`${job.id}  ${job.status.padEnd(9)}  ${job.created_at}  ${snippet(job.request.prompt)}\n`);
  if (nextCursor) io.stderr.write(`more: cq list --cursor ${nextCursor}\n`);
  return 0;
}

/**
 * The final status on stderr, so stdout keeps only the answer: always when
 * `announce` (tail), else only when the job did not succeed. 0 only for succeeded.
 */
function reportFinal(job: Job, io: CliIo, announce: boolean): number {
  if (job.status === 'succeeded') {
    if (announce) io.stderr.write(`job ${job.id} succeeded\n`);
    return 0;
  }
  if (!isFinal(job)) {
    io.stderr.write(`cq: job ${job.id} is still ${job.status}\n`);
    return 1;
  }
  const error = job.error ? `: ${job.error.code}: ${job.error.message}` : '';
  io.stderr.write(`${announce ? '' : 'cq: '}job ${job.id} ${job.status}${error}\n`);
  return 1;
}

async function readAll(io: CliIo): Promise<string> {
  if (!io.stdin) throw new UsageError('"-" reads the prompt from stdin, which is not available here');
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

function withNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}

function snippet(prompt: string): string {
  const flat = prompt.replace(/\s+/g, ' ').trim();
  return flat.length > 60 ? `${flat.slice(0, 59)}…` : flat;
}
