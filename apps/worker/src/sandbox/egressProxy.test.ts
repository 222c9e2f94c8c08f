/**
 * The egress proxy on a real Unix socket, with a real upstream and listener on loopback:
 * what a sandboxed run can reach through it, and that the model API gets the real
 * credentials while the run only ever held placeholders.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, parseHostRule, type HostRule } from '@claude-queue/shared';
import { startEgressProxy, type EgressPolicy, type EgressProxy } from './egressProxy.js';
import { placeholderFor } from './modelCredentials.js';

const logger = createLogger('test', 'silent');
const rule = (text: string) => parseHostRule(text) as HostRule;

let dir: string;
let model: Server;
let modelSeen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }>;
let listener: NetServer;
let listenerPort: number;
let listenerConnections: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cq-egress-'));
  modelSeen = [];
  model = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      modelSeen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => model.listen(0, '127.0.0.1', r));
  listenerConnections = 0;
  listener = createNetServer((s) => {
    listenerConnections++;
    s.on('data', (d) => s.write(`pong:${d.toString()}`));
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  listenerPort = (listener.address() as AddressInfo).port;
});

afterAll(async () => {
  model.closeAllConnections();
  await new Promise((r) => model.close(r));
  await new Promise((r) => listener.close(r));
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function withProxy(policy: Partial<EgressPolicy>, test: (socket: string) => Promise<void>) {
  const socket = path.join(dir, `p${n++}.sock`);
  const full: EgressPolicy = {
    model: {
      upstream: new URL(`http://127.0.0.1:${(model.address() as AddressInfo).port}/prefix`),
      secrets: [[placeholderFor('ANTHROPIC_API_KEY'), 'sk-real-key']],
      headers: { 'x-gateway': 'g1' },
    },
    operatorHosts: [],
    jobHosts: [],
    allowPrivate: false,
    ...policy,
  };
  const proxy: EgressProxy = await startEgressProxy(socket, full, { logger });
  try {
    await test(socket);
  } finally {
    await proxy.close();
  }
}

function call(socket: string, method: string, url: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path: url, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** CONNECT through the proxy; on 200, sends `ping` and returns what came back. */
function tunnel(socket: string, target: string): Promise<{ status: number; echoed?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'CONNECT', path: target });
    req.on('connect', (res, sock: Socket) => {
      if (res.statusCode !== 200) {
        sock.destroy();
        return resolve({ status: res.statusCode! });
      }
      sock.once('data', (d) => {
        sock.destroy();
        resolve({ status: 200, echoed: d.toString() });
      });
      sock.write('ping');
    });
    req.on('error', reject);
    req.end();
  });
}

describe('egress proxy: the model API', () => {
  it('forwards a messages call with the real key in place of the placeholder, and the gateway headers', async () => {
    await withProxy({}, async (socket) => {
      const res = await call(socket, 'POST', '/v1/messages?beta=true', { 'x-api-key': placeholderFor('ANTHROPIC_API_KEY'), 'content-type': 'application/json' }, '{"m":1}');
      expect(res).toEqual({ status: 200, body: '{"ok":true}' });
      const seen = modelSeen.at(-1)!;
      expect(seen).toMatchObject({ method: 'POST', url: '/prefix/v1/messages?beta=true', body: '{"m":1}' });
      expect(seen.headers['x-api-key']).toBe('sk-real-key');
      expect(seen.headers['x-gateway']).toBe('g1');
    });
  });

  it('refuses every other path of the model API: the key reaches nothing else', async () => {
    await withProxy({}, async (socket) => {
      const before = modelSeen.length;
      for (const url of ['/v1/files', '/v1/organizations/me', '/v1/messagesx', '/v1/../v1/files', '/v1/messages/../files', '/v1/messages/%2e%2e/files', '/v1/messages/..%2ffiles']) {
        const res = await call(socket, 'GET', url, { 'x-api-key': placeholderFor('ANTHROPIC_API_KEY') });
        expect(res.status, url).toBe(403);
      }
      expect(modelSeen.length).toBe(before);
    });
  });
});

describe('egress proxy: other hosts', () => {
  it('refuses a host that is not allowed, and the listener sees nothing', async () => {
    await withProxy({}, async (socket) => {
      expect(await tunnel(socket, `127.0.0.1:${listenerPort}`)).toEqual({ status: 403 });
      expect((await call(socket, 'GET', `http://127.0.0.1:${listenerPort}/`)).status).toBe(403);
    });
    expect(listenerConnections).toBe(0);
  });

  it("refuses a job's host on a loopback, private or metadata address, even when named", async () => {
    const jobHosts = [rule(`127.0.0.1:${listenerPort}`), rule(`localhost:${listenerPort}`), rule('169.254.169.254:80'), rule('10.1.2.3:80')];
    await withProxy({ jobHosts }, async (socket) => {
      for (const target of [`127.0.0.1:${listenerPort}`, `localhost:${listenerPort}`, '169.254.169.254:80', '10.1.2.3:80']) {
        expect((await tunnel(socket, target)).status, target).toBe(403);
      }
    });
    expect(listenerConnections).toBe(0);
  });

  it("tunnels to the operator's hosts at any address, and to a job's private host with MCP_ALLOW_PRIVATE", async () => {
    await withProxy({ operatorHosts: [rule(`127.0.0.1:${listenerPort}`)] }, async (socket) => {
      expect(await tunnel(socket, `127.0.0.1:${listenerPort}`)).toEqual({ status: 200, echoed: 'pong:ping' });
      // Another port of the same host is not the rule's.
      expect((await tunnel(socket, `127.0.0.1:${listenerPort + 1}`)).status).toBe(403);
    });
    await withProxy({ jobHosts: [rule(`127.0.0.1:${listenerPort}`)], allowPrivate: true }, async (socket) => {
      expect(await tunnel(socket, `127.0.0.1:${listenerPort}`)).toEqual({ status: 200, echoed: 'pong:ping' });
    });
    expect(listenerConnections).toBe(2);
    listenerConnections = 0;
  });

  it('ends open tunnels when the run is over', async () => {
    const socket = path.join(dir, 'closing.sock');
    const proxy = await startEgressProxy(
      socket,
      { model: { upstream: new URL('http://127.0.0.1:1'), secrets: [], headers: {} }, operatorHosts: [rule(`127.0.0.1:${listenerPort}`)], jobHosts: [], allowPrivate: false },
      { logger },
    );
    const closed = await new Promise<boolean>((resolve) => {
      const req = request({ socketPath: socket, method: 'CONNECT', path: `127.0.0.1:${listenerPort}` });
      req.on('connect', (_res, sock: Socket) => {
        sock.on('close', () => resolve(true));
        void proxy.close();
      });
      req.end();
    });
    expect(closed).toBe(true);
    listenerConnections = 0;
  });
});
