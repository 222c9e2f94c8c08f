import { expect, it } from 'vitest';
import { describeRedisUrl } from './redis.js';

it('describes a Redis URL without its password', () => {
  expect(describeRedisUrl('redis://:s3cret@redis.internal:6380/2')).toBe('redis://:***@redis.internal:6380/2');
  expect(describeRedisUrl('rediss://app:s3cret@redis.internal')).toBe('rediss://app:***@redis.internal');
  expect(describeRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
});
