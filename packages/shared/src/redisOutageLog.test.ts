import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createLogger } from './logger.js';
import { logQueueErrors, RedisOutageLog } from './redisOutageLog.js';

let lines: Array<Record<string, unknown>>;
let log: RedisOutageLog;

beforeEach(() => {
  vi.useFakeTimers();
  lines = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  log = new RedisOutageLog(createLogger('test', 'info', { destination }), { redis: 'redis://redis:6379', summaryIntervalMs: 30_000 });
});

afterEach(() => {
  log.close();
  vi.useRealTimers();
});

const refused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' });

it('says an outage once, then one line per interval with the errors counted, then that it is over', () => {
  for (let i = 0; i < 50; i++) log.connectionError(refused());
  expect(lines).toEqual([
    expect.objectContaining({ msg: 'redis unreachable; reconnecting', redis: 'redis://redis:6379', err: { type: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.1:6379' } }),
  ]);
  vi.advanceTimersByTime(30_000);
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatchObject({ msg: 'redis still unreachable; reconnecting', errors: 49, down_ms: 30_000 });
  for (let i = 0; i < 7; i++) log.connectionError(refused());
  vi.advanceTimersByTime(30_000);
  expect(lines[2]).toMatchObject({ msg: 'redis still unreachable; reconnecting', errors: 7, down_ms: 60_000 });
  log.connected();
  log.connected(); // every other connection coming back says nothing more
  expect(lines).toHaveLength(4);
  expect(lines[3]).toMatchObject({ msg: 'redis reachable again', errors: 57, down_ms: 60_000 });
  vi.advanceTimersByTime(120_000);
  expect(lines).toHaveLength(4);
});

it('a later outage is said again', () => {
  log.connectionError(refused());
  log.connected();
  log.connectionError(refused());
  expect(lines.map((l) => l.msg)).toEqual(['redis unreachable; reconnecting', 'redis reachable again', 'redis unreachable; reconnecting']);
});

it("logs a queue's errors, except while Redis is away: then they are the outage, counted", () => {
  const queue = new EventEmitter();
  const logger = createLogger('test', 'info', {
    destination: new Writable({
      write(chunk: Buffer, _e, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    }),
  });
  logQueueErrors(queue, logger, 'queue error', log);
  queue.emit('error', new Error('a script failed'));
  expect(lines).toEqual([expect.objectContaining({ msg: 'queue error', err: { message: 'a script failed' } })]);
  log.connectionError(refused());
  for (let i = 0; i < 6; i++) queue.emit('error', new Error('Reached the max retries per request limit (which is 1).'));
  expect(lines.map((l) => l.msg)).toEqual(['queue error', 'redis unreachable; reconnecting']);
  log.connected();
  expect(lines[2]).toMatchObject({ msg: 'redis reachable again', errors: 7 });
});
