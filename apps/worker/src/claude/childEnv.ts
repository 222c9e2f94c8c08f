/**
 * The child's environment is an allowlist: nothing else of the worker's environment
 * (Redis URLs, the admin token, other secrets) reaches the CLI or the tools it runs.
 */

/** Passed through as they are. */
const PASS = [
  'PATH',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  // Credentials and model routing for the CLI.
  'CLAUDE_CODE_OAUTH_TOKEN',
  'CLAUDE_CODE_USE_BEDROCK',
  'CLAUDE_CODE_USE_VERTEX',
  'AWS_REGION',
  'CLOUD_ML_REGION',
];

/** Every variable with one of these prefixes passes (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_MODEL …). */
const PASS_PREFIXES = ['ANTHROPIC_'];

export interface ChildEnvOptions {
  home: string;
  configDir: string;
  /** Retries the CLI makes on API errors; 0 leaves retrying to the queue. */
  maxRetries: number;
}

export function buildChildEnv(parent: NodeJS.ProcessEnv, options: ChildEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || value === '') continue;
    if (PASS.includes(name) || PASS_PREFIXES.some((p) => name.startsWith(p))) env[name] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  env.HOME = options.home;
  env.CLAUDE_CONFIG_DIR = options.configDir;
  env.CLAUDE_CODE_MAX_RETRIES = String(options.maxRetries);
  // A service has no use for the updater or for traffic that is not the model's.
  env.DISABLE_AUTOUPDATER = '1';
  env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = '1';
  return env;
}
