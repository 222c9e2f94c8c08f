/**
 * A fake Anthropic Messages API on loopback, for end-to-end tests that run the
 * real `claude` CLI (docs/claude-cli.md says how the CLI talks to it).
 *
 * Every main request (the one that carries `tools`) is recorded with the prompt it
 * carries, so tests can count how often a prompt reached "the model". Replies
 * echo the prompt and list the earlier user turns the CLI sent, so a test can see
 * that a resumed conversation carried its history.
 *
 * A scripted `{ kind: 'tool' }` reply makes "the model" call one of the CLI's tools
 * (Read, Write, Bash, …), so a test can see what a tool really does inside the job's
 * sandbox. The CLI runs the tool and sends the result back in a follow-up request
 * whose prompt is still the original one, so the same script answers it with its next
 * reply. Once the script is used up, the default reply adds every tool result of the
 * conversation, oldest first, each tagged `[ok]` or `[error]`:
 *
 *     echo: <prompt> | tool results: [ok] <content> [error] <content>
 *
 * so a test can look for a planted canary in the job's final text, or for its absence.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a tool returned to the model: its output, or the error or permission denial. */
export interface ToolResult {
  toolUseId: string;
  content: string;
  isError: boolean;
}

export interface RecordedCall {
  prompt: string;
  /** Every user text the request carried, oldest first (the conversation as the model sees it). */
  userTexts: string[];
  /** Every tool result the request carried, oldest first, content flattened to text (like `userTexts`). */
  toolResults: ToolResult[];
  apiKey: string | undefined;
  at: number;
}

/** What the fake answers to one main request; the default is a streamed echo. */
export type FakeReply =
  | { kind: 'text'; text: string; chunks?: number; delayMs?: number }
  | { kind: 'error'; status: number; type?: string; message?: string; retryAfterSeconds?: number }
  | { kind: 'hang' }
  /** Ask the CLI to call tool `name` with `input`, as the Messages API streams a tool call. */
  | { kind: 'tool'; name: string; input: Record<string, unknown> };

export interface FakeAnthropic {
  url: string;
  calls: RecordedCall[];
  /** Replies used in order for the next main requests whose prompt contains `match`. */
  script(match: string, replies: FakeReply[]): void;
  callsFor(match: string): RecordedCall[];
  close(): Promise<void>;
}

interface ContentBlock {
  type: string;
  text?: string;
  /** tool_result blocks only. */
  tool_use_id?: string;
  content?: string | ContentBlock[];
  is_error?: boolean;
}
interface Message {
  role: string;
  content: string | ContentBlock[];
}

function textsOf(message: Message): string[] {
  if (typeof message.content === 'string') return [message.content];
  return message.content.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string);
}

/**
 * The prompt is the last user text that is not a `<system-reminder>`; nor are the texts
 * a reused process's conversation begins with after `/clear` (`<local-command-caveat>`,
 * `<command-name>/clear…`: the CLI's record of the command, not a turn of the caller's).
 */
const CLI_NOTES = ['<system-reminder>', '<local-command-caveat>', '<command-name>', '<local-command-stdout>'];

export function userTextsOf(messages: Message[]): string[] {
  const out: string[] = [];
  for (const m of messages) {
    if (m.role !== 'user') continue;
    for (const t of textsOf(m)) if (!CLI_NOTES.some((prefix) => t.startsWith(prefix))) out.push(t);
  }
  return out;
}

