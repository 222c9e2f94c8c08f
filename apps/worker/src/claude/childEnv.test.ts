import { describe, expect, it } from 'vitest';
import { buildChildEnv } from './childEnv.js';

describe('buildChildEnv', () => {
  const parent = {
    PATH: '/usr/bin',
    LANG: 'C.UTF-8',
    HOME: '/root',
    ANTHROPIC_API_KEY: 'sk-deployment',
    ANTHROPIC_BASE_URL: 'http://127.0.0.1:1',
    CLAUDE_CODE_OAUTH_TOKEN: 'oauth',
    HTTPS_PROXY: 'http://proxy:3128',
    REDIS_URL: 'redis://secret@host',
    ADMIN_TOKEN: 'admin-secret',
    AWS_SECRET_ACCESS_KEY: 'aws',
    CLAUDE_CODE_MAX_RETRIES: '10',
  };

  it('passes only the allowlist and sets HOME and CLAUDE_CONFIG_DIR per tenant', () => {
    const env = buildChildEnv(parent, { home: '/data/t/home', configDir: '/data/t/claude', maxRetries: 0 });
    expect(env).toMatchObject({
      PATH: '/usr/bin',
      LANG: 'C.UTF-8',
      HOME: '/data/t/home',
      CLAUDE_CONFIG_DIR: '/data/t/claude',
      ANTHROPIC_API_KEY: 'sk-deployment',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:1',
      CLAUDE_CODE_OAUTH_TOKEN: 'oauth',
      HTTPS_PROXY: 'http://proxy:3128',
    });
    expect(env).not.toHaveProperty('REDIS_URL');
    expect(env).not.toHaveProperty('ADMIN_TOKEN');
    expect(env).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
  });

  it('lets the queue own retries: CLAUDE_CODE_MAX_RETRIES comes from config, not the parent', () => {
    expect(buildChildEnv(parent, { home: '/h', configDir: '/c', maxRetries: 0 }).CLAUDE_CODE_MAX_RETRIES).toBe('0');
  });
});
