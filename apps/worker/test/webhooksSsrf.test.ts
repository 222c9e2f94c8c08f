/**
 * The SSRF guard with WEBHOOK_ALLOW_PRIVATE off: the address table, checkPublicUrl
 * (what submit and PATCH refuse), the socket's lookup, the sender, and one delivery
 * end to end that is marked `blocked` and never reaches the receiver on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockedAddressReason,
  checkPublicUrl,
  createGuardedLookup,
  createLogger,
  BlockedAddressError,
  type DeliveryAttempt,
} from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '../src/createWorker.js';
import { sendWebhook } from '../src/webhooks/sendWebhook.js';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { submitJob } from '../../../test/support/jobs.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));
const guarded = { allowPrivate: false };

describe('blockedAddressReason', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.8.9.10', /loopback/],
    ['10.0.0.1', /private/],
    ['172.16.5.4', /private/],
    ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local/],
    ['100.64.0.1', /CGNAT/],
    ['0.0.0.0', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /reserved/],
    ['198.18.0.1', /benchmarking/],
    ['192.0.2.1', /documentation/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:7f00:1', /loopback/],
    ['::ffff:10.1.2.3', /private/],
    ['::ffff:169.254.169.254', /link-local/],
    ['64:ff9b::7f00:1', /loopback/],
    ['2002:a9fe:a9fe::1', /link-local/],
    ['fd00:ec2::254', /unique local/],
    ['fc00::1', /unique local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['ff02::1', /multicast/],
    ['::7f00:1', /not global unicast/],
    ['2001:db8::1', /documentation/],
    ['2001::1', /Teredo/],
  ])('refuses %s', (address, reason) => {
    expect(blockedAddressReason(address)).toMatch(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'allows the public address %s',
    (address) => {
      expect(blockedAddressReason(address)).toBeNull();
    },
  );
});

describe('checkPublicUrl', () => {
  it.each([
    'http://127.0.0.1/hook',
    'http://10.0.0.1/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]:8080/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://0.0.0.0/hook',
    // The WHATWG parser's spellings of 127.0.0.1 and 0.0.0.0.
    'http://2130706433/hook',
    'http://0x7f.1/hook',
    'http://0/hook',
    'https://[fd00:ec2::254]/hook',
    // A name that resolves only to loopback.
    'http://localhost:9/hook',
  ])('refuses %s with the guard on', async (url) => {
    const check = await checkPublicUrl(url, guarded);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.reason).toMatch(/public addresses only/);
  });

  it('allows public IP literals, and anything with WEBHOOK_ALLOW_PRIVATE', async () => {
    expect(await checkPublicUrl('https://8.8.8.8/hook', guarded)).toEqual({ ok: true });
    expect(await checkPublicUrl('http://[2606:4700:4700::1111]/hook', guarded)).toEqual({ ok: true });
    expect(await checkPublicUrl('http://127.0.0.1/hook', { allowPrivate: true })).toEqual({ ok: true });
    expect(await checkPublicUrl('http://localhost/hook', { allowPrivate: true })).toEqual({ ok: true });
  });

  it('refuses what is not an http(s) URL, guard or not', async () => {
    expect(await checkPublicUrl('ftp://example.com/', { allowPrivate: true })).toMatchObject({ ok: false });
    expect(await checkPublicUrl('not a url', { allowPrivate: true })).toMatchObject({ ok: false });
  });
});

describe('the guarded lookup', () => {
  const lookup = (allowPrivate: boolean, all: boolean) =>
    new Promise<{ err: Error | null; address: unknown }>((resolve) =>
      createGuardedLookup({ allowPrivate })('localhost', { all }, (err, address) => resolve({ err, address })),
    );

  it('fails a name that resolves only to blocked addresses, whether one or all are asked for', async () => {
    for (const all of [true, false]) {
      const { err } = await lookup(false, all);
      expect(err).toBeInstanceOf(BlockedAddressError);
      expect(err!.message).toMatch(/^localhost resolves only to blocked \(non-public\) addresses$/);
    }
  });

  it('resolves as usual with WEBHOOK_ALLOW_PRIVATE', async () => {
    expect((await lookup(true, true)).address).toEqual(expect.arrayContaining([expect.objectContaining({ address: '127.0.0.1' })]));
    expect(await lookup(true, false)).toMatchObject({ err: null, address: '127.0.0.1' });
  });
});

describe('with the guard on', () => {
  let server: Server;
  let port: number;
  let requests = 0;
  let env: TestEnv;
  let api: TestApi;
  let worker: ClaudeWorker;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    env = await createTestEnv();
    // The API lets the URL through (as if it had resolved to a public address at
    // submit); the worker's guard is what must stop it.
    api = await startTestApi(env.apiConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }));
    worker = createClaudeWorker({
      config: env.workerConfig({ CLAUDE_BIN: FAKE_CLAUDE, WEBHOOK_RETRY_SCHEDULE_MS: '0,100' }),
      logger: createLogger('worker', 'silent'),
      env: { PATH: process.env.PATH },
    });
    await worker.ready;
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await env?.cleanup();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends nothing to an IP literal or a name of loopback', async () => {
    const send = (url: string) => sendWebhook({ url, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate: false });
    expect(await send(`http://127.0.0.1:${port}/`)).toMatchObject({ kind: 'blocked', reason: expect.stringMatching(/loopback/) });
    expect(await send(`http://[::ffff:127.0.0.1]:${port}/`)).toMatchObject({ kind: 'blocked' });
    expect(await send(`http://localhost:${port}/`)).toMatchObject({ kind: 'blocked', reason: expect.stringMatching(/localhost/) });
    expect(requests).toBe(0);
    // The same server, allowed: the guard was the only thing in the way.
    expect(await sendWebhook({ url: `http://localhost:${port}/`, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate: true })).toMatchObject({
      kind: 'answered',
      status: 200,
    });
    expect(requests).toBe(1);
  });

  it('marks a delivery to a loopback name blocked, after one attempt and no request', async () => {
    const before = requests;
    const tenant = await api.createTenant('ssrf');
    const job = await submitJob(api, tenant.api_key, { prompt: 'ssrf', webhook_url: `http://localhost:${port}/hook` });
    const attempts = await waitFor(
      async () => {
        const data: DeliveryAttempt[] = (await api.request('GET', `/v1/jobs/${job.id}/deliveries`, { key: tenant.api_key })).body.data;
        return data.length ? data : undefined;
      },
      20_000,
      'the delivery attempt',
    );
    expect(attempts).toEqual([
      expect.objectContaining({ id: `${job.id}.job.succeeded`, attempt: 1, status_code: null, outcome: 'blocked', error: expect.stringMatching(/^blocked: localhost/) }),
    ]);
    // What the name resolved to stays inside: the tenant reads this log.
    expect(attempts[0]!.error).not.toMatch(/127\.0\.0\.1|::1|loopback/);
    expect(requests).toBe(before);
  });
});
