import { describe, expect, it } from 'vitest';
import { applyTenantCredentials, buildChildEnv } from './childEnv.js';

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

  it("passes only the allowlist; HOME is the sandbox's to set, never the worker's", () => {
    const env = buildChildEnv(parent, { maxRetries: 0 });
    expect(env).not.toHaveProperty('HOME');
    expect(env).toMatchObject({
      PATH: '/usr/bin',
      LANG: 'C.UTF-8',
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
    expect(buildChildEnv(parent, { maxRetries: 0 }).CLAUDE_CODE_MAX_RETRIES).toBe('0');
  });
});

describe('applyTenantCredentials', () => {
  const deployment = {
    PATH: '/usr/bin',
    HOME: '/data/t/home',
    ANTHROPIC_API_KEY: 'sk-deployment',
    ANTHROPIC_AUTH_TOKEN: 'gateway-token',
    ANTHROPIC_BASE_URL: 'http://127.0.0.1:1',
    CLAUDE_CODE_OAUTH_TOKEN: 'oauth-deployment',
    CLAUDE_CODE_USE_BEDROCK: '1',
  };
  const untouched = { PATH: '/usr/bin', HOME: '/data/t/home', ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' };

  it("replaces every deployment credential with the tenant's API key", () => {
    expect(applyTenantCredentials(deployment, { ANTHROPIC_API_KEY: 'sk-tenant' })).toEqual({ ...untouched, ANTHROPIC_API_KEY: 'sk-tenant' });
  });

  it("replaces every deployment credential with the tenant's OAuth token", () => {
    expect(applyTenantCredentials(deployment, { CLAUDE_CODE_OAUTH_TOKEN: 'oauth-tenant' })).toEqual({
      ...untouched,
      CLAUDE_CODE_OAUTH_TOKEN: 'oauth-tenant',
    });
  });

  it('passes both when the tenant has both', () => {
    const both = { ANTHROPIC_API_KEY: 'sk-tenant', CLAUDE_CODE_OAUTH_TOKEN: 'oauth-tenant' };
    expect(applyTenantCredentials(deployment, both)).toEqual({ ...untouched, ...both });
  });

  it.each([['null', null], ['empty', {}], ['empty strings', { ANTHROPIC_API_KEY: '' }]])(
    "keeps the deployment's credentials when the tenant's are %s",
    (_name, credentials) => {
      expect(applyTenantCredentials(deployment, credentials)).toEqual(deployment);
    },
  );

  it('leaves the given env alone', () => {
    const env = { ...deployment };
    applyTenantCredentials(env, { ANTHROPIC_API_KEY: 'sk-tenant' });
    expect(env).toEqual(deployment);
  });
});
