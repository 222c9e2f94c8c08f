import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, formatPretty } from './logger.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('redacts prompts, results, keys and credentials wherever code puts them', () => {
    const { lines, destination } = capture();
    const log = createLogger('test', 'info', { destination });
    log.info(
      {
        prompt: 'the secret prompt',
        result: { text: 'the secret answer' },
        job: { prompt: 'nested prompt', api_key: 'cq_secretkey' },
        credentials: { anthropic_api_key: 'sk-ant-secret' },
        req: { headers: { authorization: 'Bearer cq_secretkey' } },
        job_id: 'j-1',
      },
      'ran',
    );
    const text = lines.join('\n');
    for (const secret of ['the secret prompt', 'the secret answer', 'nested prompt', 'cq_secretkey', 'sk-ant-secret']) {
      expect(text).not.toContain(secret);
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ job_id: 'j-1', prompt: '[redacted]', msg: 'ran' });
  });

  it('logs an err that is not an Error as it is, and an Error with its type', () => {
    const { lines, destination } = capture();
    const log = createLogger('test', 'info', { destination });
    log.warn({ err: { message: 'connect ECONNREFUSED' } }, 'plain');
    log.warn({ err: new TypeError('bad') }, 'error');
    expect(JSON.parse(lines[0]!).err).toEqual({ message: 'connect ECONNREFUSED' });
    expect(JSON.parse(lines[1]!).err).toMatchObject({ type: 'TypeError', message: 'bad', stack: expect.stringContaining('TypeError: bad') });
  });

  it('formats a line for a terminal', () => {
    const line = JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 1, 12, 34, 56), name: 'api', msg: 'hello', job_id: 'j-1' });
    expect(formatPretty(line)).toBe('12:34:56 INFO  api: hello job_id=j-1\n');
  });
});
