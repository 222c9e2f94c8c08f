import { describe, expect, it } from 'vitest';
import { placeholderFor, sealModelCredentials } from './modelCredentials.js';

describe('sealModelCredentials', () => {
  const local = 'http://127.0.0.1:3128';

  it('leaves only placeholders in the child, and the real values in the route', () => {
    const { env, route } = sealModelCredentials(
      { PATH: '/usr/bin', ANTHROPIC_API_KEY: 'sk-real', CLAUDE_CODE_OAUTH_TOKEN: 'oauth-real', ANTHROPIC_BASE_URL: 'https://gw.example.com/anthropic' },
      local,
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      ANTHROPIC_API_KEY: placeholderFor('ANTHROPIC_API_KEY'),
      CLAUDE_CODE_OAUTH_TOKEN: placeholderFor('CLAUDE_CODE_OAUTH_TOKEN'),
      ANTHROPIC_BASE_URL: local,
    });
    expect(JSON.stringify(env)).not.toMatch(/real|gw\.example/);
    expect(route.upstream.href).toBe('https://gw.example.com/anthropic');
    expect(route.secrets).toEqual([
      [placeholderFor('ANTHROPIC_API_KEY'), 'sk-real'],
      [placeholderFor('CLAUDE_CODE_OAUTH_TOKEN'), 'oauth-real'],
    ]);
  });

  it('moves ANTHROPIC_CUSTOM_HEADERS to the route: a gateway key often travels there', () => {
    const { env, route } = sealModelCredentials({ ANTHROPIC_CUSTOM_HEADERS: 'X-Gateway-Key: secret\nbad line\nX-Team: a:b' }, local);
    expect(env).not.toHaveProperty('ANTHROPIC_CUSTOM_HEADERS');
    expect(route.headers).toEqual({ 'x-gateway-key': 'secret', 'x-team': 'a:b' });
  });

  it('goes to the Anthropic API without ANTHROPIC_BASE_URL', () => {
    expect(sealModelCredentials({}, local).route.upstream.href).toBe('https://api.anthropic.com/');
  });
});
