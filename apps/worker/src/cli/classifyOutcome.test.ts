import { describe, expect, it } from 'vitest';
import { classifyOutcome } from './classifyOutcome.js';
import type { ClaudeCliResult, ClaudeRunOutcome } from './runner.js';

const SESSION = '5c47fc83-b2ab-456a-a11a-7e1290265be0';

function outcome(partial: Partial<ClaudeRunOutcome>): ClaudeRunOutcome {
  return { result: null, exitCode: 1, signal: null, timedOut: false, aborted: false, stderrTail: '', unparseable: false, wallMs: 10, ...partial };
}

/** Shaped like the CLI's real result object (docs/claude-cli.md). */
function cliResult(partial: Partial<ClaudeCliResult>): ClaudeCliResult {
  return { type: 'result', subtype: 'success', is_error: false, api_error_status: null, result: 'hi', session_id: SESSION, num_turns: 1, duration_ms: 96, total_cost_usd: 0.00014, usage: { input_tokens: 10 }, ...partial };
}

describe('classifyOutcome', () => {
  it('turns a success result into the job result', () => {
    const c = classifyOutcome(outcome({ exitCode: 0, result: cliResult({}) }));
    expect(c).toEqual({
      ok: true,
      result: { text: 'hi', session_id: SESSION, num_turns: 1, duration_ms: 96, total_cost_usd: 0.00014, usage: { input_tokens: 10 }, structured_output: null },
    });
  });

  it.each([
    [401, 'auth_failed', false],
    [403, 'auth_failed', false],
    [429, 'rate_limited', true],
    [529, 'overloaded', true],
    [500, 'api_error', true],
    [503, 'api_error', true],
    [400, 'invalid_request', false],
  ])('api_error_status %i → %s (retryable: %s)', (status, code, retryable) => {
    const c = classifyOutcome(outcome({ result: cliResult({ is_error: true, api_error_status: status, result: `API Error: ${status}` }) }));
    expect(c).toMatchObject({ ok: false, error: { code, message: `API Error: ${status}`, retryable } });
  });

  it('recognises "Not logged in" as auth_failed', () => {
    const c = classifyOutcome(outcome({ result: cliResult({ is_error: true, result: 'Not logged in · Please run /login' }) }));
    expect(c.ok === false && c.error.code).toBe('auth_failed');
    // Not the CLI's words, useless to an HTTP caller: what the operator must set.
    expect(c.ok === false && c.error.message).toMatch(/^no model credential: set ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_OAUTH_TOKEN/);
  });

  it.each([
    ['error_max_turns', 'max_turns'],
    ['error_max_budget_usd', 'budget_exceeded'],
    ['error_during_execution', 'cli_error'],
  ])('subtype %s → %s', (subtype, code) => {
    const c = classifyOutcome(outcome({ result: cliResult({ is_error: true, subtype, result: undefined, errors: ['x'] }) }));
    expect(c.ok === false && c.error.code).toBe(code);
  });

  it('recognises a missing session in a stream-json result', () => {
    const r = cliResult({ is_error: true, subtype: 'error_during_execution', result: undefined, errors: [`No conversation found with session ID: ${SESSION}`] });
    const c = classifyOutcome(outcome({ result: r }));
    expect(c.ok === false && c.error).toEqual({ code: 'session_not_found', message: `No conversation found with session ID: ${SESSION}`, retryable: false });
  });

  it('recognises a missing session from stderr', () => {
    const c = classifyOutcome(outcome({ stderrTail: `No conversation found with session ID: ${SESSION}\n` }));
    expect(c).toEqual({ ok: false, error: { code: 'session_not_found', message: `No conversation found with session ID: ${SESSION}`, retryable: false } });
  });

  it('a signal, an exit without a result, garbage, timeouts and aborts each get their code', () => {
    const code = (o: Partial<ClaudeRunOutcome>) => {
      const c = classifyOutcome(outcome(o));
      return c.ok ? 'ok' : c.error.code;
    };
    expect(code({ exitCode: null, signal: 'SIGKILL' })).toBe('cli_crashed');
    expect(code({ exitCode: 3 })).toBe('cli_crashed');
    expect(classifyOutcome(outcome({ exitCode: 137 }))).toMatchObject({ error: { code: 'cli_crashed', message: 'the CLI was killed by SIGKILL' } });
    expect(code({ exitCode: 0, unparseable: true })).toBe('cli_error');
    expect(code({ exitCode: null, stderrTail: 'spawn /nope ENOENT' })).toBe('cli_error');
    expect(code({ exitCode: 1, stderrTail: "error: option '--permission-mode <mode>' argument 'x' is invalid." })).toBe('invalid_request');
    expect(code({ timedOut: true, signal: 'SIGTERM' })).toBe('timeout');
    expect(code({ aborted: true, signal: 'SIGTERM' })).toBe('canceled');
  });
});
