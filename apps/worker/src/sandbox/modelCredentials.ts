/**
 * A sandboxed run never holds a model credential. With Bash or Read a job could print
 * its own environment (or /proc/self/environ) into its answer, and with it the
 * deployment's API key. So the credentials stay in the worker: the child gets a
 * placeholder per credential variable, so the CLI picks the same way to authenticate
 * as it would with the real ones, and its model API calls go to the egress proxy, which
 * puts the real values back on the way out (egressProxy.ts).
 */

/** Variables that authenticate the CLI to the model API. */
export const MODEL_CREDENTIAL_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;

/** Extra headers for the model API ("Name: value" per line): a gateway's key often travels in one. */
const CUSTOM_HEADERS_VAR = 'ANTHROPIC_CUSTOM_HEADERS';

/** Model access through Bedrock or Vertex signs requests with cloud credentials the sandbox can't hold. */
export const CLOUD_PROVIDER_VARS = ['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX'] as const;

export const DEFAULT_MODEL_API = 'https://api.anthropic.com';

/**
 * What an operator must do when no credential reaches the model: the job's error (the
 * CLI only says "Not logged in · Please run /login", which means nothing to an HTTP
 * caller), the start warning and /readyz all say it in these words.
 */
export const MISSING_CREDENTIAL_MESSAGE =
  `no model credential: set ${MODEL_CREDENTIAL_VARS.join(', ')} or ${CUSTOM_HEADERS_VAR} in the worker's environment, ` +
  "or give the tenant its own (PATCH /v1/admin/tenants/{id} with credentials)";

/** Whether the worker's own environment holds any way to authenticate to the model API. */
export function hasDeploymentCredential(env: NodeJS.ProcessEnv): boolean {
  return [...MODEL_CREDENTIAL_VARS, CUSTOM_HEADERS_VAR, ...CLOUD_PROVIDER_VARS].some((name) => Boolean(env[name]));
}

export interface ModelRoute {
  /** Where the CLI's model API calls go: the worker's ANTHROPIC_BASE_URL, else the Anthropic API. */
  upstream: URL;
  /** Placeholder → real value, replaced in the `x-api-key` and `authorization` headers. */
  secrets: Array<[placeholder: string, real: string]>;
  /** Headers added to every forwarded call (ANTHROPIC_CUSTOM_HEADERS). */
  headers: Record<string, string>;
}

export const placeholderFor = (name: string) => `cq-sandbox-placeholder-${name}`;

/**
 * Splits a run's environment: what the child may see, with placeholders and the model
 * API at `localBaseUrl`, and the route the proxy takes with the real credentials.
 */
export function sealModelCredentials(env: Record<string, string>, localBaseUrl: string): { env: Record<string, string>; route: ModelRoute } {
  const child = { ...env };
  const secrets: ModelRoute['secrets'] = [];
  for (const name of MODEL_CREDENTIAL_VARS) {
    const value = child[name];
    if (!value) continue;
    secrets.push([placeholderFor(name), value]);
    child[name] = placeholderFor(name);
  }
  const headers = parseCustomHeaders(child[CUSTOM_HEADERS_VAR] ?? '');
  delete child[CUSTOM_HEADERS_VAR];
  const upstream = new URL(child.ANTHROPIC_BASE_URL || DEFAULT_MODEL_API);
  child.ANTHROPIC_BASE_URL = localBaseUrl;
  return { env: child, route: { upstream, secrets, headers } };
}

function parseCustomHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}
