/** `cq submit`, `get`, `tail`, `cancel` and `list`: one job at a time. */
import { JSON_FLAG, PAGE_FLAGS, listItems, printJson, stringValue, type CliIo, type Command, type CommandContext } from './command.js';
import type { ClaudeQueueClient } from './client.js';
import { isFinal, type Job, type JobStatus } from './types.js';
import { UsageError } from './usageError.js';

const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

export const JOB_COMMANDS: Record<string, Command> = {
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
    run: submit,
  },
  get: {
    options: { wait: { type: 'boolean' } },
    positionals: 1,
    async run({ client, arg, values, io }) {
      printJson(io, values.wait ? await client.wait(arg) : await client.get(arg));
      return 0;
    },
  },
  tail: { options: JSON_FLAG, positionals: 1, run: ({ client, arg, values, io }) => tail(client, arg, values.json === true, io) },
  cancel: {
    options: JSON_FLAG,
    positionals: 1,
    async run({ client, arg, values, io }) {
      const job = await client.cancel(arg);
      if (values.json) printJson(io, job);
      else io.stdout.write(`${job.id} ${job.status}\n`);
      return 0;
    },
  },
  list: { options: { ...PAGE_FLAGS, status: { type: 'string' } }, positionals: 0, run: list },
};

async function submit({ client, arg, values, io }: CommandContext): Promise<number> {
  const prompt = arg === '-' ? await readAll(io) : arg;
  if (!prompt.trim()) throw new UsageError('the prompt is empty');
  const model = stringValue(values, 'model');
  const session = stringValue(values, 'session');
  const request = {
    prompt,
    ...(model !== undefined ? { model } : {}),
    ...(session !== undefined ? { session_id: session } : {}),
    ...(values.stream ? { stream: true } : {}),
  };
  const idempotencyKey = stringValue(values, 'idempotency-key');
  let job = await client.submit(request, { idempotencyKey, ...(values.wait ? { wait: 60 } : {}) });
  if (!values.wait) {
    if (values.json) printJson(io, job);
    else io.stdout.write(`${job.id}\n`);
    return 0;
  }
  if (!isFinal(job)) job = await client.wait(job.id);
  if (values.json) printJson(io, job);
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

async function list({ client, values, io }: CommandContext): Promise<number> {
  const status = values.status as JobStatus | undefined;
  if (status !== undefined && !STATUSES.includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
  return listItems<Job>(values, io, {
    page: (options) => client.list({ ...options, status }),
    all: (options) => client.listAll({ ...options, status }),
    line: (job) => `${job.id}  ${job.status.padEnd(9)}  ${job.created_at}  ${snippet(job.request.prompt)}`,
    more: 'cq list',
    first: 'the newest job',
  });
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