/** A tool result's content as text: a string as is, blocks as their texts joined (images dropped). */
function flattenContent(content: string | ContentBlock[] | undefined): string {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((b) => b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('\n');
}

/** Every tool result in `messages`, oldest first. */
export function toolResultsOf(messages: Message[]): ToolResult[] {
  const out: ToolResult[] = [];
  for (const m of messages) {
    if (m.role !== 'user' || typeof m.content === 'string') continue;
    for (const b of m.content) {
      if (b.type !== 'tool_result') continue;
      out.push({ toolUseId: b.tool_use_id ?? '', content: flattenContent(b.content), isError: b.is_error === true });
    }
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sse(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startMessage(res: ServerResponse, model: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'message_start', {
    type: 'message_start',
    message: {
      id: `msg_fake_${Math.random().toString(36).slice(2)}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    },
  });
}

function endMessage(res: ServerResponse, stopReason: 'end_turn' | 'tool_use', outputChars: number): void {
  sse(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: Math.max(1, Math.ceil(outputChars / 4)) },
  });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
}

async function streamText(res: ServerResponse, model: string, text: string, chunks: number, delayMs: number) {
  startMessage(res, model);
  sse(res, 'content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  const size = Math.max(1, Math.ceil(text.length / chunks));
  for (let i = 0; i < text.length; i += size) {
    if (delayMs > 0 && i > 0) await sleep(delayMs);
    sse(res, 'content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: text.slice(i, i + size) },
    });
  }
  sse(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
  endMessage(res, 'end_turn', text.length);
}

/**
 * One tool call, streamed as the Messages API does: the block opens with an empty
 * input, the input arrives as `input_json_delta` JSON text, and the message stops
 * with `tool_use` so the CLI runs the tool and comes back with its result.
 */
function streamToolUse(res: ServerResponse, model: string, name: string, input: Record<string, unknown>) {
  startMessage(res, model);
  const id = `toolu_fake_${Math.random().toString(36).slice(2)}`;
  const json = JSON.stringify(input);
  sse(res, 'content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id, name, input: {} } });
  sse(res, 'content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: json } });
  sse(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
  endMessage(res, 'tool_use', json.length);
}

function sendError(res: ServerResponse, reply: Extract<FakeReply, { kind: 'error' }>) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (reply.retryAfterSeconds !== undefined) headers['retry-after'] = String(reply.retryAfterSeconds);
  res.writeHead(reply.status, headers);
  res.end(
    JSON.stringify({
      type: 'error',
      error: { type: reply.type ?? 'api_error', message: reply.message ?? `fake error ${reply.status}` },
    }),
  );
}

/**
 * The reply for an unscripted prompt: the prompt echoed, the turns that came before
 * it, and every tool result of the conversation (see the header for the format).
 */
export function echoReply(userTexts: string[], toolResults: ToolResult[] = []): string {
  const prompt = userTexts.at(-1) ?? '';
  const earlier = userTexts.slice(0, -1);
  let text = earlier.length === 0 ? `echo: ${prompt}` : `echo: ${prompt} | earlier: ${earlier.join(' / ')}`;
  if (toolResults.length > 0) {
    text += ` | tool results: ${toolResults.map((r) => `${r.isError ? '[error]' : '[ok]'} ${r.content}`).join(' ')}`;
  }
  return text;
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const calls: RecordedCall[] = [];
  const scripts: { match: string; replies: FakeReply[] }[] = [];
  const hanging = new Set<ServerResponse>();

  const server: Server = createServer(async (req, res) => {
    if (req.method === 'HEAD' || req.method === 'GET') {
      res.writeHead(200).end();
      return;
    }
    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      // The CLI went away mid-request (its job canceled, its run killed): nobody to answer.
      res.destroy();
      return;
    }
    let body: { model?: string; messages?: Message[]; tools?: unknown[]; stream?: boolean };
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"type":"error"}');
      return;
    }
    const model = body.model ?? 'claude-fake';
    const messages = body.messages ?? [];
    const userTexts = userTextsOf(messages);
    const prompt = userTexts.at(-1) ?? '';
    // Side requests (title generation and the like) carry no tools: answer them plainly.
    if (!Array.isArray(body.tools) || body.tools.length === 0) {
      await streamText(res, model, 'ok', 1, 0);
      return;
    }
    const auth = req.headers['x-api-key'];
    const toolResults = toolResultsOf(messages);
    calls.push({ prompt, userTexts, toolResults, apiKey: typeof auth === 'string' ? auth : undefined, at: Date.now() });
    const script = scripts.find((s) => prompt.includes(s.match) && s.replies.length > 0);
    const reply: FakeReply = script?.replies.shift() ?? { kind: 'text', text: echoReply(userTexts, toolResults) };
    if (reply.kind === 'error') return sendError(res, reply);
    if (reply.kind === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (reply.kind === 'tool') return streamToolUse(res, model, reply.name, reply.input);
    await streamText(res, model, reply.text, reply.chunks ?? 1, reply.delayMs ?? 0);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    script(match, replies) {
      scripts.push({ match, replies: [...replies] });
    },
    callsFor(match) {
      return calls.filter((c) => c.prompt.includes(match));
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
