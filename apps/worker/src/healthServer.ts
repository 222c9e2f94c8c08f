/**
 * A worker's small HTTP server on METRICS_PORT (off by default): GET /metrics (the
 * worker's registry; METRICS_TOKEN as a Bearer, required by config.ts off loopback, under
 * the failed-login rule of http/failedLogins.ts), /healthz (the process is up) and
 * /readyz (it can run jobs: Redis answers a PING within a second, and the CLI binary is
 * there and runs). Probes need no token; metrics may.
 */
import { access, constants, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, STATUS_CODES, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { Redis } from 'ioredis';
import { createMetricsAuth, renderMetrics, type FailedLogins, type Logger, type MetricsRegistry } from '@claude-queue/shared';
import { MISSING_CREDENTIAL_MESSAGE } from './sandbox/modelCredentials.js';
import type { Sandbox } from './sandbox/sandbox.js';

export interface Readiness {
  ready: boolean;
  /** Each check by name: `redis`, `cli`, `accepting` (false once shutdown began). */
  checks: Record<string, boolean>;
  /** `bubblewrap`, or `off`: then `warning` says the runs are not isolated. */
  sandbox: string;
  warning?: string;
  /**
   * `deployment` when the worker's environment holds a model credential; `none` when only
   * tenants' own credentials can run jobs: still ready (those tenants' jobs run), and
   * `credentials_warning` says what to set for the others.
   */
  model_credentials?: 'deployment' | 'none';
  credentials_warning?: string;
}

/** What /readyz and the start log say of a worker with SANDBOX=off. */
export const UNSANDBOXED_WARNING = 'SANDBOX=off: CLI runs are not isolated from the worker or from each other; single-tenant use only';

export interface HealthServerOptions {
  /** METRICS_PORT; 0 picks a free port (tests). */
  port: number;
  /** METRICS_HOST (default: 127.0.0.1). */
  host?: string;
  /** Wrong tokens per client address, counted with the API's. */
  failedLogins: FailedLogins;
  registry: MetricsRegistry;
  /** METRICS_TOKEN: required as a Bearer on /metrics when set. */
  token?: string;
  readiness: () => Promise<Readiness>;
  logger: Logger;
}

export interface HealthServer {
  /** The port it listens on. */
  port: number;
  close(): Promise<void>;
}

/** How long /metrics waits for the failed-login count: the worker's connection queues commands while Redis is away. */
const FAILED_LOGINS_WAIT_MS = 1000;

/** Listens on METRICS_HOST: off loopback (Prometheus and probes from elsewhere), METRICS_TOKEN guards /metrics. */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const authorized = createMetricsAuth(options.token);
  const { failedLogins } = options;
  // Without Redis the count can't be read: the token alone guards /metrics meanwhile,
  // rather than scrapes hang on a worker that is still up.
  const blockedForSeconds = (address: string | undefined) =>
    Promise.race([failedLogins.blockedForSeconds(address), new Promise<number>((r) => setTimeout(() => r(0), FAILED_LOGINS_WAIT_MS).unref())]);
  const server = createServer((req, res) => {
    const route = new URL(req.url ?? '/', 'http://worker').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendProblem(res, 405, 'method_not_allowed', `${req.method} is not allowed`);
    }
    const answer = async () => {
      if (route === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (route === '/readyz') {
        const { ready, ...rest } = await options.readiness();
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', ...rest });
      }
      if (route === '/metrics') {
        const address = req.socket.remoteAddress;
        const waitSeconds = await blockedForSeconds(address);
        if (waitSeconds > 0) {
          res.setHeader('Retry-After', String(waitSeconds));
          return sendProblem(res, 429, 'too_many_failed_logins', `too many wrong credentials from this address; retry in ${waitSeconds} s`);
        }
        if (!authorized(req.headers.authorization)) {
          failedLogins.recordFailure(address).catch(() => undefined);
          res.setHeader('WWW-Authenticate', 'Bearer');
          return sendProblem(res, 401, 'unauthorized', 'missing or invalid metrics token');
        }
        const { contentType, body } = await renderMetrics(options.registry);
        res.writeHead(200, { 'Content-Type': contentType }).end(body);
        return;
      }
      sendProblem(res, 404, 'not_found', `no route for ${req.method} ${route}`);
    };
    answer().catch((err: Error) => {
      options.logger.error({ err: { message: err.message }, route }, 'health server request failed');
      if (!res.headersSent) sendProblem(res, 500, 'internal_error', 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.logger.error({ err: { message: err.message } }, 'health server error'));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));
}

/** RFC 9457, as the API answers. */
function sendProblem(res: ServerResponse, status: number, code: string, detail: string): void {
  const body = { type: `https://claude-queue.dev/problems/${code}`, title: STATUS_CODES[status] ?? 'Error', status, detail, code };
  res.writeHead(status, { 'Content-Type': 'application/problem+json' }).end(JSON.stringify(body));
}

export interface CliProbe {
  ok: boolean;
  /** The version the CLI printed (`2.1.332`), or null. */
  version: string | null;
}

/**
 * Runs `claude --version` once, the way jobs run (in the sandbox), in a scratch
 * conversation folder so it leaves nothing behind, with none of the worker's
 * environment (no credentials, no Redis URL).
 */
export async function probeClaudeCli(sandbox: Sandbox, timeoutMs = 15_000): Promise<CliProbe> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'cq-cli-probe-'));
  try {
    const dirs = { workspace: path.join(scratch, 'workspace'), home: path.join(scratch, 'home') };
    await Promise.all([mkdir(dirs.workspace), mkdir(dirs.home)]);
    const command = await sandbox.prepare({ args: ['--version'], dirs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, hosts: [] });
    try {
      const child = execa(command.file, command.args, {
        cwd: command.cwd,
        env: command.env,
        extendEnv: false,
        stdin: 'ignore',
        reject: false,
        timeout: timeoutMs,
        detached: true,
      });
      const r = await child;
      killGroup(child.pid);
      const version = /\d+\.\d+\.\d+[\w.+-]*/.exec(String(r.stdout ?? ''))?.[0] ?? null;
      return { ok: r.exitCode === 0, version };
    } finally {
      await command.dispose();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Ends what a run left in its process group (a sandbox's init and bridge). */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing left
  }
}

export interface ReadinessCheckOptions {
  /** A connection of the worker's: checked for `ready`, then PINGed. */
  redis: Redis;
  /** The claude executable the runner spawns. */
  claudeBin: string;
  /** Where runs go: the probe runs there too, and SANDBOX=off is reported on every check. */
  sandbox: Sandbox;
  /** True once shutdown began: the worker takes no more jobs. */
  isStopping: () => boolean;
  /** Whether the worker's environment holds a model credential (hasDeploymentCredential). */
  hasCredential: boolean;
  /** Called once with the version the CLI printed at start. */
  onCliVersion?: (version: string) => void;
  logger: Logger;
  /** How long a PING may take (default: 1000 ms). */
  pingTimeoutMs?: number;
  /** How soon a failed `--version` is tried again (default: 30 s). */
  cliRetryMs?: number;
}

/**
 * Readiness: `claude --version` runs once at start and its answer is kept; later checks
 * only make sure the file is still there and executable. A failed probe is repeated, at
 * most every `cliRetryMs`, so a CLI installed late makes the worker ready.
 */
export interface ReadinessCheck {
  /** Probes the CLI; resolves when the first answer is in. */
  start(): Promise<void>;
  check(): Promise<Readiness>;
  /**
   * False once `--version` failed, until a later probe (at most every `cliRetryMs`,
   * started by this call) succeeds: the dispatcher takes no jobs it could only fail.
   */
  cliUsable(): boolean;
}

export function createReadinessCheck(options: ReadinessCheckOptions): ReadinessCheck {
  const pingTimeoutMs = options.pingTimeoutMs ?? 1000;
  const cliRetryMs = options.cliRetryMs ?? 30_000;
  let probe: Promise<boolean> | null = null;
  let probedAt = 0;
  let versionReported = false;
  let lastOk: boolean | null = null;

  const runProbe = () => {
    probedAt = Date.now();
    probe = probeClaudeCli(options.sandbox).then(
      (r) => {
        if (r.ok && r.version && !versionReported) {
          versionReported = true;
          options.onCliVersion?.(r.version);
        }
        if (!r.ok) options.logger.warn({ bin: options.claudeBin }, 'the claude CLI does not run: this worker is not ready');
        lastOk = r.ok;
        return r.ok;
      },
      (err: Error) => {
        options.logger.warn({ bin: options.claudeBin, err: { message: err.message } }, 'the claude CLI could not be probed');
        lastOk = false;
        return false;
      },
    );
    return probe;
  };

  const cliOk = async () => {
    const ran = await (probe ?? runProbe());
    if (!ran) return Date.now() - probedAt >= cliRetryMs ? runProbe() : false;
    return access(options.claudeBin, constants.X_OK).then(
      () => true,
      () => false,
    );
  };

  // A worker's connection queues commands while Redis is away: ask only a ready one,
  // so an outage answers at once instead of piling PINGs up for the reconnect.
  const redisOk = async () => {
    if (options.redis.status !== 'ready') return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), pingTimeoutMs);
    });
    const ping = options.redis.ping().then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    start: () => runProbe().then(() => undefined),
    cliUsable() {
      if (lastOk === false && Date.now() - probedAt >= cliRetryMs) void runProbe();
      return lastOk !== false;
    },
    async check() {
      const accepting = !options.isStopping();
      const [redis, cli] = await Promise.all([redisOk(), cliOk()]);
      const sandbox = options.sandbox.kind;
      return {
        ready: accepting && redis && cli,
        checks: { redis, cli, accepting },
        sandbox,
        ...(sandbox === 'off' ? { warning: UNSANDBOXED_WARNING } : {}),
        model_credentials: options.hasCredential ? 'deployment' : 'none',
        ...(options.hasCredential ? {} : { credentials_warning: MISSING_CREDENTIAL_MESSAGE }),
      };
    },
  };
}
