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
 *   FAKE:linger         answer normally, then ignore everything: no answer to any later
 *                       line (`/clear`), stdin's end and SIGTERM (only SIGKILL ends it)
 *   FAKE:chatty         answer normally, then print one more line 500 ms later, unasked
 *   anything else       answer "fake: <prompt>" as a success result
 *
 * With `--input-format stream-json` (a pooled process) it stays alive and treats each
 * stdin line `{"type":"user","message":{"content":"…"}}` as a prompt, as the real CLI
 * does; `/clear` starts a new session. A result with an error, a crash or a hang ends
 * the process's usefulness as it would the real one's.
 *
 * Every call writes fake-claude-call.json in its cwd (argv, env, pid, marker), which
 * is how tests see the flags and the environment the worker gave it. The pid is the
 * one inside the run's sandbox (its own pid namespace); from outside, a run's processes
 * are found by the marker in their command line (test/support/processes.ts).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const streaming = argv.includes('--input-format') && argv[argv.indexOf('--input-format') + 1] === 'stream-json';
const marker = `fake-claude-run-${randomUUID()}`;
// Rewrites this process's command line: visible in /proc/<pid>/cmdline from the host.
process.title = marker;
// …and, with it, its name (comm): named as the real CLI is, so a pooled process's check of
// what runs in its sandbox (pool/warmPool.ts) sees the CLI, not a stranger.
try {
  writeFileSync('/proc/self/comm', 'claude');
} catch {
  // not Linux: no pool checks to pass
}

const resumeAt = argv.indexOf('--resume');
let sessionId = resumeAt >= 0 ? argv[resumeAt + 1] : randomUUID();
/** Set by FAKE:linger: every later line is ignored. */
let lingering = false;
/** The session's running total, as the real CLI reports it (new after /clear). */
let sessionCost = 0;

const result = (prompt, extra) => {
  sessionCost += 0.001;
  return `${JSON.stringify({
    type: 'result',
    subtype: 'success',
    is_error: false,
    api_error_status: null,
    duration_ms: 5,
    num_turns: 1,
    result: `fake: ${prompt}`,
    session_id: sessionId,
    total_cost_usd: sessionCost,
    usage: { input_tokens: 1, output_tokens: 1 },
    ...extra,
  })}\n`;
};

/** Answers one prompt; resolves when this prompt is done (never, for hang). */
async function answer(prompt) {
  writeFileSync('fake-claude-call.json', JSON.stringify({ argv, env: process.env, pid: process.pid, marker, prompt }));
  const [, verb, arg] = /^FAKE:([a-z]+)(?::(\S+))?/.exec(prompt) ?? [];
  switch (verb) {
    case 'crash':
      process.kill(process.pid, 'SIGKILL');
      return new Promise(() => {});
    case 'hang': {
      // A grandchild in the same process group: the worker must end it too. `; :` keeps
      // the shell (and the marker, its $0) alive beside sleep.
      spawn('/bin/sh', ['-c', 'sleep 600; :', `${marker}-grandchild`], { stdio: 'ignore' });
      process.on('SIGTERM', () => {}); // ignore polite requests: only SIGKILL ends it
      setInterval(() => {}, 1 << 30);
      return new Promise(() => {});
    }
    case 'garbled':
      process.stdout.write('this is not json\n');
      if (!streaming) process.exit(0);
      return;
    case 'exit':
      process.stderr.write(`fake failure before any result\n`);
      process.exit(Number(arg));
      return;
    case 'api':
      process.stdout.write(result(prompt, { is_error: true, api_error_status: Number(arg), result: `API Error: ${arg} fake` }));
      if (!streaming) process.exit(1);
      return;
    case 'subtype':
      process.stdout.write(result(prompt, { is_error: true, subtype: arg, result: undefined, errors: [`fake ${arg}`] }));
      if (!streaming) process.exit(1);
      return;
    case 'linger':
      process.stdout.write(result(prompt, {}));
      lingering = true;
      process.on('SIGTERM', () => {});
      setInterval(() => {}, 1 << 30); // alive after stdin ends
      return;
    case 'chatty':
      process.stdout.write(result(prompt, {}));
      setTimeout(() => process.stdout.write(`${JSON.stringify({ type: 'system', subtype: 'fake_chatty', session_id: sessionId })}\n`), 500);
      return;
    case 'sleep':
      await new Promise((r) => setTimeout(r, Number(arg)));
      process.stdout.write(result(prompt, {}));
      return;
    default:
      process.stdout.write(result(prompt, {}));
  }
}

if (!streaming) {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  await answer(Buffer.concat(chunks).toString('utf8'));
} else {
  const { createInterface } = await import('node:readline');
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim() || lingering) continue;
    const content = JSON.parse(line).message?.content;
    const prompt = typeof content === 'string' ? content : '';
    if (prompt === '/clear') {
      sessionId = randomUUID();
      sessionCost = 0;
      process.stdout.write(`${JSON.stringify({ type: 'result', subtype: 'success', is_error: false, api_error_status: null, result: '', session_id: sessionId, total_cost_usd: 0, num_turns: 0 })}\n`);
      continue;
    }
    await answer(prompt);
  }
}
