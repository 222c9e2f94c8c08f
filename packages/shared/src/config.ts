/**
 * Configuration from the environment, parsed once at start. Every variable has a
 * default or fails with an error that names it; secrets have no defaults.
 */
import path from 'node:path';
import { z } from 'zod';
import { BUDGET_PERIODS } from './limits.js';
import { parseHostRule, type HostRule } from './net/hostRules.js';
import { isLoopbackHost } from './net/loopback.js';

/** A strict boolean: "true"/"1" or "false"/"0", anything else is an error. */
const envBoolean = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1');

const positiveInt = z.coerce.number().int().positive();

/** Permission modes the CLI knows (`claude --help`, 2.1.x). */
export const PERMISSION_MODES = ['acceptEdits', 'auto', 'bypassPermissions', 'manual', 'dontAsk', 'plan'] as const;
export type PermissionMode = (typeof PERMISSION_MODES)[number];

const commaList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

const sharedSchema = z.object({
  /** Redis for queues and state (default: redis://127.0.0.1:6379). */
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key, so several deployments or test files can share one Redis (default: cq). */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('cq'),
  /** Where workspaces and per-tenant CLI config live; shared by every worker of a deployment (default: ./data). */
  DATA_DIR: z.string().min(1).default('./data').transform((p) => path.resolve(p)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest prompt accepted, in bytes of UTF-8 (default: 256 KiB). */
  MAX_PROMPT_BYTES: positiveInt.default(256 * 1024),
  /** Default per-job timeout (default: 10 minutes). */
  JOB_TIMEOUT_MS: positiveInt.default(10 * 60 * 1000),
  /** Largest `timeout_ms` a request may ask for (default: 1 hour). */
  JOB_TIMEOUT_MAX_MS: positiveInt.default(60 * 60 * 1000),
  /** Permission modes a request may ask for; `bypassPermissions` only if the operator lists it. */
  ALLOWED_PERMISSION_MODES: commaList
    .pipe(z.array(z.enum(PERMISSION_MODES)))
    .default(['acceptEdits', 'auto', 'manual', 'dontAsk', 'plan']),
  /**
   * Tools no request may allow, and every run disallows (`none`, the default, for none).
   * Every run is sandboxed (SANDBOX), so Bash and WebFetch reach only the run's own files
   * and the allowed hosts; a deployment running SANDBOX=off should deny `Bash,WebFetch`.
   */
  DENIED_TOOLS: z
    .string()
    .default('none')
    .transform((s) => (s.trim() === 'none' ? [] : s.split(',').map((x) => x.trim()).filter(Boolean))),
  /**
   * Let requests' mcp_config start local (stdio) MCP servers: commands that run inside
   * the job's sandbox, like Bash (default: true; a deployment with SANDBOX=off should set false).
   */
  MCP_ALLOW_STDIO: envBoolean.default(true),
  /**
   * Let jobs' remote MCP servers be on private, loopback and other non-public addresses
   * (default: false; for tests and local development). Hosts the operator lists in
   * SANDBOX_ALLOWED_HOSTS are reachable whatever their address.
   */
  MCP_ALLOW_PRIVATE: envBoolean.default(false),
  /** How long finished jobs, their events and deliveries are kept, in hours; fractions allowed (default: 168, a week). */
  JOB_RETENTION_HOURS: z.coerce.number().positive().default(168),
  /** How long a conversation can be continued after its last use, in days (default: 30). */
  SESSION_TTL_DAYS: z.coerce.number().positive().default(30),
  /** A conversation's files (transcript and workspace) past this many bytes fail the turn that made them so (session_too_large). */
  SESSION_MAX_BYTES: positiveInt.default(20 * 1024 * 1024),
  /** Attempts per job, the first included, for errors a retry may fix (default: 4). */
  JOB_ATTEMPTS: positiveInt.default(4),
  /** Base of the exponential retry backoff (default: 2000 ms; rate limits wait 4× longer). */
  JOB_BACKOFF_MS: positiveInt.default(2000),
  // Deployment defaults of every tenant's limits (limits.ts); a tenant may override
  // each. Unset: unlimited, except the queue quota and the API request rate.
  /** Jobs a tenant may start per TENANT_RATE_PER_SECONDS (default: unlimited). */
  TENANT_RATE_MAX: positiveInt.optional(),
  TENANT_RATE_PER_SECONDS: positiveInt.default(60),
  /** Jobs of one tenant running at once across all workers (default: unlimited). */
  TENANT_MAX_CONCURRENCY: positiveInt.optional(),
  /** Jobs of one tenant waiting to start (default: 10000). */
  TENANT_MAX_QUEUED: positiveInt.default(10_000),
  /** API requests per minute per key (default: 600). */
  TENANT_REQUESTS_PER_MINUTE: positiveInt.default(600),
  /** Scheduling weight of a tenant (default: 1). */
  TENANT_WEIGHT: z.coerce.number().min(0.01).max(100).default(1),
  /** Bytes one tenant's job records may hold in Redis until they expire (default: 1 GiB). */
  TENANT_MAX_STORED_BYTES: positiveInt.default(1024 * 1024 * 1024),
  /** Model spend a tenant may reach per TENANT_BUDGET_PER, in USD (default: unlimited). */
  TENANT_BUDGET_USD: z.coerce.number().positive().optional(),
  TENANT_BUDGET_PER: z.enum(BUDGET_PERIODS).default('day'),
  /**
   * 32 bytes, base64 or hex, that encrypt tenants' own model credentials (AES-256-GCM).
   * No default: without it, tenants can't be given credentials.
   */
  SECRETS_KEY: z.string().optional(),
  /**
   * Bearer token for GET /metrics on the API and on workers' METRICS_PORT; no default,
   * it is a secret. Required whenever that listener is not on loopback (the metrics name
   * tenants); unset on loopback, /metrics answers whoever is on the machine.
   */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * Wrong or missing credentials (ADMIN_TOKEN, API keys, board logins, METRICS_TOKEN) one
   * client address may send per window before all of its credentials are refused with 429
   * until the window ends (http/failedLogins.ts; default: 20 per 600 s).
   */
  LOGIN_FAILURES_MAX: positiveInt.default(20),
  LOGIN_FAILURES_WINDOW_SECONDS: positiveInt.default(600),
  /** Allow webhook URLs on private, loopback and other non-public addresses (default: false; for tests and local development). */
  WEBHOOK_ALLOW_PRIVATE: envBoolean.default(false),
  /**
   * Delays before each retry of a failed webhook delivery, ms, comma-separated; the first
   * attempt is immediate (default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
   */
  WEBHOOK_RETRY_SCHEDULE_MS: commaList
    .pipe(z.array(z.coerce.number<string>().int().min(0).max(7 * 24 * 3600 * 1000)).max(20))
    .default([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]),
  /** How long a replaced webhook secret keeps signing beside the new one (default: 24 hours). */
  WEBHOOK_SECRET_OVERLAP_HOURS: z.coerce.number().int().min(0).max(30 * 24).default(24),
});

/** Board passwords are guessed over HTTP and cached by browsers: no short ones. */
export const BOARD_PASSWORD_MIN_CHARS = 12;

/** One login of the queue board (BOARD_USERS): read-write, or read-only. */
export interface BoardUser {
  user: string;
  password: string;
  access: 'rw' | 'ro';
}

/**
 * `user:password:rw|ro`, comma-separated. The user ends at the first colon (as in HTTP
 * Basic), the access is after the last, so a password may hold colons but no commas.
 */
const boardUsers = commaList.pipe(
  z
    .array(
      z
        .string()
        .regex(/^[^:]+:.+:(rw|ro)$/, 'each login must be user:password:rw or user:password:ro')
        .transform((entry): BoardUser => {
          const first = entry.indexOf(':');
          const last = entry.lastIndexOf(':');
          return { user: entry.slice(0, first), password: entry.slice(first + 1, last), access: entry.slice(last + 1) as BoardUser['access'] };
        }),
    )
    .min(1, 'must name at least one login')
    .refine((users) => new Set(users.map((u) => u.user)).size === users.length, 'each user may appear once')
    .superRefine((users, ctx) => {
      // Names the login, never the password. (Entries that failed their own check arrive too.)
      for (const u of users.filter((u) => typeof u?.password === 'string' && u.password.length < BOARD_PASSWORD_MIN_CHARS)) {
        ctx.addIssue({ code: 'custom', message: `the password of ${u.user} must be at least ${BOARD_PASSWORD_MIN_CHARS} characters` });
      }
    }),
);

/** A listener off loopback serves /metrics to the network: METRICS_TOKEN must guard it. */
function requireMetricsTokenOffLoopback(host: string, hostVariable: string, config: { METRICS_TOKEN?: string | undefined }, ctx: z.core.$RefinementCtx): void {
  if (config.METRICS_TOKEN || isLoopbackHost(host)) return;
  ctx.addIssue({
    code: 'custom',
    path: ['METRICS_TOKEN'],
    message: `is required when ${hostVariable} (${host}) is not loopback: /metrics names tenants (16+ characters)`,
  });
}

const apiSchema = sharedSchema.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  /** Bearer token for /v1/admin; no default, it is a secret. */
  ADMIN_TOKEN: z.string({ error: 'is required (a secret of at least 16 characters)' }).min(16, 'must be at least 16 characters'),
  /** Largest request body (default: 1 MiB). */
  MAX_BODY_BYTES: positiveInt.default(1024 * 1024),
  /** POST /v1/batches: requests per batch, and the body's bytes (its own limit beside MAX_BODY_BYTES). */
  BATCH_MAX_REQUESTS: positiveInt.default(10_000),
  BATCH_MAX_BYTES: positiveInt.default(32 * 1024 * 1024),
  /** How long an Idempotency-Key is remembered (default: 24 hours). */
  IDEMPOTENCY_TTL_HOURS: positiveInt.default(24),
  /** How long the API waits for requests in flight on SIGTERM (default: 10 s). */
  SHUTDOWN_GRACE_MS: positiveInt.default(10_000),
  /**
   * Event streams and `Prefer: wait` long-polls one tenant may hold open at once, across
   * every API process (liveRequests.ts); past it, 429 too_many_streams (default: 50).
   */
  MAX_STREAMS_PER_TENANT: positiveInt.default(50),
  /**
   * An event stream is ended after at most this long, with a reconnect hint; clients
   * resume with Last-Event-ID. A queued job's stream can't hold a connection and a
   * lease for as long as the job waits (default: 300).
   */
  STREAM_MAX_SECONDS: positiveInt.default(300),
  /**
   * Connections one API process holds at once; past it, new ones are closed as they are
   * accepted (Node's server.maxConnections). Keep it under the process's open-file limit
   * (`ulimit -n`) (default: 10000).
   */
  API_MAX_CONNECTIONS: positiveInt.default(10_000),
  /**
   * Logins of the queue board at /admin/queues, `user:password:rw|ro,…`, each password
   * at least BOARD_PASSWORD_MIN_CHARS; secrets, so no default (unset: the board is off).
   */
  BOARD_USERS: boardUsers.optional(),
}).superRefine((config, ctx) => requireMetricsTokenOffLoopback(config.HOST, 'HOST', config, ctx));

