/**
 * Decides what a CLI run means for the job: a result, or an error with a stable code
 * and whether a retry could help. All classification lives here; the retry policy
 * builds on `retryable`.
 *
 * The CLI reports API failures in its result object (`api_error_status`, docs/claude-cli.md)
 * and a few conditions only as text; matching that text happens here and nowhere else.
 */
import { constants } from 'node:os';
import type { JobError, JobErrorCode, JobResult, RunSpend } from '@claude-queue/shared';
import type { ClaudeRunOutcome } from './runner.js';
import { MISSING_CREDENTIAL_MESSAGE } from '../sandbox/modelCredentials.js';

/** A failed run's `spent`: what the CLI reported it cost, when it got as far as a result. */
export type Classified = { ok: true; result: JobResult } | { ok: false; error: JobError; spent?: RunSpend };

const RETRYABLE: ReadonlySet<JobErrorCode> = new Set([
  'rate_limited',
  'overloaded',
  'api_error',
  'cli_crashed',
  'timeout',
]);

function fail(code: JobErrorCode, message: string): { ok: false; error: JobError } {
  return { ok: false, error: { code, message: message.trim() || code, retryable: RETRYABLE.has(code) } };
}

function codeForStatus(status: number): JobErrorCode {
  if (status === 401 || status === 403) return 'auth_failed';
  if (status === 429) return 'rate_limited';
  if (status === 529) return 'overloaded';
  if (status >= 500) return 'api_error';
  return 'invalid_request';
}

/** The CLI found no credential at all ("Not logged in · Please run /login"). */
const NOT_LOGGED_IN = /not logged in|please run \/login/i;
/** The model API refused the credential it was given. */
const INVALID_KEY = /invalid api key/i;
const NETWORK = /connection error|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|fetch failed|socket hang up/i;
const SESSION_MISSING = /No conversation found with session ID/i;
/** Commander's usage errors: a flag or value the CLI refused. */
const USAGE_ERROR = /^error: /m;

export function classifyOutcome(outcome: ClaudeRunOutcome): Classified {
  if (outcome.aborted) return fail('canceled', 'the run was stopped');
  if (outcome.timedOut) return fail('timeout', 'the CLI run exceeded its timeout');

  const r = outcome.result;
  if (r) {
    const message = r.result ?? r.errors?.join('; ') ?? '';
    if (!r.is_error && r.subtype === 'success') {
      return {
        ok: true,
        result: {
          text: r.result ?? '',
          session_id: r.session_id,
          num_turns: r.num_turns ?? 0,
          duration_ms: r.duration_ms ?? outcome.wallMs,
          total_cost_usd: r.total_cost_usd ?? 0,
          usage: r.usage ?? null,
          structured_output: r.structured_output ?? null,
        },
      };
    }
    const failed = classifyFailedResult(r, message);
    return { ...failed, spent: { total_cost_usd: r.total_cost_usd ?? 0, usage: r.usage ?? null } };
  }
  return classifyWithoutResult(outcome);
}

function classifyFailedResult(r: NonNullable<ClaudeRunOutcome['result']>, message: string): { ok: false; error: JobError } {
  {
    if (r.subtype === 'error_max_turns') return fail('max_turns', message || 'the run reached max_turns');
    if (r.subtype === 'error_max_budget_usd') return fail('budget_exceeded', message || 'the run reached max_budget_usd');
    if (r.api_error_status !== null && r.api_error_status !== undefined) {
      return fail(codeForStatus(r.api_error_status), message);
    }
    // With stream-json (2.1.x) a missing session is a result with this in `errors`.
    if (SESSION_MISSING.test(message)) return fail('session_not_found', message);
    if (NOT_LOGGED_IN.test(message)) return fail('auth_failed', MISSING_CREDENTIAL_MESSAGE);
    if (INVALID_KEY.test(message)) return fail('auth_failed', message);
    if (NETWORK.test(message)) return fail('api_error', message);
    return fail('cli_error', message || `the CLI reported an error (${r.subtype})`);
  }
}

function classifyWithoutResult(outcome: ClaudeRunOutcome): Classified {
  if (SESSION_MISSING.test(outcome.stderrTail)) return fail('session_not_found', lastLine(outcome.stderrTail));
  // Before the signal: a pooled process that printed something else is killed for it.
  if (outcome.unparseable) return fail('cli_error', 'the CLI printed output that is not a result');
  if (outcome.signal) return fail('cli_crashed', `the CLI was killed by ${outcome.signal}`);
  // bwrap (and a shell) report a child killed by signal N as exit code 128 + N.
  const bySignal = outcome.exitCode !== null && outcome.exitCode > 128 ? signalName(outcome.exitCode - 128) : null;
  if (bySignal) return fail('cli_crashed', `the CLI was killed by ${bySignal}`);
  if (outcome.exitCode === null) return fail('cli_error', `the CLI could not be started: ${lastLine(outcome.stderrTail)}`);
  if (USAGE_ERROR.test(outcome.stderrTail)) return fail('invalid_request', lastLine(outcome.stderrTail));
  return fail('cli_crashed', `the CLI exited with code ${outcome.exitCode} without a result${suffix(outcome.stderrTail)}`);
}

function signalName(signal: number): string | null {
  return Object.entries(constants.signals).find(([, n]) => n === signal)?.[0] ?? null;
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

function suffix(stderr: string): string {
  const line = lastLine(stderr);
  return line ? `: ${line}` : '';
}
