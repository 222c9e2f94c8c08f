/**
 * What every `cq` command is made of: its options for parseArgs, how many arguments it
 * takes, and `run`, which gets a client and the parsed command line and resolves to the
 * exit code. runCli.ts finds the command and handles what it throws.
 */
import type { ParseArgsConfig } from 'node:util';
import type { ClaudeQueueClient, PageOptions } from './client.js';
import { UsageError } from './usageError.js';

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  /** `isTTY`: progress is drawn as a bar in place; otherwise one line per change. */
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Where "-" reads a prompt or a batch (default: none: "-" is refused). */
  stdin?: AsyncIterable<string | Uint8Array>;
  /** For tests (default: the global fetch). */
  fetch?: typeof fetch;
}

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;
export type CommandValues = Record<string, string | boolean | undefined>;

export interface CommandContext {
  client: ClaudeQueueClient;
  /** The one positional argument ('' for commands that take none). */
  arg: string;
  values: CommandValues;
  io: CliIo;
}

export interface Command {
  options: CommandOptions;
  positionals: 0 | 1;
  run(context: CommandContext): Promise<number>;
}

export const JSON_FLAG: CommandOptions = { json: { type: 'boolean' } };
export const PAGE_FLAGS: CommandOptions = { ...JSON_FLAG, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } };

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function stringValue(values: CommandValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export interface ListingOptions<T> {
  /** One page from a cursor. */
  page(options: PageOptions): Promise<{ data: T[]; next_cursor: string | null }>;
  /** Every item, page after page. */
  all(options: Omit<PageOptions, 'cursor'>): AsyncIterable<T>;
  /** One item as a line of text. */
  line(item: T): string;
  /** The command that shows the next page, to which `--cursor <c>` is added. */
  more: string;
  /** What `--all` starts from, for its clash with `--cursor`. */
  first: string;
}

/** The `--limit`, `--cursor`, `--all` and `--json` of a list command. */
export async function listItems<T>(values: CommandValues, io: CliIo, listing: ListingOptions<T>): Promise<number> {
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 100)) throw new UsageError('--limit must be a whole number from 1 to 100');
  const cursor = stringValue(values, 'cursor');
  if (values.all && cursor) throw new UsageError(`--all starts from ${listing.first}: leave out --cursor`);

  let items: T[];
  let nextCursor: string | null = null;
  if (values.all) {
    items = [];
    for await (const item of listing.all({ limit })) items.push(item);
  } else {
    const page = await listing.page({ limit, cursor });
    items = page.data;
    nextCursor = page.next_cursor;
  }
  if (values.json) {
    printJson(io, values.all ? items : { data: items, next_cursor: nextCursor });
    return 0;
  }
  for (const item of items) io.stdout.write(`${listing.line(item)}\n`);
  if (nextCursor) io.stderr.write(`more: ${listing.more} --cursor ${nextCursor}\n`);
  return 0;
}
