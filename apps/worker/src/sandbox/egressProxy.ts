/**
 * A sandboxed run's only way out of its network namespace. One proxy per run, on a
 * Unix socket that only that run's sandbox has bound in (bubblewrap.ts bridges it to
 * 127.0.0.1:3128 inside), so the policy is the run's own:
 *
 * - origin-form requests (`POST /v1/messages`), or absolute-form ones to the bridge
 *   itself: the CLI's model API calls, sent to ANTHROPIC_BASE_URL = the bridge. They go to the worker's model API with the real
 *   credentials put in place of the placeholders (modelCredentials.ts). Only the model
 *   API's message and model paths pass: the deployment's key reaches nothing else.
 * - `CONNECT host:port` and absolute-form `http://` requests (HTTPS_PROXY/HTTP_PROXY in
 *   the sandbox): tunnels and plain requests to the hosts the run may reach, the
 *   operator's SANDBOX_ALLOWED_HOSTS (any address: the operator chose them) and its
 *   job's MCP servers (public addresses only, unless MCP_ALLOW_PRIVATE). The address
 *   checked is the address connected to, so DNS rebinding can't turn a checked name into
 *   127.0.0.1. Everything else is refused with 403.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, type Agent } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP, type Socket } from 'node:net';
import { unlink } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { blockedAddressReason, createGuardedLookup, matchesHostRule, BlockedAddressError, type HostRule, type Logger } from '@claude-queue/shared';
import type { ModelRoute } from './modelCredentials.js';

export interface EgressPolicy {
  model: ModelRoute;
  /** SANDBOX_ALLOWED_HOSTS: reachable at any address. */
  operatorHosts: readonly HostRule[];
  /** The job's MCP servers: reachable at public addresses unless `allowPrivate`. */
  jobHosts: readonly HostRule[];
  /** MCP_ALLOW_PRIVATE. */
  allowPrivate: boolean;
}

export interface EgressProxyOptions {
  /** The port the bridge listens on inside the sandbox (an absolute-form request to it is a model call). */
  bridgePort?: number;
  /** Keep-alive agents for the model API, shared by a worker's runs. */
  agents?: { http?: Agent; https?: Agent };
  /** Called for every refused connection (metrics, logs): host and port only, never a path. */
  onRefused?: (target: { host: string; port: number; reason: string }) => void;
  logger: Logger;
}

export interface EgressProxy {
  close(): Promise<void>;
}

/**
 * Model API paths a sandboxed run may call: messages (and count_tokens, batches), and
 * models. Judged on the normalized path, and nothing encoded that a server could decode
 * into another path (`%2e%2e`, `%2f`).
 */
const MODEL_PATHS = /^\/v1\/(messages|models)(\/[A-Za-z0-9_\-/]*)?$/;