/** SANDBOX_ALLOWED_HOSTS: comma-separated host rules (net/hostRules.ts). */
const hostRules = commaList.transform((items, ctx): HostRule[] => {
  const rules: HostRule[] = [];
  for (const item of items) {
    const rule = parseHostRule(item);
    if (rule instanceof Error) ctx.addIssue({ code: 'custom', message: rule.message });
    else rules.push(rule);
  }
  return rules;
});

const workerSchema = sharedSchema.extend({
  /**
   * The OS sandbox every CLI run goes into: `bubblewrap` (default), or `off` for a
   * single-tenant deployment that trusts every job (apps/worker/src/sandbox).
   */
  SANDBOX: z.enum(['bubblewrap', 'off']).default('bubblewrap'),
  /** Hosts every sandboxed run may reach besides the model API, e.g. `registry.npmjs.org,*.github.com` (default: none). */
  SANDBOX_ALLOWED_HOSTS: hostRules.default([]),
  /** Size of a sandboxed run's private /tmp, a tmpfs in memory (default: 512 MiB). */
  SANDBOX_TMP_SIZE_MB: positiveInt.default(512),
  /**
   * CLI processes kept ready (apps/worker/src/pool): `off`, one cold `claude --print` per
   * job; `prespawn`, started ahead, one job each; `reuse`, reset with /clear and reused
   * for the next job of the same tenant and flags (default: reuse).
   */
  WARM_POOL: z.enum(['off', 'prespawn', 'reuse']).default('reuse'),
  /** Processes a worker keeps ready at most (default: 2). */
  WARM_POOL_SIZE: positiveInt.default(2),
  /** Jobs one reused process serves before it is retired (default: 100). */
  WARM_POOL_MAX_JOBS: positiveInt.default(100),
  /** An idle pooled process is retired after this long (default: 5 minutes). */
  WARM_POOL_IDLE_MS: positiveInt.default(5 * 60_000),
  /** A reused process whose sandbox holds more resident memory than this after a job is retired (default: 600 MiB). */
  WARM_POOL_MAX_RSS_MB: positiveInt.default(600),
  /** Host paths every sandboxed run sees read-only at the same place, e.g. a toolchain in /opt (default: none). */
  SANDBOX_READ_ONLY_PATHS: commaList
    .pipe(z.array(z.string().refine((p) => path.isAbsolute(p), 'each path must be absolute')))
    .default([]),
  /** Jobs one worker process runs at once (default: 2). */
  WORKER_CONCURRENCY: positiveInt.default(2),
  /** The claude executable (default: the one installed with @anthropic-ai/claude-code). */
  CLAUDE_BIN: z.string().min(1).optional(),
  /** Retries the CLI itself makes on API errors; 0 hands retries to the queue (default: 0). */
  CLAUDE_CODE_MAX_RETRIES: z.coerce.number().int().min(0).default(0),
  /** Time between SIGTERM and SIGKILL when a CLI run is stopped (default: 5 s). */
  WORKER_KILL_GRACE_MS: positiveInt.default(5000),
  /** Pass --bare to the CLI (skips hooks, plugins and CLAUDE.md discovery; ~0.12 s faster). */
  WORKER_CLI_BARE: envBoolean.default(false),
  /** On SIGTERM, how long running jobs may finish before they are handed back to the queue (default: 30 s). */
  SHUTDOWN_GRACE_MS: positiveInt.default(30_000),
  /**
   * A job's lock lives this long without renewal; a worker that died is noticed by the
   * next stalled check after it lapses (default: 15 s).
   */
  WORKER_LOCK_DURATION_MS: positiveInt.default(15_000),
  /** How often each worker looks for stalled jobs (default: 5 s). */
  WORKER_STALLED_INTERVAL_MS: positiveInt.default(5_000),
  /** How often one worker cleans up: expired job index entries, unused workspaces and transcripts (default: 10 min). */
  JANITOR_INTERVAL_MS: positiveInt.default(10 * 60_000),
  /** Times a job may be recovered from a dead worker before it fails as worker_lost (default: 2). */
  WORKER_MAX_STALLED_COUNT: z.coerce.number().int().min(0).default(2),
  /** Port of the worker's /metrics, /healthz and /readyz server (default: 0, off). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** Where that server listens: `0.0.0.0` for Prometheus and probes from elsewhere, which needs METRICS_TOKEN (default: 127.0.0.1). */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Webhook deliveries one worker process makes at once (default: 10). */
  WEBHOOK_CONCURRENCY: positiveInt.default(10),
  /** A delivery succeeds on a 2xx answer within this time (default: 15 s). */
  WEBHOOK_TIMEOUT_MS: positiveInt.default(15_000),
  /** Largest webhook body; a job object larger than this is sent without its result, with a link (default: 256 KiB). */
  WEBHOOK_MAX_BODY_BYTES: positiveInt.default(256 * 1024),
  /** Job events a worker read but did not hand on (it died) are taken over after this long (default: 60 s). */
  WEBHOOK_CLAIM_IDLE_MS: positiveInt.default(60_000),
}).superRefine((config, ctx) => {
  if (config.METRICS_PORT > 0) requireMetricsTokenOffLoopback(config.METRICS_HOST, 'METRICS_HOST', config, ctx);
});

