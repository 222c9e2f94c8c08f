/** `cq`'s usage errors and exit codes, in-process; test/e2e/client.test.ts runs the binary against the real stack. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgressDisplay } from './batchProgress.js';
import { runCli, USAGE } from './runCli.js';
import type { Batch } from './types.js';

const ENV = { CQ_API_KEY: 'cq_test', CQ_URL: 'http://127.0.0.1:9' };
// Fails as a network would: usage errors must stop before any request, and a test reads the failure.
const unreachable: typeof fetch = () => Promise.reject(new Error('no request expected'));

async function cq(argv: string[], env: Record<string, string> = ENV, fetch: typeof globalThis.fetch = unreachable, stdin?: string, isTTY = false) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env,
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t), isTTY },
    fetch,
    ...(stdin !== undefined ? { stdin: (async function* () { yield stdin; })() } : {}),
  });
  return { code, stdout, stderr };
}

let dir: string;
const file = (name: string) => path.join(dir, name);
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cq-test-'));
  await writeFile(file('empty.jsonl'), '\n\n');
  await writeFile(file('ok.jsonl'), '{"custom_id":"a","prompt":"one"}\n\n{"custom_id":"b","prompt":""}\n');
  await writeFile(file('garbled.jsonl'), '{"custom_id":"a","prompt":"one"}\n{not json\n');
  await writeFile(file('array.jsonl'), '[1, 2]\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cq usage', () => {
  it('prints help with exit 0 when asked, and to stderr with exit 2 when nothing is given', async () => {
    expect(await cq(['--help'])).toEqual({ code: 0, stdout: USAGE, stderr: '' });
    expect(await cq(['submit', '--help'])).toMatchObject({ code: 0, stdout: USAGE });
    expect(await cq([])).toEqual({ code: 2, stdout: '', stderr: USAGE });
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['submit'], /submit takes one argument/],
    [['submit', 'a', 'b'], /submit takes one argument/],
    [['submit', '   '], /the prompt is empty/],
    [['submit', 'hi', '--bogus'], /Unknown option '--bogus'/],
    [['submit', 'hi', '--model'], /--model/],
    [['get'], /get takes one argument/],
    [['tail', 'id', '--wait'], /Unknown option '--wait'/],
    [['list', 'extra'], /list takes no arguments/],
    [['list', '--status', 'done'], /--status must be one of queued, running, succeeded, failed, canceled/],
    [['list', '--limit', '0'], /--limit must be a whole number from 1 to 100/],
    [['list', '--all', '--cursor', 'x'], /--all starts from the newest job/],
    [['submit', '-'], /stdin/],
    [['batch'], /batch needs a subcommand: submit, get, wait, results, cancel, retry, list/],
    [['batch', '--json'], /batch needs a subcommand/],
    [['batch', 'frob'], /unknown command "batch frob"/],
    [['batch', 'submit'], /batch submit takes one argument/],
    [['batch', 'submit', 'a.jsonl', '--out', 'x'], /--out writes the results of --wait/],
    [['batch', 'submit', 'a.jsonl', '--wait', '--json'], /--json prints the batch as submitted/],
    [['batch', 'submit', '/nonexistent/a.jsonl'], /cannot read \/nonexistent\/a\.jsonl: ENOENT/],
    [['batch', 'submit', '-'], /"-" reads the batch from stdin/],
    [['batch', 'get'], /batch get takes one argument/],
    [['batch', 'wait', 'id', '--json'], /Unknown option '--json'/],
    [['batch', 'wait', 'id', '--out', '/nonexistent/dir/out.jsonl'], /cannot write \/nonexistent\/dir\/out\.jsonl: ENOENT/],
    [['batch', 'list', '--limit', '500'], /--limit must be a whole number from 1 to 100/],
    [['batch', 'list', '--all', '--cursor', '3'], /--all starts from the newest batch/],
    [['sessions'], /sessions needs a subcommand: list, get, delete/],
    [['sessions', 'get'], /sessions get takes one argument/],
    [['sessions', 'delete', 'a', 'b'], /sessions delete takes one argument/],
    [['sessions', 'list', '--all', '--cursor', '3'], /--all starts from the most recently used session/],
  ])('exits 2 for %j', async (argv, message) => {
    const { code, stdout, stderr } = await cq(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).toContain('cq --help');
  });

  it('exits 2 without CQ_API_KEY, or with a CQ_URL that is not a URL', async () => {
    expect(await cq(['get', 'x'], {})).toMatchObject({ code: 2, stderr: expect.stringContaining('CQ_API_KEY is not set') });
    expect(await cq(['get', 'x'], { CQ_API_KEY: 'k', CQ_URL: 'not a url' })).toMatchObject({ code: 2, stderr: expect.stringContaining('CQ_URL is not a URL') });
  });

  it('exits 1 with the reason when the API cannot be reached', async () => {
    const { code, stderr } = await cq(['get', 'x']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^cq: network_error: GET http:\/\/127\.0\.0\.1:9\/v1\/jobs\/x got no answer/);
  });

  it('prints help for a group', async () => {
    expect(await cq(['batch', '--help'])).toEqual({ code: 0, stdout: USAGE, stderr: '' });
    expect(await cq(['sessions', 'list', '-h'])).toMatchObject({ code: 0, stdout: USAGE });
  });
});

describe('cq batch submit', () => {
  /** A fetch that reads the whole request body (as a server would) before it answers. */
  function answering(status: number, body: unknown, seen: { headers: Headers; body: string }[] = []): typeof fetch {
    return async (_url, init) => {
      const text = await new Response(init!.body).text();
      seen.push({ headers: new Headers(init!.headers), body: text });
      return new Response(JSON.stringify(body), { status, headers: { 'content-type': status < 300 ? 'application/json' : 'application/problem+json' } });
    };
  }

  it('exits 2 for input that is not requests, before the API could accept any of it', async () => {
    const seen: { headers: Headers; body: string }[] = [];
    const never = answering(202, {}, seen);
    expect(await cq(['batch', 'submit', file('empty.jsonl')], ENV, never)).toMatchObject({ code: 2, stderr: expect.stringContaining('holds no requests') });
    expect(await cq(['batch', 'submit', file('garbled.jsonl')], ENV, never)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(`${file('garbled.jsonl')} line 2 is not valid JSON`),
    });
    expect(await cq(['batch', 'submit', file('array.jsonl')], ENV, never)).toMatchObject({ code: 2, stderr: expect.stringContaining('line 1 is not a JSON object') });
    expect(await cq(['batch', 'submit', '-'], ENV, never, '{"custom_id":"a"}\n{oops')).toMatchObject({ code: 2, stderr: expect.stringContaining('stdin line 2 is not valid JSON') });
    // The garbled uploads were started and abandoned mid-body; none completed.
    expect(seen.every((s) => !s.body.includes('oops'))).toBe(true);
  });

  it("sends JSON lines (with --webhook-url, JSON) and names the API's errors by the file's own lines", async () => {
    const problem = {
      code: 'invalid_request',
      detail: '1 error(s); first: line 2.prompt: must not be empty',
      field: 'line 2.prompt',
      errors: [{ field: 'line 2.prompt', message: 'must not be empty' }],
    };
    const seen: { headers: Headers; body: string }[] = [];
    const refused = await cq(['batch', 'submit', file('ok.jsonl'), '--idempotency-key', 'k1'], ENV, answering(400, problem, seen));
    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: `cq: invalid_request 400: 1 error(s); first: ${file('ok.jsonl')} line 3.prompt: must not be empty (field: ${file('ok.jsonl')} line 3.prompt)\n`,
    });
    expect(seen[0]!.headers.get('content-type')).toBe('application/x-ndjson');
    expect(seen[0]!.headers.get('idempotency-key')).toBe('k1');
    expect(seen[0]!.body).toBe('{"custom_id":"a","prompt":"one"}\n{"custom_id":"b","prompt":""}\n');

    const asJson = { ...problem, detail: 'requests[1].prompt: must not be empty', field: 'requests[1].prompt', errors: [problem.errors[0], { field: 'requests[0].model', message: 'x' }] };
    const refusedJson = await cq(['batch', 'submit', file('ok.jsonl'), '--webhook-url', 'https://example.com/h'], ENV, answering(400, asJson, seen));
    expect(refusedJson.stderr).toContain(`  ${file('ok.jsonl')} line 1.model: x\n`);
    expect(seen[1]!.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(seen[1]!.body)).toMatchObject({ webhook_url: 'https://example.com/h', requests: [{ custom_id: 'a' }, { custom_id: 'b' }] });
  });

  it('prints the batch id', async () => {
    const batch = { id: 'b-1', status: 'in_progress', total: 2 };
    expect(await cq(['batch', 'submit', file('ok.jsonl')], ENV, answering(202, batch))).toEqual({ code: 0, stdout: 'b-1\n', stderr: '' });
    expect(JSON.parse((await cq(['batch', 'submit', file('ok.jsonl'), '--json'], ENV, answering(202, batch))).stdout)).toEqual(batch);
  });
});

