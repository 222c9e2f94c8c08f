/**
 * Results the moment they exist: long-poll (`Prefer: wait=N`) and Server-Sent Events,
 * with the real CLI against the fake model API streaming its reply in chunks. The
 * worker and the API are separate parts here as in production: events cross Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../support/apiServer.js';
import type { FakeAnthropic } from '../support/fakeAnthropic.js';
import { startStack, type Stack } from '../support/stack.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { openSse, type SseEvent } from '../support/sse.js';

let stack: Stack;
let api: TestApi;
let model: FakeAnthropic;
let tenant: { id: string; api_key: string };

beforeAll(async () => {
  // 200 waiters of one tenant below: more than MAX_STREAMS_PER_TENANT allows by default.
  stack = await startStack({ cli: 'real', tenantName: 'live', api: { MAX_STREAMS_PER_TENANT: '1000' } });
  ({ api, tenant } = stack);
  model = stack.model!;
});

afterAll(async () => {
  await stack?.close();
});

describe('long-poll', () => {
  it('answers a submit with Prefer: wait=30 as soon as the job is final', async () => {
    const started = Date.now();
    const res = await api.request('POST', '/v1/jobs', { key: tenant.api_key, body: { prompt: 'wait for me' }, headers: { prefer: 'wait=30' } });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=30');
    expect(res.body).toMatchObject({ status: 'succeeded', result: { text: 'echo: wait for me' } });
    // About the job's own run time (a CLI run), far from the 30 s asked for.
    expect(elapsed).toBeLessThan(15_000);
    expect(elapsed).toBeGreaterThanOrEqual(Date.parse(res.body.finished_at) - Date.parse(res.body.created_at));
  });

  it('answers with the job as it stands after N seconds when it is not final yet', async () => {
    const prompt = 'hangs at the model';
    model.script(prompt, [{ kind: 'hang' }]);
    const job = await submitJob(api, tenant.api_key, { prompt, timeout_ms: 20_000 });
    const started = Date.now();
    const res = await api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key, headers: { prefer: 'wait=1' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=1');
    expect(['queued', 'running']).toContain(res.body.status);
    await api.request('POST', `/v1/jobs/${job.id}/cancel`, { key: tenant.api_key });
  });

  it('keeps one subscription per API process however many wait', async () => {
    const prompt = 'many waiters';
    model.script(prompt, [{ kind: 'text', text: 'done waiting', delayMs: 0 }]);
    const job = await submitJob(api, tenant.api_key, { prompt });
    const waiters = Array.from({ length: 200 }, () =>
      api.request('GET', `/v1/jobs/${job.id}`, { key: tenant.api_key, headers: { prefer: 'wait=20' } }),
    );
    const [, subscribers] = (await api.ctx.redis.call('pubsub', 'numsub', api.ctx.keys.jobEventsChannel())) as [string, number];
    expect(subscribers).toBe(1);
    const answers = await Promise.all(waiters);
    expect(answers.every((a) => a.body.status === 'succeeded')).toBe(true);
    expect(api.ctx.watcher.size).toBe(0);
  });
});

describe('server-sent events', () => {
  const collect = async (stream: Awaited<ReturnType<typeof openSse>>, until: (e: SseEvent) => boolean) => {
    const seen: SseEvent[] = [];
    for (let e = await stream.next(); e; e = await stream.next()) {
      seen.push(e);
      if (until(e)) break;
    }
    return seen;
  };

  it('streams running, the text in chunks and the result; a reconnect with Last-Event-ID misses nothing', async () => {
    const prompt = 'stream me slowly';
    const answer = 'alpha beta gamma delta epsilon zeta eta theta';
    model.script(prompt, [{ kind: 'text', text: answer, chunks: 6, delayMs: 250 }]);
    const job = await submitJob(api, tenant.api_key, { prompt, stream: true });
    const url = `${api.url}/v1/jobs/${job.id}/events`;
    const auth = { authorization: `Bearer ${tenant.api_key}` };

    const first = await openSse(url, auth);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // Read until two text chunks have arrived, then drop the connection mid-answer.
    let texts = 0;
    const before = await collect(first, (e) => e.event === 'text' && ++texts === 2);
    first.close();
    const lastId = before.at(-1)!.id!;

    const second = await openSse(url, { ...auth, 'last-event-id': lastId });
    const after = await collect(second, (e) => e.event === 'result');
    const all = [...before, ...after];

    // Ids increase, with no event twice.
    const ids = all.filter((e) => e.id).map((e) => e.id!.split('-').map(Number) as [number, number]);
    for (let i = 1; i < ids.length; i++) {
      const [[ms, seq], [prevMs, prevSeq]] = [ids[i]!, ids[i - 1]!];
      expect(ms > prevMs || (ms === prevMs && seq > prevSeq)).toBe(true);
    }

    expect(all.filter((e) => e.event === 'status').map((e) => e.data.status)).toEqual(['queued', 'running', 'succeeded']);
    const chunks = all.filter((e) => e.event === 'text').map((e) => e.data.text);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks.join('')).toBe(answer);
    expect(after.at(-1)).toMatchObject({ event: 'result', data: { id: job.id, status: 'succeeded', result: { text: answer } } });
    // The stream closes after the result.
    expect(await second.next()).toBeNull();
  });

  it('replays a finished job\'s events and result to a late client', async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'already done' });
    await waitForFinal(api, tenant.api_key, job.id);
    const stream = await openSse(`${api.url}/v1/jobs/${job.id}/events`, { authorization: `Bearer ${tenant.api_key}` });
    const events = await collect(stream, (e) => e.event === 'result');
    expect(events.map((e) => e.event)).toEqual(['status', 'status', 'text', 'status', 'result']);
    expect(events.find((e) => e.event === 'text')!.data.text).toBe('echo: already done');
  });

  it("answers 404 for another tenant's job", async () => {
    const job = await submitJob(api, tenant.api_key, { prompt: 'private stream' });
    const other = await api.createTenant('other');
    const res = await fetch(`${api.url}/v1/jobs/${job.id}/events`, { headers: { authorization: `Bearer ${other.api_key}` } });
    expect(res.status).toBe(404);
  });
});
