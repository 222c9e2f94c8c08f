/** `cq sessions …`: a tenant's conversations, each continued by `cq submit --session <id>`. */
import { PAGE_FLAGS, listItems, printJson, type Command } from './command.js';
import type { SessionSummary } from './types.js';

export const SESSION_COMMANDS: Record<string, Command> = {
  'sessions list': {
    options: PAGE_FLAGS,
    positionals: 0,
    run: ({ client, values, io }) =>
      listItems<SessionSummary>(values, io, {
        page: (options) => client.listSessions(options),
        all: (options) => client.listAllSessions(options),
        line: (s) => `${s.id}  ${s.last_used_at}  ${formatBytes(s.size_bytes).padStart(9)}${s.forked_from ? `  forked from ${s.forked_from}` : ''}`,
        more: 'cq sessions list',
        first: 'the most recently used session',
      }),
  },
  'sessions get': {
    options: {},
    positionals: 1,
    async run({ client, arg, io }) {
      printJson(io, await client.getSession(arg));
      return 0;
    },
  },
  'sessions delete': {
    options: {},
    positionals: 1,
    async run({ client, arg, io }) {
      await client.deleteSession(arg);
      io.stdout.write(`${arg} deleted\n`);
      return 0;
    },
  },
};

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
