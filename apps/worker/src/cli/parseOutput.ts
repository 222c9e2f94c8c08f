import type { ClaudeCliResult } from './runner.js';

/**
 * Finds the result object in the CLI's stdout. With `--output-format json` stdout is
 * that one object; with `stream-json` it is the last `{"type":"result"}` line.
 */
export function parseCliOutput(stdout: string): { result: ClaudeCliResult | null; unparseable: boolean } {
  const text = stdout.trim();
  if (text === '') return { result: null, unparseable: false };
  const whole = tryJson(text);
  if (isResult(whole)) return { result: whole, unparseable: false };
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const parsed = tryJson(lines[i]!.trim());
    if (isResult(parsed)) return { result: parsed, unparseable: false };
  }
  return { result: null, unparseable: true };
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function isResult(v: unknown): v is ClaudeCliResult {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.type === 'result' && typeof o.is_error === 'boolean' && typeof o.subtype === 'string';
}
