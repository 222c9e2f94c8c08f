/**
 * Reads the CLI's `--output-format stream-json --verbose` output as it comes, one JSON
 * object per line, and hands on the assistant's text: whole text blocks from
 * `assistant` messages, or, with `--include-partial-messages`, the `text_delta`s of
 * `stream_event`s (the whole message that follows them then repeats what was sent).
 */

export interface StreamParserOptions {
  /** The run has --include-partial-messages: text comes in deltas. */
  partial: boolean;
  onText(text: string): void;
}

interface StreamLine {
  type?: string;
  message?: { content?: Array<{ type?: string; text?: string }> };
  event?: { type?: string; delta?: { type?: string; text?: string } };
}

export function createStreamParser(options: StreamParserOptions): (chunk: string) => void {
  let pending = '';
  const handle = (line: string) => {
    let parsed: StreamLine;
    try {
      parsed = JSON.parse(line) as StreamLine;
    } catch {
      return; // not ours to judge here: the final parse reports unparseable output
    }
    if (options.partial) {
      const delta = parsed.type === 'stream_event' && parsed.event?.type === 'content_block_delta' ? parsed.event.delta : undefined;
      if (delta?.type === 'text_delta' && delta.text) options.onText(delta.text);
      return;
    }
    if (parsed.type !== 'assistant') return;
    for (const block of parsed.message?.content ?? []) {
      if (block.type === 'text' && block.text) options.onText(block.text);
    }
  };
  return (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) handle(line);
      newline = pending.indexOf('\n');
    }
  };
}