export type SharedConfig = z.infer<typeof sharedSchema>;

/** JOB_RETENTION_HOURS in whole seconds, as Redis expiries take them. */
export const retentionSeconds = (config: Pick<SharedConfig, 'JOB_RETENTION_HOURS'>) => Math.max(1, Math.ceil(config.JOB_RETENTION_HOURS * 3600));
/** SESSION_TTL_DAYS in whole seconds. */
export const sessionTtlSeconds = (config: Pick<SharedConfig, 'SESSION_TTL_DAYS'>) => Math.max(1, Math.ceil(config.SESSION_TTL_DAYS * 86_400));

/** The deployment's default tenant limits, from TENANT_* (limits.ts). */
export function defaultTenantLimits(config: SharedConfig): import('./limits.js').EffectiveLimits {
  return {
    rate: config.TENANT_RATE_MAX ? { max: config.TENANT_RATE_MAX, per_seconds: config.TENANT_RATE_PER_SECONDS } : null,
    max_concurrency: config.TENANT_MAX_CONCURRENCY ?? null,
    max_queued: config.TENANT_MAX_QUEUED,
    requests_per_minute: config.TENANT_REQUESTS_PER_MINUTE,
    weight: config.TENANT_WEIGHT,
    max_stored_bytes: config.TENANT_MAX_STORED_BYTES,
    budget_usd: config.TENANT_BUDGET_USD ? { amount: config.TENANT_BUDGET_USD, per: config.TENANT_BUDGET_PER } : null,
  };
}
export type ApiConfig = z.infer<typeof apiSchema>;
export type WorkerConfig = z.infer<typeof workerSchema>;

