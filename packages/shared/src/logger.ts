import { pino, type Logger } from 'pino';

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

export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
export type { Logger };
