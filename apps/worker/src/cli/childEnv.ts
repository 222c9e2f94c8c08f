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
  /** Retries the CLI makes on API errors; 0 leaves retrying to the queue. */
  maxRetries: number;
}

/**
 * The child's environment from the worker's, before the sandbox adds its paths (HOME,
 * CLAUDE_CONFIG_DIR) and, when it isolates the run, takes the credentials out.
 */

export function buildChildEnv(parent: NodeJS.ProcessEnv, options: ChildEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || value === '') continue;
    if (PASS.includes(name) || PASS_PREFIXES.some((p) => name.startsWith(p))) env[name] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  env.CLAUDE_CODE_MAX_RETRIES = String(options.maxRetries);
  // A service has no use for the updater or for traffic that is not the model's.
  env.DISABLE_AUTOUPDATER = '1';
  env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = '1';
  return env;
}

/**
 * Every variable by which the CLI could pick a model account. A tenant's own credential
 * replaces all of them, so its jobs never run (or bill) on the deployment's account:
 * with its API key, the CLI must not also see the deployment's OAuth token, or a
 * Bedrock/Vertex switch that would ignore the key.
 */
const DEPLOYMENT_CREDENTIALS = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'CLAUDE_CODE_OAUTH_TOKEN',
  'CLAUDE_CODE_USE_BEDROCK',
  'CLAUDE_CODE_USE_VERTEX',
];

export interface TenantCredentialsEnv {
  ANTHROPIC_API_KEY?: string;
  CLAUDE_CODE_OAUTH_TOKEN?: string;
}

/**
 * The child env with a tenant's own credential in place of the deployment's. With no
 * credential (null or empty) the deployment's stays. Returns a new object.
 */
export function applyTenantCredentials(env: Record<string, string>, credentials: TenantCredentialsEnv | null): Record<string, string> {
  const own = Object.entries(credentials ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '');
  if (own.length === 0) return { ...env };
  const out = Object.fromEntries(Object.entries(env).filter(([name]) => !DEPLOYMENT_CREDENTIALS.includes(name)));
  for (const [name, value] of own) out[name] = value;
  return out;
}
