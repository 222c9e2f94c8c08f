/** `cq`'s usage errors and exit codes, in-process; test/e2e/client.test.ts runs the binary against the real stack. */
import { describe, expect, it } from 'vitest';
import { runCli, USAGE } from './runCli.js';

async function cq(argv: string[], env: Record<string, string> = { CQ_API_KEY: 'cq_test', CQ_URL: 'http://127.0.0.1:9' }) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env,
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    // Fails as a network would: usage errors must stop before any request, and the last test reads the failure.
    fetch: () => Promise.reject(new Error('no request expected')),
  });
  return { code, stdout, stderr };
}

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
});