describe('cq batch wait', () => {
  const counts = (succeeded: number, failed: number) => ({ queued: 3 - succeeded - failed, running: 0, succeeded, failed, canceled: 0 });
  const states = [
    { id: 'b', status: 'in_progress', total: 3, request_counts: counts(0, 0) },
    { id: 'b', status: 'in_progress', total: 3, request_counts: counts(1, 0) },
    { id: 'b', status: 'ended', total: 3, request_counts: counts(2, 1) },
    { id: 'b', status: 'ended', total: 3, request_counts: counts(3, 0) },
  ];
  const lines = ['a', 'b', 'c'].map((c, i) => ({ custom_id: c, job_id: `j${i}`, status: i === 2 ? 'failed' : 'succeeded', result: null, error: null }));
  /** The batch's states in turn (the last one repeats), and its results. */
  function stack(sequence = states.slice(0, 3)): typeof fetch {
    let polls = 0;
    return async (url) => {
      if (String(url).endsWith('/results')) return new Response(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), { headers: { 'content-type': 'application/x-ndjson' } });
      return Response.json(sequence[Math.min(polls++, sequence.length - 1)]);
    };
  }

  it('shows one line per change when stderr is not a terminal, writes the results to --out, and exits 1 when a request failed', async () => {
    const out = file('results.jsonl');
    const run = cq(['batch', 'wait', 'b', '--out', out], ENV, stack());
    const { code, stdout, stderr } = await run;
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      ['0/3 done (0 succeeded, 0 failed)', '1/3 done (1 succeeded, 0 failed)', '3/3 done (2 succeeded, 1 failed)', 'cq: batch b: 1 of 3 request(s) did not succeed (3/3 done (2 succeeded, 1 failed))', ''].join('\n'),
    );
    expect((await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))).toEqual(lines);
  }, 10_000);

  it('draws a bar in place on a terminal, and exits 0 with the results on stdout when all succeeded', async () => {
    const { code, stdout, stderr } = await cq(['batch', 'wait', 'b'], ENV, stack(states.slice(3)), undefined, true);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(lines);
    expect(stderr).toBe(`\r\x1b[K[${'#'.repeat(30)}] 3/3 done (3 succeeded, 0 failed)\n`);
    let drawn = '';
    const display = createProgressDisplay({ write: (t: string) => (drawn += t), isTTY: true });
    display.show(states[1] as Batch);
    display.end();
    expect(drawn).toBe(`\r\x1b[K[${'#'.repeat(10)}${'.'.repeat(20)}] 1/3 done (1 succeeded, 0 failed)\n`);
  });
});
