/**
 * `cq`, the command line on top of the client: jobs (jobCommands.ts), batches
 * (batchCommands.ts) and sessions (sessionCommands.ts). Apart from cli.ts (which only
 * calls this with the process's streams) so tests can run it in-process. Exit codes:
 * 0 ok, 1 a job or batch request failed or the API said no, 2 usage.
 */
import { parseArgs } from 'node:util';
import { BATCH_COMMANDS } from './batchCommands.js';
import { ClaudeQueueClient } from './client.js';
import { ClaudeQueueError } from './claudeQueueError.js';
import type { CliIo, Command, CommandValues } from './command.js';
import { JOB_COMMANDS } from './jobCommands.js';
import { SESSION_COMMANDS } from './sessionCommands.js';
import { UsageError } from './usageError.js';

export type { CliIo } from './command.js';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

export const USAGE = `Usage: cq <command> [options]

Jobs:
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

Batches:
  batch submit <file.jsonl|->
                          Submit one request per line, each a job request with a
                          custom_id ("-" reads stdin); prints the batch id
      --wait                  show progress on stderr until it ends, then write its
                              results as JSON lines; exit 1 unless all succeeded
      --out <file>            with --wait: write the results there (default: stdout)
      --webhook-url <url>     where its batch.ended webhook goes
      --idempotency-key <k>   a retried submit with the same key returns the same batch
      --json                  print the batch object instead of its id
  batch get <id> [--json] Print its status and counts (--json: the batch object)
  batch wait <id> [--out <file>]
                          As submit --wait, for a batch already submitted
  batch results <id> [--out <file>]
                          Write the results of its finished requests as JSON lines
  batch cancel <id> [--json]
                          Cancel its queued and running requests
  batch retry <id> [--json]
                          Once it has ended, run its failed requests again
  batch list [--limit <n>] [--cursor <c>] [--all] [--json]
                          List batches, newest first

Sessions (conversations):
  sessions list [--limit <n>] [--cursor <c>] [--all] [--json]
                          List sessions, most recently used first
  sessions get <id>       Print the session and its turns
  sessions delete <id>    Delete it; later follow-ups get session_not_found

Environment:
  CQ_URL       the API (default: ${DEFAULT_URL})
  CQ_API_KEY   a tenant's API key (required)

Exit status: 0 ok, 1 the job failed (a batch: a request did not succeed) or the API
refused, 2 usage error.
`;

const COMMANDS: Record<string, Command> = { ...JOB_COMMANDS, ...BATCH_COMMANDS, ...SESSION_COMMANDS };
/** Commands with subcommands: `cq batch submit`, `cq sessions list`. */
const GROUPS = ['batch', 'sessions'];
/** Field errors shown under a refusal; the rest are counted. */
const MAX_FIELD_ERRORS_SHOWN = 20;

/** Runs one `cq` command; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    (command === undefined ? io.stderr : io.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  try {
    let name = command;
    let rest = args;
    if (GROUPS.includes(command)) {
      const sub = args[0];
      if (sub === '--help' || sub === '-h') {
        io.stdout.write(USAGE);
        return 0;
      }
      const subcommands = Object.keys(COMMANDS).filter((c) => c.startsWith(`${command} `)).map((c) => c.slice(command.length + 1));
      if (sub === undefined || sub.startsWith('-')) throw new UsageError(`${command} needs a subcommand: ${subcommands.join(', ')}`);
      name = `${command} ${sub}`;
      rest = args.slice(1);
    }
    const spec = COMMANDS[name];
    if (!spec) throw new UsageError(`unknown command "${name}"`);
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
      throw new UsageError(spec.positionals === 0 ? `${name} takes no arguments` : `${name} takes one argument`);
    }
    const apiKey = io.env.CQ_API_KEY;
    if (!apiKey) throw new UsageError('CQ_API_KEY is not set (a tenant API key, cq_…)');
    let client: ClaudeQueueClient;
    try {
      client = new ClaudeQueueClient({ baseUrl: io.env.CQ_URL || DEFAULT_URL, apiKey, fetch: io.fetch });
    } catch {
      throw new UsageError(`CQ_URL is not a URL: ${io.env.CQ_URL}`);
    }
    return await spec.run({ client, arg: parsed.positionals[0] ?? '', values: parsed.values as CommandValues, io });
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`cq: ${err.message}\nRun "cq --help" for usage.\n`);
      return 2;
    }
    if (err instanceof ClaudeQueueError) {
      io.stderr.write(describeRefusal(err));
      return 1;
    }
    io.stderr.write(`cq: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}

/** The code, status and detail; with several fields at fault (a batch's), each on its own line. */
function describeRefusal(err: ClaudeQueueError): string {
  const field = err.field ? ` (field: ${err.field})` : '';
  let text = `cq: ${err.code}${err.status ? ` ${err.status}` : ''}: ${err.detail}${field}\n`;
  if (err.errors.length > 1) {
    for (const e of err.errors.slice(0, MAX_FIELD_ERRORS_SHOWN)) text += `  ${e.field}: ${e.message}\n`;
    if (err.errors.length > MAX_FIELD_ERRORS_SHOWN) text += `  … and ${err.errors.length - MAX_FIELD_ERRORS_SHOWN} more\n`;
  }
  return text;
}
