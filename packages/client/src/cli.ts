#!/usr/bin/env node
/** The `cq` command (runCli.ts does the work). */
import { runCli } from './runCli.js';

// `cq list | head` closes the pipe early: stop quietly, as Unix tools do, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  // Touched only by `cq submit -` and `cq batch submit -`: opening stdin early can hold the process open.
  stdin: { [Symbol.asyncIterator]: () => process.stdin[Symbol.asyncIterator]() },
});
