/**
 * pino JSON logs on stdout, one line per event; a short human format when stdout is a
 * terminal (someone is reading, not a log collector). Redaction is the backstop: code
 * logs ids, never prompts, results, keys or credentials.
 */
import { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Paths redacted from every log line. Job data, requests and results hold prompts and
 * answers, and headers hold keys: none of them may reach a log.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'prompt',
  'request',
  'result',
  'api_key',
  'apiKey',
  '*.prompt',
  '*.api_key',
  '*.apiKey',
  'env',
  'credentials',
  '*.credentials',
  'ANTHROPIC_API_KEY',
  'CLAUDE_CODE_OAUTH_TOKEN',
];

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** One JSON log line as `12:34:56 INFO  api: msg key=value …`. */
export function formatPretty(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(Number(o.time)).toISOString().slice(11, 19);
  const level = (LEVELS[Number(o.level)] ?? String(o.level)).padEnd(5);
  const rest = Object.entries(o)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level} ${String(o.name)}: ${String(o.msg ?? '')}${rest ? ` ${rest}` : ''}\n`;
}

function prettyStdout(): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) process.stdout.write(formatPretty(line));
      done();
    },
  });
}

/**
 * `err` in a log line: an Error as pino serializes one (type, message, stack); anything
 * else as it is. Code often logs `{ err: { message } }` to leave a stack out, and pino's
 * own serializer would turn that into `{"type":"Object", …, "stack":""}`.
 */
function serializeErr(err: unknown): unknown {
  return err instanceof Error ? pino.stdSerializers.err(err) : err;
}

export interface LoggerOptions {
  /** Where lines go (default: stdout, pretty when it is a terminal). */
  destination?: DestinationStream;
}

export function createLogger(name: string, level: string, options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? (process.stdout.isTTY ? prettyStdout() : undefined);
  const settings = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { err: serializeErr } };
  return destination ? pino(settings, destination) : pino(settings);
}
export type { Logger };
