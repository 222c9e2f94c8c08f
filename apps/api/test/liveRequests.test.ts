/**
 * A tenant's live requests (event streams and `Prefer: wait` long-polls) are capped at
 * MAX_STREAMS_PER_TENANT across API processes, and a stream lasts at most
 * STREAM_MAX_SECONDS, after which the client resumes with Last-Event-ID. Two API apps
 * on one Redis stand for two API processes; no worker: jobs are moved as a worker would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaudeQueueClient, type JobEvent } from '@claude-queue/client';
import type { JobResult } from '@claude-queue/shared';
import { createTestEnv, waitFor, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { startJob } from '../../../test/support/jobMoves.js';
import { submitJob } from '../../../test/support/jobs.js';
import { openSse, type SseStream } from '../../../test/support/sse.js';
import { expectProblem } from './expectProblem.js';

const MAX_STREAMS = 3;

let env: TestEnv;
/** Two API processes of one deployment. */
let apiA: TestApi;
let apiB: TestApi;
/** A deployment whose streams last a second. */
let shortLived: TestApi;
const open: SseStream[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  apiA = await startTestApi(env.apiConfig({ MAX_STREAMS_PER_TENANT: String(MAX_STREAMS) }));
  apiB = await startTestApi(env.apiConfig({ MAX_STREAMS_PER_TENANT: String(MAX_STREAMS) }));
  shortLived = await startTestApi(env.apiConfig({ STREAM_MAX_SECONDS: '1' }));
});

afterAll(async () => {
  for (const stream of open) stream.close();
  await Promise.all([apiA, apiB, shortLived].map((api) => api?.close()));
  await env?.cleanup();
});

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function stream(api: TestApi, key: string, jobId: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const s = await openSse(`${api.url}/v1/jobs/${jobId}/events`, { ...auth(key), ...headers });
  open.push(s);
  return s;
}

describe('MAX_STREAMS_PER_TENANT', () => {
  it('counts streams and long-polls across API processes; past it 429 too_many_streams, and a refused submit enqueues nothing', async () => {
    const t = await apiA.createTenant('streamer');
    const job = await submitJob(apiA, t.api_key, { prompt: 'waits' });

    const first = await stream(apiA, t.api_key, job.id);
    const second = await stream(apiB, t.api_key, job.id);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect((await first.next())?.data.status).toBe('queued');
    // A long-poll on the other process: it holds the third slot while it waits.
    const waiting = fetch(`${apiB.url}/v1/jobs/${job.id}`, { headers: { ...auth(t.api_key), prefer: 'wait=60' } });
    await waitFor(async () => ((await apiA.ctx.redis.zcard(apiA.ctx.keys.tenantLiveRequests(t.id))) === MAX_STREAMS ? true : undefined), 5000, 'three leases');

    const refused = await fetch(`${apiA.url}/v1/jobs/${job.id}/events`, { headers: auth(t.api_key) });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ code: 'too_many_streams' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expectProblem(await apiB.request('GET', `/v1/jobs/${job.id}`, { key: t.api_key, headers: { prefer: 'wait=5' } }), { status: 429, code: 'too_many_streams' });

    const before = (await apiA.request('GET', '/v1/jobs?limit=100', { key: t.api_key })).body.data.length;
    const submit = await apiA.request('POST', '/v1/jobs', { key: t.api_key, body: { prompt: 'refused' }, headers: { prefer: 'wait=5' } });
    expectProblem(submit, { status: 429, code: 'too_many_streams' });
    expect((await apiA.request('GET', '/v1/jobs?limit=100', { key: t.api_key })).body.data.length).toBe(before);

    // What holds no connection open is not counted: a plain read, a submit without a wait.
    expect((await apiA.request('GET', `/v1/jobs/${job.id}`, { key: t.api_key })).status).toBe(200);
    expect((await apiA.request('POST', '/v1/jobs', { key: t.api_key, body: { prompt: 'no wait' } })).status).toBe(202);
    // Nor a wait on a job that has ended: there is nothing to wait for.
    const ended = await submitJob(apiA, t.api_key, { prompt: 'ended' });
    await apiA.request('POST', `/v1/jobs/${ended.id}/cancel`, { key: t.api_key });
    expect((await apiA.request('GET', `/v1/jobs/${ended.id}`, { key: t.api_key, headers: { prefer: 'wait=5' } })).status).toBe(200);

    // Another tenant has slots of its own.
    const other = await apiA.createTenant('neighbour');
    const theirs = await submitJob(apiA, other.api_key, { prompt: 'mine' });
    expect((await stream(apiB, other.api_key, theirs.id)).status).toBe(200);

    // A stream that ends frees its slot.
    first.close();
    const again = await waitFor(
      async () => {
        const res = await fetch(`${apiA.url}/v1/jobs/${job.id}/events`, { headers: auth(t.api_key) });
        if (res.status === 200) return res;
        await res.body?.cancel();
        return undefined;
      },
      5000,
      'a slot to free',
    );
    await again.body?.cancel();

    // The long-poll answers once the job ends, and frees its slot too.
    await apiA.request('POST', `/v1/jobs/${job.id}/cancel`, { key: t.api_key });
    expect((await waiting).status).toBe(200);
  });
});

