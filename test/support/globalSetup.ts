/**
 * Starts a private redis-server on a free port for the whole run; the suite never
 * touches a Redis on 6379. Tests read its URL with `inject('redisUrl')`.
 */
import type { TestProject } from 'vitest/node';
import type {} from './env.js';
import { startRedisServer, type RedisServer } from './redisServer.js';

let redis: RedisServer | undefined;

export async function setup(project: TestProject) {
  redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
  project.provide('redisPort', redis.port);
}

export async function teardown() {
  await redis?.destroy();
}
