import { describe, expect, it } from 'vitest';
import { loadApiConfig, loadWorkerConfig } from './config.js';

describe('config', () => {
  it('applies defaults', () => {
    const config = loadWorkerConfig({});
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.WORKER_CONCURRENCY).toBe(2);
    expect(config.CLAUDE_CODE_MAX_RETRIES).toBe(0);
    expect(config.ALLOWED_PERMISSION_MODES).not.toContain('bypassPermissions');
  });

  it('names the variable at fault', () => {
    expect(() => loadWorkerConfig({ WORKER_CONCURRENCY: 'many' })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => loadWorkerConfig({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
    expect(() => loadWorkerConfig({ WORKER_CLI_BARE: 'yes' })).toThrow(/WORKER_CLI_BARE: must be true or false/);
    expect(() => loadWorkerConfig({ ALLOWED_PERMISSION_MODES: 'plan,everything' })).toThrow(/ALLOWED_PERMISSION_MODES/);
  });

  it('requires a secret ADMIN_TOKEN for the API, with no default', () => {
    expect(() => loadApiConfig({})).toThrow(/ADMIN_TOKEN: is required/);
    expect(() => loadApiConfig({ ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN: must be at least 16 characters/);
    expect(loadApiConfig({ ADMIN_TOKEN: 'a'.repeat(16) }).PORT).toBe(3000);
  });

  it('treats empty variables as unset', () => {
    expect(loadWorkerConfig({ WORKER_CONCURRENCY: '' }).WORKER_CONCURRENCY).toBe(2);
  });
});