/** One variable at fault and what is wrong with it. */
export interface ConfigIssue {
  variable: string;
  problem: string;
}

/**
 * A configuration the process can't start with. Its message is one line, `invalid
 * configuration: VAR: problem; VAR2: problem`, so it reads the same in a terminal and in
 * a log collector (startOrExitOnConfigError prints it without a stack trace).
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.variable}: ${i.problem}`).join('; ')}`);
  }
}

function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  // Empty strings count as unset, as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  throw new ConfigError(parsed.error.issues.map((i) => ({ variable: i.path.join('.'), problem: i.message })));
}

/**
 * A program's start (config, then what is built from it): a ConfigError ends the process
 * with exit code 1 and one line on stderr naming each variable and its problem. A stack
 * trace would tell an operator nothing they can act on; anything else is thrown on.
 */
export async function startOrExitOnConfigError<T>(program: string, start: () => T | Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    process.exit(1);
  }
}

export const loadSharedConfig = (env: NodeJS.ProcessEnv = process.env): SharedConfig => parseEnv(sharedSchema, env);
export const loadApiConfig = (env: NodeJS.ProcessEnv = process.env): ApiConfig => parseEnv(apiSchema, env);
export const loadWorkerConfig = (env: NodeJS.ProcessEnv = process.env): WorkerConfig => parseEnv(workerSchema, env);
