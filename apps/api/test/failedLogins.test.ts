/**
 * Guessing credentials, as an attacker would: ADMIN_TOKEN, a tenant's API key, a board
 * login and METRICS_TOKEN, each over HTTP from one client address. Past
 * LOGIN_FAILURES_MAX wrong ones that address gets 429 with Retry-After for every
 * credential, the right one too; other addresses are untouched; successes don't count;
 * and two API processes over one Redis count together. Clients come from distinct
 * loopback addresses (127.0.0.x), each its own attacker.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';

const MAX = 3;
const WINDOW_SECONDS = 120;
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const BOARD = { user: 'dana', password: 'dana-board-password' };

let env: TestEnv;
let api: TestApi;
/** A second API process's app over the same Redis and prefix. */
let other: TestApi;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  env = await createTestEnv();
  const config = env.apiConfig({
    LOGIN_FAILURES_MAX: String(MAX),
    LOGIN_FAILURES_WINDOW_SECONDS: String(WINDOW_SECONDS),
    METRICS_TOKEN,
    BOARD_USERS: `${BOARD.user}:${BOARD.password}:ro`,
  });
  api = await startTestApi(config);
  other = await startTestApi(config);
  // From 127.0.0.1, which no test below guesses from.
  tenant = await api.createTenant('guessed');
});

afterAll(async () => {
  await api?.close();
  await other?.close();
  await env?.cleanup();
});

let nextAddress = 2;
/** A fresh client address: 127.0.0.2, .3, … */
const newAttacker = () => `127.0.0.${nextAddress++}`;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: any;
}

/** GET `path` on `target` from the local address `from`, with this Authorization. */
function get(target: TestApi, path: string, from: string, authorization: string): Promise<Answer> {
  const url = new URL(path, target.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { localAddress: from, headers: { authorization } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const bearer = (token: string) => `Bearer ${token}`;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Each credential: where it is checked, a right one and a wrong one. */
const CREDENTIALS = [
  { name: 'ADMIN_TOKEN', path: '/v1/admin/tenants', right: () => bearer(ADMIN_TOKEN), wrong: () => bearer(`${ADMIN_TOKEN}x`) },
  { name: "a tenant's API key", path: '/v1/jobs', right: () => bearer(tenant.api_key), wrong: () => bearer(`${tenant.api_key.slice(0, -1)}x`) },
  { name: 'a board login', path: '/admin/queues/api/queues', right: () => basic(BOARD.user, BOARD.password), wrong: () => basic(BOARD.user, 'guess-guess-guess') },
  { name: 'METRICS_TOKEN', path: '/metrics', right: () => bearer(METRICS_TOKEN), wrong: () => bearer('not-the-metrics-token') },
] as const;

describe.each(CREDENTIALS)('guessing $name', (credential) => {
  it('answers 401 to the first wrong ones, then 429 with Retry-After to everything from that address, the right one too', async () => {
    const attacker = newAttacker();
    const bystander = newAttacker();
    for (let i = 0; i < MAX; i++) expect((await get(api, credential.path, attacker, credential.wrong())).status).toBe(401);

    for (const authorization of [credential.wrong(), credential.right()]) {
      const res = await get(api, credential.path, attacker, authorization);
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ code: 'too_many_failed_logins', status: 429 });
      const retryAfter = Number(res.retryAfter);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    }
    // Another address is not held back by this one.
    expect((await get(api, credential.path, bystander, credential.right())).status).toBe(200);
  });
});

it('holds an address back for every credential at once: one rule, one count', async () => {
  const attacker = newAttacker();
  // Failures spread over the four credentials add up.
  for (const credential of CREDENTIALS.slice(0, MAX)) expect((await get(api, credential.path, attacker, credential.wrong())).status).toBe(401);
  for (const credential of CREDENTIALS) expect((await get(api, credential.path, attacker, credential.right())).status, credential.name).toBe(429);
});

it("doesn't count successes: many right credentials, then wrong ones up to the limit, are still 401", async () => {
  const user = newAttacker();
  for (let i = 0; i < 3 * MAX; i++) expect((await get(api, '/v1/admin/tenants', user, bearer(ADMIN_TOKEN))).status).toBe(200);
  for (let i = 0; i < MAX; i++) expect((await get(api, '/v1/admin/tenants', user, bearer('wrong-admin-token-0123'))).status).toBe(401);
  expect((await get(api, '/v1/admin/tenants', user, bearer(ADMIN_TOKEN))).status).toBe(429);
});

it('counts failures across API processes: guesses spread over two are held back on both', async () => {
  const attacker = newAttacker();
  for (let i = 0; i < MAX; i++) {
    const target = i % 2 === 0 ? api : other;
    expect((await get(target, '/v1/admin/tenants', attacker, bearer(`wrong-admin-token-${i}`))).status).toBe(401);
  }
  for (const target of [api, other]) expect((await get(target, '/v1/admin/tenants', attacker, bearer(ADMIN_TOKEN))).status).toBe(429);
});