/** Headers that describe one hop, not the request (RFC 9110 §7.6.1), and the credentials the proxy sets itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

type Decision = { ok: true; checkAddress: boolean } | { ok: false; reason: string };

export async function startEgressProxy(socketPath: string, policy: EgressPolicy, options: EgressProxyOptions): Promise<EgressProxy> {
  const { logger } = options;
  const guarded = createGuardedLookup({ allowPrivate: false });

  const decide = (host: string, port: number): Decision => {
    if (policy.operatorHosts.some((r) => matchesHostRule(r, host, port))) return { ok: true, checkAddress: false };
    if (policy.jobHosts.some((r) => matchesHostRule(r, host, port))) return { ok: true, checkAddress: !policy.allowPrivate };
    return { ok: false, reason: `${host}:${port} is not a host this job may reach` };
  };

  const refuse = (host: string, port: number, reason: string) => {
    options.onRefused?.({ host, port, reason });
    logger.info({ host, port, reason }, 'sandbox egress refused');
  };

  /** A socket to host:port as the policy allows, or the reason it may not be opened. */
  const open = (host: string, port: number, checkAddress: boolean): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const name = host.replace(/^\[|\]$/g, '');
      if (checkAddress && isIP(name)) {
        // Node skips `lookup` for IP literals: judge the literal itself.
        const reason = blockedAddressReason(name);
        if (reason) return reject(new BlockedAddressError(reason));
      }
      const socket = connect({ host: name, port, ...(checkAddress ? { lookup: guarded } : {}) });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });

  const forwardToModel = (req: IncomingMessage, res: ServerResponse) => {
    const asked = new URL(req.url ?? '/', 'http://sandbox');
    const probe = (req.method === 'HEAD' || req.method === 'GET') && asked.pathname === '/';
    if (!probe && !MODEL_PATHS.test(asked.pathname)) {
      logger.warn({ method: req.method, path: asked.pathname }, 'sandbox: model API path refused');
      return sendApiError(res, 403, 'permission_error', 'claude-queue sandbox: only the model API\'s messages and models paths are reachable');
    }
    const upstream = policy.model.upstream;
    const target = new URL(upstream.pathname.replace(/\/$/, '') + asked.pathname + asked.search, upstream.origin);
    const headers = forwardedHeaders(req.headers);
    for (const name of ['x-api-key', 'authorization']) {
      const value = headers[name];
      if (typeof value !== 'string') continue;
      let real = value;
      for (const [placeholder, secret] of policy.model.secrets) real = real.split(placeholder).join(secret);
      headers[name] = real;
    }
    Object.assign(headers, policy.model.headers);
    headers.host = target.host;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const agent = target.protocol === 'https:' ? options.agents?.https : options.agents?.http;
    const out = send(target, { method: req.method, headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, forwardedHeaders(answer.headers));
      answer.pipe(res);
    });
    out.on('error', (err) => {
      logger.warn({ err: { message: err.message } }, 'sandbox: the model API could not be reached');
      if (!res.headersSent) sendApiError(res, 502, 'api_error', 'claude-queue sandbox: the model API could not be reached');
      else res.destroy();
    });
    // The run went away (killed, timed out): stop the call it was making.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  };

  const forwardPlainHttp = async (req: IncomingMessage, res: ServerResponse) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      return sendText(res, 400, 'claude-queue sandbox: not a valid URL');
    }
    if (target.protocol !== 'http:') return sendText(res, 400, 'claude-queue sandbox: only http:// is proxied this way; https goes through CONNECT');
    const port = Number(target.port || 80);
    const decision = decide(target.hostname, port);
    if (!decision.ok) {
      refuse(target.hostname, port, decision.reason);
      return sendText(res, 403, `claude-queue sandbox: ${decision.reason}`);
    }
    let socket: Socket;
    try {
      socket = await open(target.hostname, port, decision.checkAddress);
    } catch (err) {
      return failConnect(res, target.hostname, port, err);
    }
    const headers = forwardedHeaders(req.headers);
    headers.host = target.host;
    const out = httpRequest({ createConnection: () => socket, method: req.method, path: target.pathname + target.search, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, forwardedHeaders(answer.headers));
      answer.pipe(res);
    });
    out.on('error', () => (res.headersSent ? res.destroy() : sendText(res, 502, 'claude-queue sandbox: the request failed')));
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  };

  const failConnect = (res: ServerResponse, host: string, port: number, err: unknown) => {
    if (err instanceof BlockedAddressError) {
      refuse(host, port, err.message);
      return sendText(res, 403, `claude-queue sandbox: ${host} is not on a public address`);
    }
    return sendText(res, 502, `claude-queue sandbox: could not connect to ${host}:${port}`);
  };

  const server = createServer((req, res) => {
    if (req.url?.startsWith('/')) return forwardToModel(req, res);
    // The model API is the bridge itself: a client that sends even loopback through
    // HTTP_PROXY asks for it in absolute form.
    const bridge = /^http:\/\/(127\.0\.0\.1|localhost):(\d+)(\/.*)?$/.exec(req.url ?? '');
    if (bridge && Number(bridge[2]) === options.bridgePort) {
      req.url = bridge[3] ?? '/';
      return forwardToModel(req, res);
    }
    void forwardPlainHttp(req, res);
  });

  // Tunnels leave the HTTP server's hands: closing the proxy must end them itself.
  const tunnels = new Set<Duplex>();
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    client.on('error', () => undefined);
    tunnels.add(client);
    client.on('close', () => tunnels.delete(client));
    const target = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(req.url ?? '');
    if (!target) return client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    const host = target[1]!;
    const port = Number(target[2]);
    const decision = decide(host, port);
    if (!decision.ok) {
      refuse(host, port, decision.reason);
      return client.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nclaude-queue sandbox: ${decision.reason}\n`);
    }
    open(host, port, decision.checkAddress).then(
      (upstream) => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      },
      (err: unknown) => {
        if (err instanceof BlockedAddressError) {
          refuse(host, port, err.message);
          client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        } else {
          client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
        }
      },
    );
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    async close() {
      for (const tunnel of tunnels) tunnel.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(socketPath).catch(() => undefined);
    },
  };
}

function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** In the Messages API's error shape, so the CLI reports it as an API error with its status. */
function sendApiError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type, message } }));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
}