describe('STREAM_MAX_SECONDS', () => {
  it('ends a stream of a job still queued after its lifetime, with a reconnect hint; a reconnect with Last-Event-ID repeats nothing', async () => {
    const t = await shortLived.createTenant('long-waiter');
    const job = await submitJob(shortLived, t.api_key, { prompt: 'queued for a while' });

    const res = await fetch(`${shortLived.url}/v1/jobs/${job.id}/events`, { headers: auth(t.api_key) });
    // The whole body: the server ends it by itself (read to the end, no client timeout).
    const body = await res.text();
    expect(body).toMatch(/^retry: \d+$/m);
    expect(body).toMatch(/^: this stream has lasted STREAM_MAX_SECONDS; reconnect with Last-Event-ID$/m);
    expect(body).not.toContain('event: result');
    const lastId = [...body.matchAll(/^id: (.+)$/gm)].at(-1)![1]!;

    await startJob(shortLived.ctx, job.id);
    const resumed = await stream(shortLived, t.api_key, job.id, { 'last-event-id': lastId });
    const next = await resumed.next();
    expect(next).toMatchObject({ event: 'status', data: { status: 'running' } });
    expect(next!.id! > lastId).toBe(true);
    resumed.close();
  });

  it('the client follows across lifetimes: every event once, then the result', async () => {
    const t = await shortLived.createTenant('client');
    const job = await submitJob(shortLived, t.api_key, { prompt: 'followed' });
    const connections: Array<string | null> = [];
    const client = new ClaudeQueueClient({
      baseUrl: shortLived.url,
      apiKey: t.api_key,
      fetch: (input, init) => {
        if (String(input).endsWith('/events')) connections.push(new Headers(init?.headers).get('last-event-id'));
        return fetch(input, init);
      },
    });
    const events: JobEvent[] = [];
    const following = (async () => {
      for await (const e of client.events(job.id)) events.push(e);
    })();

    // The first connection saw `queued` and was ended by the server; the client came back after it.
    const queuedId = await waitFor(() => (connections.length >= 2 && events.length === 1 ? events[0]!.id : undefined), 10_000, 'a reconnect');
    expect(connections.slice(0, 2)).toEqual([null, queuedId]);

    await startJob(shortLived.ctx, job.id);
    await shortLived.ctx.life.succeed({ id: job.id, tenantId: t.id }, { text: 'done', session_id: 's' } as JobResult);
    await following;
    expect(events.map((e) => (e.event === 'status' ? e.data.status : e.event))).toEqual(['queued', 'running', 'succeeded', 'result']);
    expect(new Set(events.filter((e) => e.id).map((e) => e.id)).size).toBe(3);
  });
});
