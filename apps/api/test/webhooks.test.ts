/**
 * The API's side of webhooks, with the SSRF guard on and no worker: tenants' secrets
 * (shown once, sealed at rest under SECRETS_KEY, rotated with an overlap), the default
 * webhook_url, and /v1/jobs/{id}/deliveries (scoping, redeliver, what a delivery job
 * carries).
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog, webhookSigningKey, type JobResult } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { REDELIVERIES_PER_MINUTE } from '../src/jobs/redeliveries.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { startJob } from '../../../test/support/jobMoves.js';
import { submitJob } from '../../../test/support/jobs.js';
import { expectProblem } from './expectProblem.js';

const SECRETS_KEY = randomBytes(32).toString('base64');
const HOUR_MS = 3600_000;

let env: TestEnv;
/** With SECRETS_KEY. */
let api: TestApi;
/** The same deployment without it. */
let keyless: TestApi;

/** This file's webhooks queue, to look at what redeliveries enqueued. */
let webhookQueue: Queue;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ SECRETS_KEY, WEBHOOK_RETRY_SCHEDULE_MS: '0,200,200' }));
  keyless = await startTestApi(env.apiConfig());
  webhookQueue = new Queue(catalog.webhooks.queue, { connection: { url: env.redisUrl }, prefix: api.ctx.keys.bullPrefix });
});

afterAll(async () => {
  await webhookQueue?.close();
  await api?.close();
  await keyless?.close();
  await env?.cleanup();
});

/** What a delivery worker does to every delivery waiting (this file runs none): delivers it, here to nowhere. */
async function deliverAll(): Promise<void> {
  const worker = new Worker(catalog.webhooks.queue, async () => undefined, { connection: { url: env.redisUrl }, prefix: api.ctx.keys.bullPrefix });
  try {
    await waitFor(
      async () => {
        const counts = await webhookQueue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        return Object.values(counts).every((n) => n === 0) ? true : undefined;
      },
      10_000,
      'every delivery to be done',
    );
  } finally {
    await worker.close();
  }
}

const admin = (method: string, path: string, body?: unknown, on = api) =>
  on.request(method, `/v1/admin/tenants${path}`, { key: ADMIN_TOKEN, ...(body === undefined ? {} : { body }) });

describe('webhook secrets', () => {
  it('are shown when the tenant is made, then never again, and sealed at rest under SECRETS_KEY', async () => {
    const created = await admin('POST', '', { name: 'sealed' });
    const secret: string = created.body.webhook_secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    for (const path of ['', `/${created.body.id}`]) expect(JSON.stringify((await admin('GET', path)).body)).not.toContain(secret.slice(6));
    const raw = await api.ctx.redis.hgetall(api.ctx.keys.tenant(created.body.id));
    expect(JSON.stringify(raw)).not.toContain(secret.slice(6));
    expect(await api.ctx.webhookSecrets.signingKeys(created.body.id)).toEqual([webhookSigningKey(secret)]);
  });

  it('are stored as they are without SECRETS_KEY', async () => {
    const created = await admin('POST', '', { name: 'plain' }, keyless);
    const raw = await keyless.ctx.redis.hget(keyless.ctx.keys.tenant(created.body.id), 'webhook_secrets');
    expect(raw).toContain(created.body.webhook_secret);
    expect(await keyless.ctx.webhookSecrets.signingKeys(created.body.id)).toEqual([webhookSigningKey(created.body.webhook_secret)]);
  });

  it('rotate with an overlap: old and new sign until the old one expires', async () => {
    const created = await admin('POST', '', { name: 'rotating' });
    const before = Date.now();
    const rotated = await admin('POST', `/${created.body.id}/webhook-secret`);
    expect(rotated.status).toBe(201);
    expect(rotated.body).toEqual({ webhook_secret: expect.stringMatching(/^whsec_/), previous_expires_at: expect.any(String) });
    const expires = Date.parse(rotated.body.previous_expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 24 * HOUR_MS);
    expect(expires).toBeLessThanOrEqual(Date.now() + 24 * HOUR_MS);

    const [fresh, old] = [rotated.body.webhook_secret, created.body.webhook_secret].map(webhookSigningKey);
    expect(await api.ctx.webhookSecrets.signingKeys(created.body.id)).toEqual([fresh, old]);
    expect(await api.ctx.webhookSecrets.signingKeys(created.body.id, expires + 1)).toEqual([fresh]);

    // A second rotation within the overlap keeps all three live, none past the first one's expiry.
    const again = await admin('POST', `/${created.body.id}/webhook-secret`);
    expect(await api.ctx.webhookSecrets.signingKeys(created.body.id)).toHaveLength(3);
    expect(Date.parse(again.body.previous_expires_at)).toBeGreaterThanOrEqual(expires);
    expect(await api.ctx.webhookSecrets.signingKeys(created.body.id, Date.parse(again.body.previous_expires_at) + 1)).toEqual([
      webhookSigningKey(again.body.webhook_secret),
    ]);
  });

  it('answers 404 for the rotation of an unknown tenant', async () => {
    expectProblem(await admin('POST', '/no-such-tenant/webhook-secret'), { status: 404, code: 'not_found' });
  });
});

