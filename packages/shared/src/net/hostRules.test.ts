import { describe, expect, it } from 'vitest';
import { formatHostRule, hostRuleOfUrl, matchesHostRule, parseHostRule, type HostRule } from './hostRules.js';

const rule = (text: string): HostRule => {
  const r = parseHostRule(text);
  if (r instanceof Error) throw r;
  return r;
};

describe('host rules', () => {
  it.each([
    ['example.com', 'example.com', 443, true],
    ['example.com', 'EXAMPLE.com.', 80, true],
    ['example.com', 'example.com', 8443, false],
    ['example.com', 'api.example.com', 443, false],
    ['example.com:8443', 'example.com', 8443, true],
    ['example.com:8443', 'example.com', 443, false],
    ['*.example.com', 'api.example.com', 443, true],
    ['*.example.com', 'a.b.example.com', 443, true],
    ['*.example.com', 'example.com', 443, false],
    ['*.example.com', 'badexample.com', 443, false],
    ['10.0.0.7:5432', '10.0.0.7', 5432, true],
    ['[2001:db8::1]:443', '[2001:db8::1]', 443, true],
    ['[2001:db8::1]', '2001:db8::1', 80, true],
  ])('%s matches %s:%i → %s', (text, host, port, expected) => {
    expect(matchesHostRule(rule(text), host, port)).toBe(expected);
  });

  it.each(['', 'http://example.com', 'exa mple.com', 'example.com:0', 'example.com:70000', '*.', '2001:db8::1', 'a/b'])(
    'refuses %j with a message that quotes it',
    (text) => {
      const r = parseHostRule(text);
      expect(r).toBeInstanceOf(Error);
      expect((r as Error).message).toContain(JSON.stringify(text));
    },
  );

  it("takes an MCP server URL's host and port, default ports included", () => {
    expect(hostRuleOfUrl(new URL('https://mcp.example.com/mcp'))).toEqual({ host: 'mcp.example.com', wildcard: false, port: 443 });
    expect(hostRuleOfUrl(new URL('http://[::1]:8080/'))).toEqual({ host: '::1', wildcard: false, port: 8080 });
    expect(formatHostRule(rule('*.example.com:8443'))).toBe('*.example.com:8443');
  });
});
