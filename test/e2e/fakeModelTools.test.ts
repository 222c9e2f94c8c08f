/**
 * The fake model API can make the real `claude` call its tools: a scripted
 * `{ kind: 'tool' }` reply is run by the CLI, and the tool's result comes back in the
 * final answer. The security tests build on this to show what a tool can reach from
 * inside a job, so here the CLI runs directly (no queue, no worker, no sandbox).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveClaudeBin } from '@claude-queue/worker';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fakeAnthropic.js';

let fake: FakeAnthropic;
const roots: string[] = [];

beforeAll(async () => {
  fake = await startFakeAnthropic();
});

afterEach(async () => {
  await Promise.all(roots.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

afterAll(async () => {
  await fake?.close();
});

/** A fresh working directory, with HOME and the config dir beside it so no run sees another's state. */
async function makeWorkspace(): Promise<{ root: string; cwd: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'cq-fake-tools-'));
  roots.push(root);
  const cwd = path.join(root, 'work');
  await mkdir(cwd);
  return { root, cwd };
}

interface StreamEvent {
  type: string;
  result?: string;
  is_error?: boolean;
  message?: { content?: Array<{ type: string; id?: string; name?: string }> };
}

/** One `claude --print` run with the prompt on stdin; its stream-json events, parsed. */
async function runClaude(prompt: string, workspace: { root: string; cwd: string }): Promise<StreamEvent[]> {
  const run = await execa(
    resolveClaudeBin(undefined),
    ['--print', '--output-format', 'stream-json', '--verbose', '--allowed-tools', 'Read', 'Write', 'Bash'],
    {
      cwd: workspace.cwd,
      input: prompt,
      extendEnv: false,
      env: {
        PATH: process.env.PATH,
        HOME: workspace.root,
        CLAUDE_CONFIG_DIR: path.join(workspace.root, '.claude'),
        ANTHROPIC_BASE_URL: fake.url,
        ANTHROPIC_API_KEY: 'sk-test',
        // A fake that answers wrongly must fail the run now, not after minutes of retries.
        CLAUDE_CODE_MAX_RETRIES: '0',
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      },
      timeout: 25_000,
    },
  );
  return run.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as StreamEvent);
}

/** The final answer: the last `result` event. */
function resultOf(events: StreamEvent[]): StreamEvent {
  const result = events.filter((e) => e.type === 'result').at(-1);
  if (!result) throw new Error(`no result event in ${events.length} events`);
  return result;
}

/** The ids of the tool calls the CLI saw "the model" make, in order. */
function toolUseIdsOf(events: StreamEvent[]): string[] {
  return events
    .filter((e) => e.type === 'assistant')
    .flatMap((e) => e.message?.content ?? [])
    .filter((b) => b.type === 'tool_use')
    .map((b) => b.id ?? '');
}

describe('the fake model calls the real CLI’s tools', () => {
  it('Read of a file in the workspace: its content reaches the final answer and the next request', async () => {
    const ws = await makeWorkspace();
    const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
    await writeFile(path.join(ws.cwd, 'canary.txt'), `${canary}\n`);
    const prompt = 'tools: read the canary';
    fake.script(prompt, [{ kind: 'tool', name: 'Read', input: { file_path: path.join(ws.cwd, 'canary.txt') } }]);

    const events = await runClaude(prompt, ws);
    const result = resultOf(events);
    expect(result.is_error).toBe(false);
    expect(result.result).toMatch(new RegExp(`^echo: ${prompt} \\| tool results: \\[ok\\] .*${canary}`, 's'));

    // One call asks for the tool; the follow-up carries its result under the id the fake made up.
    const calls = fake.callsFor(prompt);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.toolResults).toEqual([]);
    const [toolUseId] = toolUseIdsOf(events);
    expect(toolUseId).toMatch(/^toolu_fake_/);
    expect(calls[1]!.toolResults).toEqual([{ toolUseId, content: expect.stringContaining(canary), isError: false }]);
    expect(calls[1]!.prompt).toBe(prompt);
  });

  it('Write of a new file in the workspace: the file exists afterwards with the content', async () => {
    const ws = await makeWorkspace();
    const file = path.join(ws.cwd, 'written.txt');
    const prompt = 'tools: write a file';
    fake.script(prompt, [{ kind: 'tool', name: 'Write', input: { file_path: file, content: 'written by the fake model\n' } }]);

    const result = resultOf(await runClaude(prompt, ws));
    expect(result.is_error).toBe(false);
    expect(result.result).toMatch(new RegExp(`^echo: ${prompt} \\| tool results: \\[ok\\] `));
    expect(await readFile(file, 'utf8')).toBe('written by the fake model\n');
    expect(fake.callsFor(prompt).at(-1)!.toolResults).toEqual([expect.objectContaining({ isError: false })]);
  });

  it('Bash: the command’s output is the tool result', async () => {
    const ws = await makeWorkspace();
    const prompt = 'tools: run a shell command';
    fake.script(prompt, [{ kind: 'tool', name: 'Bash', input: { command: 'echo $((6*7))' } }]);

    const result = resultOf(await runClaude(prompt, ws));
    expect(result.result).toBe(`echo: ${prompt} | tool results: [ok] 42`);
  });

  it('two tool calls in a row: Write then Read, both results in order', async () => {
    const ws = await makeWorkspace();
    const file = path.join(ws.cwd, 'round-trip.txt');
    const canary = `ROUNDTRIP-${Math.random().toString(36).slice(2)}`;
    const prompt = 'tools: write then read back';
    fake.script(prompt, [
      { kind: 'tool', name: 'Write', input: { file_path: file, content: canary } },
      { kind: 'tool', name: 'Read', input: { file_path: file } },
    ]);

    const events = await runClaude(prompt, ws);
    const result = resultOf(events);
    expect(result.result).toMatch(new RegExp(`^echo: ${prompt} \\| tool results: \\[ok\\] .+ \\[ok\\] .*${canary}`, 's'));

    const calls = fake.callsFor(prompt);
    expect(calls).toHaveLength(3);
    // Each request carries the whole conversation: every tool result so far, oldest first.
    expect(calls.map((c) => c.toolResults.length)).toEqual([0, 1, 2]);
    expect(calls[2]!.toolResults.map((r) => r.toolUseId)).toEqual(toolUseIdsOf(events));
    expect(calls[2]!.toolResults[1]).toMatchObject({ isError: false, content: expect.stringContaining(canary) });
  });

  it('a tool that fails: the error is the tool result, tagged [error]', async () => {
    const ws = await makeWorkspace();
    const missing = path.join(ws.cwd, 'no-such-file.txt');
    const prompt = 'tools: read a missing file';
    fake.script(prompt, [{ kind: 'tool', name: 'Read', input: { file_path: missing } }]);

    const result = resultOf(await runClaude(prompt, ws));
    expect(result.result).toMatch(new RegExp(`^echo: ${prompt} \\| tool results: \\[error\\] `));
    expect(fake.callsFor(prompt).at(-1)!.toolResults).toEqual([
      expect.objectContaining({ isError: true, content: expect.stringMatching(/does not exist/i) }),
    ]);
  });
});