describe("a tenant's default webhook_url", () => {
  it('is set, shown and removed with PATCH', async () => {
    const t = (await admin('POST', '', { name: 'default-url' })).body;
    const set = await admin('PATCH', `/${t.id}`, { webhook_url: 'https://8.8.8.8/hooks' });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ webhook_url: 'https://8.8.8.8/hooks', webhook_disabled_urls: [] });
    expect((await admin('PATCH', `/${t.id}`, { webhook_url: null })).body.webhook_url).toBeNull();
  });

  it.each([
    ['a loopback address', 'http://127.0.0.1:8080/hook', /loopback/],
    ['the metadata address', 'http://169.254.169.254/latest', /link-local/],
    // Which addresses it resolves to is not told: that would map internal DNS.
    ['a name of loopback', 'http://localhost/hook', /^localhost resolves only to non-public addresses: webhooks go to public addresses only \(WEBHOOK_ALLOW_PRIVATE=true allows others/],
    ['IPv6 loopback', 'http://[::1]/hook', /loopback/],
    ['a URL that is not http(s)', 'ftp://example.com/hook', /http\(s\)/],
  ])('refuses %s with 400 naming webhook_url', async (_name, url, reason) => {
    const t = (await admin('POST', '', { name: 'ssrf' })).body;
    const res = await admin('PATCH', `/${t.id}`, { webhook_url: url });
    expectProblem(res, { status: 400, code: 'invalid_request', field: 'webhook_url' });
    expect(res.body.errors[0].message).toMatch(reason);
    expect((await admin('GET', `/${t.id}`)).body.webhook_url).toBeNull();
  });

  it('set again, is taken off the list of URLs disabled by a 410', async () => {
    const t = (await admin('POST', '', { name: 'gone' })).body;
    await api.ctx.tenants.disableWebhookUrl(t.id, 'https://8.8.8.8/gone');
    await api.ctx.tenants.disableWebhookUrl(t.id, 'https://8.8.4.4/gone');
    expect((await admin('GET', `/${t.id}`)).body.webhook_disabled_urls).toEqual(['https://8.8.4.4/gone', 'https://8.8.8.8/gone']);
    const res = await admin('PATCH', `/${t.id}`, { webhook_url: 'https://8.8.8.8/gone' });
    expect(res.body.webhook_disabled_urls).toEqual(['https://8.8.4.4/gone']);
    expect((await admin('PATCH', `/${t.id}`, { webhook_disabled_urls: [] })).body.webhook_disabled_urls).toEqual([]);
  });
});

