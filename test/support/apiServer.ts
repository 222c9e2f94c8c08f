/** Runs the real API app on a free loopback port, with a tiny fetch helper. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp, createApiContext, type ApiContext } from '@claude-queue/api';
import { createLogger, waitForRedis, type ApiConfig, type Logger } from '@claude-queue/shared';
import { ADMIN_TOKEN } from './env.js';

export interface TestApi {
  url: string;
  ctx: ApiContext;
  request(method: string, path: string, options?: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; body: any }>;
  createTenant(name?: string): Promise<{ id: string; api_key: string }>;
  close(): Promise<void>;
}

export async function startTestApi(config: ApiConfig, options: { waitForRedis?: boolean; logger?: Logger } = {}): Promise<TestApi> {
  const ctx = createApiContext(config, options.logger ?? createLogger('api', config.LOG_LEVEL));
  // The API fails fast while Redis is away: don't let a test's first request race the connect.
  if (options.waitForRedis !== false) await waitForRedis(ctx.redis);
  const server: Server = await new Promise((resolve) => {
    const s = createApp(ctx).listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const request: TestApi['request'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  return {
    url,
    ctx,
    request,
    async createTenant(name = 'tenant') {
      const res = await request('POST', '/v1/admin/tenants', { key: ADMIN_TOKEN, body: { name } });
      if (res.status !== 201) throw new Error(`tenant create failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ctx.close();
    },
  };
}
