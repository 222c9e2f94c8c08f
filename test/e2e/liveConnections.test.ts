/**
 * Live connections with real API processes: API_MAX_CONNECTIONS closes connections past
 * it as they are accepted, and the stream leases of an API process that was SIGKILLed
 * lapse, so its tenant's MAX_STREAMS_PER_TENANT comes back without anyone cleaning up.
 */
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestEnv, waitFor, type TestEnv } from '../support/env.js';
import { startTestApi, type TestApi } from '../support/apiServer.js';
import { submitJob } from '../support/jobs.js';
import { freePort } from '../support/redisServer.js';
import { openSse, type SseStream } from '../support/sse.js';
import { startApiProcess, type AppProcess } from '../support/workerProcess.js';

let env: TestEnv;
const processes: AppProcess[] = [];
const sockets: Socket[] = [];
const streams: SseStream[] = [];
let api: TestApi | undefined;

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  for (const s of streams) s.close();
  for (const s of sockets) s.destroy();
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await api?.close();
  await env?.cleanup();
});

async function startApi(vars: Record<string, string>): Promise<string> {
  const port = await freePort();
  const proc = startApiProcess(env.processEnv({ PORT: String(port), HOST: '127.0.0.1', ...vars }));
  processes.push(proc);
  await proc.ready;
  return `http://127.0.0.1:${port}`;
}

/** A TCP connection that sends nothing: it holds one of the server's connections all the same. */
async function idleConnection(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/**
 * The status of a GET on a connection of its own, or the error that ended it. (Not fetch:
 * undici takes a connection closed before any answer for a stale one and retries a GET
 * on a new connection, again and again.)
 */
function getOnNewConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).once('error', reject);
  });
}

it('API_MAX_CONNECTIONS: a connection past it is closed at once; one freed lets the next in', async () => {
  const url = await startApi({ API_MAX_CONNECTIONS: '3' });
  const held = [await idleConnection(url), await idleConnection(url), await idleConnection(url)];
  // Accepted and closed before any answer.
  await expect(getOnNewConnection(`${url}/healthz`)).rejects.toThrow(/socket hang up|ECONNRESET/);

  held[0]!.destroy();
  const status = await waitFor(() => getOnNewConnection(`${url}/healthz`).catch(() => undefined), 10_000, 'a connection slot');
  expect(status).toBe(200);
});

it("a SIGKILLed API process's streams stop counting once their leases lapse", { timeout: 90_000 }, async () => {
  const vars = { MAX_STREAMS_PER_TENANT: '2' };
  const doomedUrl = await startApi(vars);
  api = await startTestApi(env.apiConfig(vars));
  const tenant = await api.createTenant('crash');
  const job = await submitJob(api, tenant.api_key, { prompt: 'waits' });
  const headers = { authorization: `Bearer ${tenant.api_key}` };
  for (let i = 0; i < 2; i++) {
    const s = await openSse(`${doomedUrl}/v1/jobs/${job.id}/events`, headers);
    streams.push(s);
    expect(s.status).toBe(200);
  }
  const refused = await fetch(`${api.url}/v1/jobs/${job.id}/events`, { headers });
  expect(refused.status).toBe(429);

  // The process dies without a word: nothing removes its leases; they lapse unrenewed.
  await processes.at(-1)!.stop('SIGKILL');
  const res = await waitFor(
    async () => {
      const r = await fetch(`${api!.url}/v1/jobs/${job.id}/events`, { headers });
      if (r.status === 200) return r;
      await r.body?.cancel();
      return undefined;
    },
    60_000,
    'the dead process’s leases to lapse',
  );
  await res.body?.cancel();
});
