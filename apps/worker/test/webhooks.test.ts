/**
 * Webhook delivery end to end: the real API, two in-process workers with the fake CLI
 * (so the consumer group has two members to share events between), and a receiver on
 * loopback (WEBHOOK_ALLOW_PRIVATE=true) that verifies every request with the
 * `standardwebhooks` package, as a receiver would, and answers as each test scripts it.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { submitJob } from '../../../test/support/jobs.js';
import { createLogger, type DeliveryAttempt } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '../src/createWorker.js';

const FAKE_CLAUDE = fileURLToPath(new URL('../../../test/support/fake-claude.mjs', import.meta.url));
const MAX_BODY_BYTES = 4096;

interface Received {
  path: string;
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

type Answer = { status: number; headers?: Record<string, string> };

/** A webhook receiver: answers each path from its script (the last answer repeats), records everything. */
class Receiver {
  readonly received: Received[] = [];
  private readonly scripts = new Map<string, Answer[]>();
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const script = this.scripts.get(path) ?? [{ status: 200 }];
        const answer = script.length > 1 ? script.shift()! : script[0]!;
        this.received.push({ path, at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: answer.status });
        res.writeHead(answer.status, answer.headers).end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  script(path: string, ...answers: Answer[]): string {
    this.scripts.set(path, answers.length ? answers : [{ status: 200 }]);
    return this.url + path;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let env: TestEnv;
let api: TestApi;
let workers: ClaudeWorker[];
let receiver: Receiver;
let tenant: { id: string; api_key: string; webhook_secret: string };

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }));
  const config = env.workerConfig({
    CLAUDE_BIN: FAKE_CLAUDE,
    WORKER_CONCURRENCY: '4',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_SCHEDULE_MS: '0,200,200',
    WEBHOOK_TIMEOUT_MS: '2000',
    WEBHOOK_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
  });
  workers = [0, 1].map(() => createClaudeWorker({ config, logger: createLogger('worker', 'silent'), env: { PATH: process.env.PATH } }));
  await Promise.all(workers.map((w) => w.ready));
  receiver = new Receiver();
  await receiver.start();
  tenant = (await api.request('POST', '/v1/admin/tenants', { key: ADMIN_TOKEN, body: { name: 'hooks' } })).body;
});

afterAll(async () => {
  await Promise.all(workers?.map((w) => w.close()) ?? []);
  await receiver?.close();
  await api?.close();
  await env?.cleanup();
});

const deliveriesOf = async (jobId: string, key = tenant.api_key): Promise<DeliveryAttempt[]> =>
  (await api.request('GET', `/v1/jobs/${jobId}/deliveries`, { key })).body.data;

/** Polls a job's delivery log until `done` holds for it. */
const waitForDeliveries = (jobId: string, done: (attempts: DeliveryAttempt[]) => boolean, what = 'deliveries') =>
  waitFor(
    async () => {
      const attempts = await deliveriesOf(jobId);
      return done(attempts) ? attempts : undefined;
    },
    20_000,
    `${what} of job ${jobId}`,
  );

const ENDED = ['delivered', 'exhausted', 'blocked', 'disabled'];
const ended = (n = 1) => (a: DeliveryAttempt[]) => a.filter((x) => ENDED.includes(x.outcome)).length >= n;

/** Verifies a request as a receiver using `standardwebhooks` would; returns the parsed body. */
function verify(r: Received, secret = tenant.webhook_secret): any {
  return new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
}