describe('/v1/jobs/{id}/deliveries', () => {
  it("lists a job's attempts (none yet), and is 404 for another tenant's job", async () => {
    const mine = await api.createTenant('mine');
    const other = await api.createTenant('other');
    const job = await submitJob(api, mine.api_key, { prompt: 'hi', webhook_url: 'https://8.8.8.8/hook' });
    const res = await api.request('GET', `/v1/jobs/${job.id}/deliveries`, { key: mine.api_key });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [] });
    expectProblem(await api.request('GET', `/v1/jobs/${job.id}/deliveries`, { key: other.api_key }), { status: 404, code: 'not_found' });
    expectProblem(await api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: other.api_key }), { status: 404, code: 'not_found' });
    expectProblem(await api.request('GET', '/v1/jobs/not-a-uuid/deliveries', { key: mine.api_key }), { status: 404, code: 'not_found' });
    expect((await api.request('GET', `/v1/jobs/${job.id}/deliveries`)).status).toBe(401);
    // Past its retention (the record gone, the id still in the tenant's index), as GET /v1/jobs/{id} says.
    await api.ctx.redis.del(api.ctx.keys.job(job.id));
    expectProblem(await api.request('GET', `/v1/jobs/${job.id}/deliveries`, { key: mine.api_key }), { status: 404, code: 'expired' });
  });

  it('redeliver is 409 when neither the job nor its tenant has a webhook_url', async () => {
    const t = await api.createTenant('no-url');
    const job = await submitJob(api, t.api_key, { prompt: 'hi' });
    expectProblem(await api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: t.api_key }), {
      status: 409,
      code: 'webhook_not_configured',
    });
  });

  it("redeliver enqueues the job's wanted events with their delivery ids, carrying ids only", async () => {
    const t = await api.createTenant('redeliver');
    const job = await submitJob(api, t.api_key, { prompt: 'secret prompt', webhook_url: 'https://8.8.8.8/hook', webhook_events: ['job.started', 'job.failed'] });
    // No worker here: move the record along as one would.
    await startJob(api.ctx, job.id);
    const queued = await api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: t.api_key });
    expect(queued.status).toBe(202);
    expect(queued.body).toEqual({ data: [{ id: `${job.id}.job.started.1`, type: 'job.started' }] });
    await deliverAll();

    await api.ctx.life.succeed({ id: job.id, tenantId: t.id }, { session_id: 's' } as JobResult);
    // job.succeeded is not among the events asked for.
    const res = await api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: t.api_key });
    expect(res.body.data).toEqual([{ id: `${job.id}.job.started.1`, type: 'job.started' }]);

    const jobs = (await webhookQueue.getJobs(['wait', 'delayed', 'prioritized'])).filter((j) => j.data.jobId === job.id);
    expect(jobs).toHaveLength(1);
    for (const j of jobs) {
      expect(j.id).toMatch(new RegExp(`^${job.id}\\.job\\.started\\.1\\.r[0-9a-f-]{36}$`));
      expect(j.opts.attempts).toBe(4);
      expect(Object.keys(j.data).sort()).toEqual(['eventAt', 'jobAttempt', 'jobId', 'tenantId', 'type']);
      expect(JSON.stringify(j.data)).not.toMatch(/secret prompt|8\.8\.8\.8|whsec_/);
    }
  });

  it('redeliver: one at a time per job and URL, 409 while the previous one has deliveries waiting', async () => {
    const t = await api.createTenant('one-at-a-time');
    const job = await submitJob(api, t.api_key, { prompt: 'hi', webhook_url: 'https://8.8.8.8/hook', webhook_events: ['job.started'] });
    await startJob(api.ctx, job.id);
    const redeliver = () => api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: t.api_key });

    expect((await redeliver()).status).toBe(202);
    for (let i = 0; i < 3; i++) expectProblem(await redeliver(), { status: 409, code: 'redelivery_in_progress' });
    // Only the first one's deliveries were enqueued.
    expect((await webhookQueue.getJobs(['wait'])).filter((j) => j.data.jobId === job.id)).toHaveLength(1);

    // Once they are delivered, the next may go.
    await deliverAll();
    expect((await redeliver()).status).toBe(202);

    // Another webhook_url of the same job (the tenant's default, the job having none) is another endpoint.
    const other = await submitJob(api, t.api_key, { prompt: 'hi', webhook_events: ['job.started'] });
    await startJob(api.ctx, other.id);
    await admin('PATCH', `/${t.id}`, { webhook_url: 'https://8.8.4.4/hook' });
    expect((await api.request('POST', `/v1/jobs/${other.id}/deliveries/redeliver`, { key: t.api_key })).status).toBe(202);
    await admin('PATCH', `/${t.id}`, { webhook_url: 'https://1.1.1.1/hook' });
    expect((await api.request('POST', `/v1/jobs/${other.id}/deliveries/redeliver`, { key: t.api_key })).status).toBe(202);
    await deliverAll();
  });

  it(`redeliver: at most ${REDELIVERIES_PER_MINUTE} per tenant per minute, then 429 with Retry-After; other tenants unaffected`, async () => {
    const t = await api.createTenant('eager');
    const jobs = [];
    for (let i = 0; i <= REDELIVERIES_PER_MINUTE; i++) jobs.push(await submitJob(api, t.api_key, { prompt: 'hi', webhook_url: 'https://8.8.8.8/hook' }));
    for (const job of jobs.slice(0, REDELIVERIES_PER_MINUTE)) {
      expect((await api.request('POST', `/v1/jobs/${job.id}/deliveries/redeliver`, { key: t.api_key })).status).toBe(202);
    }
    const refused = await api.request('POST', `/v1/jobs/${jobs.at(-1)!.id}/deliveries/redeliver`, { key: t.api_key });
    expectProblem(refused, { status: 429, code: 'too_many_redeliveries' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    const calm = await api.createTenant('calm');
    const theirs = await submitJob(api, calm.api_key, { prompt: 'hi', webhook_url: 'https://8.8.8.8/hook' });
    expect((await api.request('POST', `/v1/jobs/${theirs.id}/deliveries/redeliver`, { key: calm.api_key })).status).toBe(202);
    await deliverAll();
  });
});
