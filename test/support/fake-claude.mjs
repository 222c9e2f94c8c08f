#!/usr/bin/env node
/**
 * A fake `claude` for worker tests that must force what the real CLI won't do on
 * cue: crash, hang, print garbage. The prompt (stdin) picks the behaviour:
 *
 *   FAKE:crash          kill itself with SIGKILL, no output
 *   FAKE:hang           start a grandchild in its group, then sleep forever
 *   FAKE:garbled        print text that is not JSON, exit 0
 *   FAKE:exit:<n>       print to stderr and exit with <n>, no result
 *   FAKE:api:<status>   print an is_error result with api_error_status <status>, exit 1
 *   FAKE:subtype:<s>    print an error result with that subtype, exit 1
 *   FAKE:sleep:<ms>     wait, then answer normally
 *   anything else       answer "fake: <prompt>" as a success result
 *
 * Every call writes fake-claude-call.json in its cwd (argv, env, pid, marker), which
 * is how tests see the flags and the environment the worker gave it. The pid is the
 * one inside the run's sandbox (its own pid namespace); from outside, a run's processes
 * are found by the marker in their command line (test/support/processes.ts).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const prompt = Buffer.concat(chunks).toString('utf8');
const argv = process.argv.slice(2);

const marker = `fake-claude-run-${randomUUID()}`;
// Rewrites this process's command line: visible in /proc/<pid>/cmdline from the host.
process.title = marker;
writeFileSync('fake-claude-call.json', JSON.stringify({ argv, env: process.env, pid: process.pid, marker, prompt }));

const resumeAt = argv.indexOf('--resume');
const sessionId = resumeAt >= 0 ? argv[resumeAt + 1] : randomUUID();
const result = (extra) =>
  JSON.stringify({
    type: 'result',
    subtype: 'success',
    is_error: false,
    api_error_status: null,
    duration_ms: 5,
    num_turns: 1,
    result: `fake: ${prompt}`,
    session_id: sessionId,
    total_cost_usd: 0.001,
    usage: { input_tokens: 1, output_tokens: 1 },
    ...extra,
  });

const [, verb, arg] = /^FAKE:([a-z]+)(?::(\S+))?/.exec(prompt) ?? [];
switch (verb) {
  case 'crash':
    process.kill(process.pid, 'SIGKILL');
    break;
  case 'hang': {
    // A grandchild in the same process group: the worker must end it too. `; :` keeps
    // the shell (and the marker, its $0) alive beside sleep.
    spawn('/bin/sh', ['-c', 'sleep 600; :', `${marker}-grandchild`], { stdio: 'ignore' });
    process.on('SIGTERM', () => {}); // ignore polite requests: only SIGKILL ends it
    setInterval(() => {}, 1 << 30);
    break;
  }
  case 'garbled':
    process.stdout.write('this is not json\n');
    break;
  case 'exit':
    process.stderr.write(`fake failure before any result\n`);
    process.exit(Number(arg));
    break;
  case 'api':
    process.stdout.write(result({ is_error: true, api_error_status: Number(arg), result: `API Error: ${arg} fake` }));
    process.exit(1);
    break;
  case 'subtype':
    process.stdout.write(result({ is_error: true, subtype: arg, result: undefined, errors: [`fake ${arg}`] }));
    process.exit(1);
    break;
  case 'sleep':
    setTimeout(() => process.stdout.write(result({})), Number(arg));
    break;
  default:
    process.stdout.write(result({}));
}