describe('webhook delivery', () => {
  it('retries after two 500s, then delivers once, signed; the log shows three attempts', async () => {
    const url = receiver.script('/flaky', { status: 500 }, { status: 500 }, { status: 200 });
    const job = await submitJob(api, tenant.api_key, { prompt: 'hello hooks', webhook_url: url });
    const attempts = await waitForDeliveries(job.id, ended());

    const got = receiver.at('/flaky');
    expect(got).toHaveLength(3);
    // Every attempt carries the same webhook-id and a valid signature; the receiver's
    // dedupe key saw one success.
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([`${job.id}.job.succeeded`]));
    const processed = new Set(got.filter((r) => r.status < 300).map((r) => r.headers['webhook-id']));
    expect(processed.size).toBe(1);
    const payload = verify(got[2]!);
    for (const r of got) verify(r);
    expect(payload).toMatchObject({ type: 'job.succeeded', data: { id: job.id, status: 'succeeded', result: { text: 'fake: hello hooks' } } });
    expect(Date.parse(payload.timestamp)).toBeGreaterThan(0);
    expect(got[0]!.headers['content-type']).toBe('application/json');

    expect(attempts.map((a) => [a.attempt, a.status_code, a.outcome])).toEqual([
      [1, 500, 'failed'],
      [2, 500, 'failed'],
      [3, 200, 'delivered'],
    ]);
    expect(attempts[0]).toEqual({
      id: `${job.id}.job.succeeded`,
      type: 'job.succeeded',
      url,
      attempt: 1,
      at: expect.any(String),
      status_code: 500,
      error: null,
      duration_ms: expect.any(Number),
      outcome: 'failed',
    });
  });

  it('does not retry after a 2xx', async () => {
    const url = receiver.script('/once', { status: 204 });
    const job = await submitJob(api, tenant.api_key, { prompt: 'once', webhook_url: url });
    await waitForDeliveries(job.id, ended());
    // The delivery job is done in BullMQ after its one attempt: no retry can follow.
    const queue = new Queue('webhooks', { connection: { url: env.redisUrl }, prefix: api.ctx.keys.bullPrefix });
    const bullJob = await queue.getJob(`${job.id}.job.succeeded`);
    expect(await bullJob?.getState()).toBe('completed');
    expect(bullJob?.attemptsMade).toBe(1);
    await queue.close();
    expect(receiver.at('/once')).toHaveLength(1);
    expect((await deliveriesOf(job.id)).map((a) => a.outcome)).toEqual(['delivered']);
  });

  it('does not follow a redirect: a 3xx fails, and after the schedule the delivery is exhausted', async () => {
    const url = receiver.script('/moved', { status: 302, headers: { location: '/target' } });
    const job = await submitJob(api, tenant.api_key, { prompt: 'moved', webhook_url: url });
    const attempts = await waitForDeliveries(job.id, ended(), 'exhaustion');
    expect(attempts.map((a) => [a.attempt, a.status_code, a.outcome])).toEqual([
      [1, 302, 'failed'],
      [2, 302, 'failed'],
      [3, 302, 'failed'],
      [4, 302, 'exhausted'],
    ]);
    expect(receiver.at('/moved')).toHaveLength(4);
    expect(receiver.at('/target')).toHaveLength(0);
  });

  it('stops sending to a URL that answered 410 Gone, until an admin enables it again', async () => {
    const url = receiver.script('/gone', { status: 410 });
    const first = await submitJob(api, tenant.api_key, { prompt: 'gone 1', webhook_url: url });
    expect((await waitForDeliveries(first.id, ended())).map((a) => [a.status_code, a.outcome])).toEqual([[410, 'disabled']]);
    const admin = await api.request('GET', `/v1/admin/tenants/${tenant.id}`, { key: ADMIN_TOKEN });
    expect(admin.body.webhook_disabled_urls).toEqual([url]);

    const second = await submitJob(api, tenant.api_key, { prompt: 'gone 2', webhook_url: url });
    const attempts = await waitForDeliveries(second.id, ended());
    expect(attempts).toEqual([expect.objectContaining({ status_code: null, outcome: 'disabled', duration_ms: 0 })]);
    expect(attempts[0]!.error).toMatch(/410/);
    expect(receiver.at('/gone')).toHaveLength(1);

    const cleared = await api.request('PATCH', `/v1/admin/tenants/${tenant.id}`, { key: ADMIN_TOKEN, body: { webhook_disabled_urls: [] } });
    expect(cleared.body.webhook_disabled_urls).toEqual([]);
  });

  it("waits for the receiver's Retry-After before the next attempt", async () => {
    const url = receiver.script('/busy', { status: 503, headers: { 'retry-after': '1' } }, { status: 200 });
    const job = await submitJob(api, tenant.api_key, { prompt: 'busy', webhook_url: url });
    await waitForDeliveries(job.id, ended());
    const [a, b] = receiver.at('/busy');
    // The schedule alone would retry at once (its first delay is 0).
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(950);
  });

  it('leaves a result too large for WEBHOOK_MAX_BODY_BYTES out of the body, with a link to fetch it', async () => {
    const url = receiver.script('/large');
    const prompt = 'x'.repeat(3000);
    const job = await submitJob(api, tenant.api_key, { prompt, webhook_url: url });
    await waitForDeliveries(job.id, ended());
    const [r] = receiver.at('/large');
    expect(Buffer.byteLength(r!.body)).toBeLessThanOrEqual(MAX_BODY_BYTES);
    const payload = verify(r!);
    expect(payload.data).toMatchObject({ id: job.id, status: 'succeeded', result: null, result_url: `/v1/jobs/${job.id}`, request: { prompt } });
    const fetched = await api.request('GET', payload.data.result_url, { key: tenant.api_key });
    expect(fetched.body.result.text).toBe(`fake: ${prompt}`);
  });

  it('sends job.started only to jobs that ask for it', async () => {
    const withStart = receiver.script('/with-start');
    const without = receiver.script('/without-start');
    const a = await submitJob(api, tenant.api_key, { prompt: 'a', webhook_url: withStart, webhook_events: ['job.started', 'job.succeeded'] });
    const b = await submitJob(api, tenant.api_key, { prompt: 'b', webhook_url: without });
    await waitForDeliveries(a.id, ended(2));
    await waitForDeliveries(b.id, ended(1));
    const types = (path: string) => receiver.at(path).map((r) => verify(r).type).sort();
    expect(types('/with-start')).toEqual(['job.started', 'job.succeeded']);
    expect(receiver.at('/with-start').map((r) => r.headers['webhook-id']).sort()).toEqual([`${a.id}.job.started.1`, `${a.id}.job.succeeded`]);
    expect(verify(receiver.at('/with-start').find((r) => r.headers['webhook-id'] === `${a.id}.job.started.1`)!).data.id).toBe(a.id);
    // b's start came first in the stream and was passed over; its ending has been delivered.
    expect(types('/without-start')).toEqual(['job.succeeded']);
    expect((await deliveriesOf(b.id)).map((d) => d.type)).toEqual(['job.succeeded']);
  });

  it("uses the tenant's default webhook_url when the job names none", async () => {
    const url = receiver.script('/default');
    const patched = await api.request('PATCH', `/v1/admin/tenants/${tenant.id}`, { key: ADMIN_TOKEN, body: { webhook_url: url } });
    expect(patched.body.webhook_url).toBe(url);
    try {
      const job = await submitJob(api, tenant.api_key, { prompt: 'default' });
      await waitForDeliveries(job.id, ended());
      expect(receiver.at('/default').map((r) => verify(r).data.id)).toEqual([job.id]);
    } finally {
      await api.request('PATCH', `/v1/admin/tenants/${tenant.id}`, { key: ADMIN_TOKEN, body: { webhook_url: null } });
    }
  });

  it('signs with both secrets after a rotation, and each verifies', async () => {
    const rotated = await api.request('POST', `/v1/admin/tenants/${tenant.id}/webhook-secret`, { key: ADMIN_TOKEN });
    expect(rotated.status).toBe(201);
    const newSecret: string = rotated.body.webhook_secret;
    const url = receiver.script('/rotated');
    const job = await submitJob(api, tenant.api_key, { prompt: 'rotated', webhook_url: url });
    await waitForDeliveries(job.id, ended());
    const [r] = receiver.at('/rotated');
    expect(String(r!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(r!, newSecret).data.id).toBe(job.id);
    expect(verify(r!, tenant.webhook_secret).data.id).toBe(job.id);
    expect(() => verify(r!, `whsec_${Buffer.alloc(32, 7).toString('base64')}`)).toThrow(/signature/i);
  });

  it('redelivers the events of a job with the same webhook-id as new attempts', async () => {
    const url = receiver.script('/again');
    const job = await submitJob(api, tenant.api_key, { prompt: 'again', webhook_url: url });
    await waitForDeliveries(job.id, ended());
    const res = await api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: tenant.api_key });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ data: [{ id: `${job.id}.job.succeeded`, type: 'job.succeeded' }] });
    const attempts = await waitForDeliveries(job.id, ended(2), 'the redelivery');
    expect(attempts.map((a) => [a.id, a.attempt, a.outcome])).toEqual([
      [`${job.id}.job.succeeded`, 1, 'delivered'],
      [`${job.id}.job.succeeded`, 1, 'delivered'],
    ]);
    const got = receiver.at('/again');
    expect(got.map((r) => r.headers['webhook-id'])).toEqual([`${job.id}.job.succeeded`, `${job.id}.job.succeeded`]);
    for (const r of got) verify(r);
  });

  it("answers 404 for another tenant's job", async () => {
    const other = await api.createTenant('other');
    const job = await submitJob(api, tenant.api_key, { prompt: 'mine', webhook_url: receiver.script('/mine') });
    expect((await api.request('GET', `/v1/jobs/${job.id}/deliveries`, { key: other.api_key })).status).toBe(404);
    expect((await api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: other.api_key })).status).toBe(404);
    await waitForDeliveries(job.id, ended());
  });

  it('fires batch.ended once per end, signed, with the batch as data; its requests send nothing unless asked', async () => {
    const quiet = receiver.script('/batch-quiet');
    const chatty = receiver.script('/batch-chatty');
    // The fake CLI fails `FAKE:api:401` (auth_failed, not retried).
    const requests = (tag: string) => [
      ...Array.from({ length: 8 }, (_, i) => ({ custom_id: `${tag}-${i}`, prompt: `${tag} ${i}` })),
      { custom_id: `${tag}-bad`, prompt: 'FAKE:api:401 fails' },
    ];
    const submit = (body: unknown) => api.request('POST', '/v1/batches', { key: tenant.api_key, body });
    const a = await submit({ requests: requests('quiet'), webhook_url: quiet });
    const b = await submit({ requests: requests('chatty'), webhook_url: chatty, webhook_events: ['batch.ended', 'job.succeeded'] });
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body).toMatchObject({ webhook_url: quiet, webhook_events: ['batch.ended'] });
    const batchDeliveries = async (id: string): Promise<DeliveryAttempt[]> => (await api.request('GET', `/v1/batches/${id}/deliveries`, { key: tenant.api_key })).body.data;
    const endedDeliveries = (id: string, n: number) =>
      waitFor(async () => ((await batchDeliveries(id)).filter((d) => d.outcome === 'delivered').length >= n ? true : undefined), 30_000, `batch ${id} delivered ${n}`);
    await endedDeliveries(a.body.id, 1);
    await endedDeliveries(b.body.id, 1);
    // The chatty batch's eight successes, each a job's own delivery to the batch's URL.
    await waitFor(() => (receiver.at('/batch-chatty').length >= 9 ? true : undefined), 30_000, 'job deliveries of the chatty batch');

    const quietGot = receiver.at('/batch-quiet');
    expect(quietGot.map((r) => r.headers['webhook-id'])).toEqual([`${a.body.id}.batch.ended`]);
    const payload = verify(quietGot[0]!);
    expect(payload).toMatchObject({
      type: 'batch.ended',
      data: { id: a.body.id, status: 'ended', total: 9, request_counts: { succeeded: 8, failed: 1, queued: 0, running: 0, canceled: 0 } },
    });
    const chattyIds = receiver.at('/batch-chatty').map((r) => String(r.headers['webhook-id']));
    expect(chattyIds.filter((id) => id.endsWith('.job.succeeded'))).toHaveLength(8);
    expect(chattyIds.filter((id) => id.includes('.batch.ended'))).toEqual([`${b.body.id}.batch.ended`]);
    for (const r of receiver.at('/batch-chatty')) verify(r);

    // A retry ends the batch again: one more delivery, with an id of its own.
    expect((await api.request('POST', `/v1/batches/${a.body.id}/retry`, { key: tenant.api_key })).body).toMatchObject({ retried: 1 });
    await endedDeliveries(a.body.id, 2);
    expect(receiver.at('/batch-quiet').map((r) => r.headers['webhook-id'])).toEqual([`${a.body.id}.batch.ended`, `${a.body.id}.batch.ended.2`]);
    // Nothing of a batch's to another tenant.
    const other = await api.createTenant('batch-other');
    expect((await api.request('GET', `/v1/batches/${a.body.id}/deliveries`, { key: other.api_key })).status).toBe(404);
  }, 60_000);

  it('refuses webhook settings on a batch request, and a private batch webhook_url like a job\'s', async () => {
    const res = await api.request('POST', '/v1/batches', {
      key: tenant.api_key,
      body: { requests: [{ custom_id: 'x', prompt: 'p', webhook_url: 'https://example.com/h' }], webhook_events: ['batch.started'] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['webhook_events.0']);
    const item = await api.request('POST', '/v1/batches', { key: tenant.api_key, body: { requests: [{ custom_id: 'x', prompt: 'p', webhook_events: ['job.failed'] }] } });
    expect(item.body.errors).toEqual([{ field: 'requests[0].webhook_events', message: 'is set on the batch, not on its requests' }]);
  });
});
