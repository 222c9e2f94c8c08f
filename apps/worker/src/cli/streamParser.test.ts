import { describe, expect, it } from 'vitest';
import { createStreamParser } from './streamParser.js';

// Lines as the CLI 2.1.x prints them (abridged), split at awkward places.
const assistant = JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'whole answer' }] } });
const delta = (text: string) => JSON.stringify({ type: 'stream_event', event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } } });
const lines = [JSON.stringify({ type: 'system', subtype: 'init' }), delta('who'), delta('le ans'), delta('wer'), assistant, JSON.stringify({ type: 'result' })].join('\n') + '\n';

function feed(partial: boolean): string[] {
  const texts: string[] = [];
  const push = createStreamParser({ partial, onText: (t) => texts.push(t) });
  for (let i = 0; i < lines.length; i += 7) push(lines.slice(i, i + 7));
  return texts;
}

describe('createStreamParser', () => {
  it('hands on whole text blocks without partial messages', () => {
    expect(feed(false)).toEqual(['whole answer']);
  });

  it('hands on deltas with partial messages, and not the whole message after them', () => {
    expect(feed(true)).toEqual(['who', 'le ans', 'wer']);
  });
});
