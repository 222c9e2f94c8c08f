import { describe, expect, it } from 'vitest';
import { buildClaudeArgs } from './buildArgs.js';

describe('buildClaudeArgs', () => {
  it('never puts the prompt in argv', () => {
    const args = buildClaudeArgs({ prompt: 'secret prompt text' });
    expect(args).toEqual(['--print', '--output-format', 'stream-json', '--verbose']);
    expect(args.join(' ')).not.toContain('secret prompt text');
  });

  it('maps every option to its flag, one argv entry per value', () => {
    const args = buildClaudeArgs(
      {
        prompt: 'p',
        stream: true,
        model: 'sonnet',
        system_prompt: '-starts with a dash',
        append_system_prompt: 'be brief',
        max_turns: 3,
        max_budget_usd: 0.5,
        permission_mode: 'plan',
        allowed_tools: ['Bash(git *)', 'Edit'],
        disallowed_tools: ['WebFetch'],
        mcp_config: { mcpServers: { x: { type: 'http', url: 'https://mcp.example.com/mcp' } } },
        json_schema: { type: 'object' },
      },
      { resume: '0b1c2d3e-0000-4000-8000-000000000000', bare: true },
    );
    expect(args).toEqual([
      '--print',
      '--output-format',
      'stream-json',
      '--verbose',
      '--include-partial-messages',
      '--bare',
      '--resume',
      '0b1c2d3e-0000-4000-8000-000000000000',
      '--model',
      'sonnet',
      '--system-prompt=-starts with a dash',
      '--append-system-prompt=be brief',
      '--max-turns',
      '3',
      '--max-budget-usd',
      '0.5',
      '--permission-mode',
      'plan',
      '--allowed-tools',
      'Bash(git *)',
      'Edit',
      '--disallowed-tools',
      'WebFetch',
      '--mcp-config={"mcpServers":{"x":{"type":"http","url":"https://mcp.example.com/mcp"}}}',
      '--strict-mcp-config',
      '--json-schema={"type":"object"}',
    ]);
  });

  it("disallows the deployment's denied tools on every run, before the request's own", () => {
    const args = buildClaudeArgs({ prompt: 'p', disallowed_tools: ['Write'] }, { deniedTools: ['Bash', 'WebFetch'] });
    expect(args.slice(args.indexOf('--disallowed-tools'))).toEqual(['--disallowed-tools', 'Bash', 'WebFetch', 'Write']);
  });

  it('never adds a permission bypass by itself', () => {
    const args = buildClaudeArgs({ prompt: 'p', allowed_tools: ['Edit'] });
    expect(args.join(' ')).not.toMatch(/dangerously|bypassPermissions/);
  });
});
