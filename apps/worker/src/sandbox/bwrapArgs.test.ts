import { describe, expect, it } from 'vitest';
import { bridgeScript, buildBwrapArgs, SANDBOX_PATHS, type BwrapLayout } from './bwrapArgs.js';

const layout: BwrapLayout = {
  system: [
    { path: '/usr', kind: 'dir' },
    { path: '/bin', kind: 'symlink', target: 'usr/bin' },
  ],
  etc: ['/etc/ssl'],
  generatedEtc: { passwd: '/rt/passwd', group: '/rt/group', hosts: '/rt/hosts' },
  claudeBin: '/app/node_modules/@anthropic-ai/claude-code/bin/claude.exe',
  socatBin: '/usr/bin/socat',
  egressSocket: '/rt/run-1.sock',
  workspace: '/data/tenants/t1/conversations/c1/workspace',
  home: '/data/tenants/t1/conversations/c1/home',
  tmpSizeBytes: 1024,
  readOnlyPaths: ['/opt/tools'],
};

/** [flag, source, destination] of every mount, in order. */
function mounts(args: string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (['--bind', '--ro-bind', '--ro-bind-try', '--symlink'].includes(a)) out.push([a, args[i + 1]!, args[i + 2]!]), (i += 2);
    else if (['--proc', '--dev', '--tmpfs', '--remount-ro'].includes(a)) out.push([a, args[i + 1]!]), i++;
  }
  return out;
}

describe('buildBwrapArgs', () => {
  const args = buildBwrapArgs(layout);

  it('unshares every namespace, as a non-root user, dying with the worker', () => {
    for (const flag of ['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent']) expect(args).toContain(flag);
    expect(args.slice(args.indexOf('--uid'), args.indexOf('--uid') + 2)).toEqual(['--uid', '1000']);
    // --share-net would give the run the worker's network.
    expect(args).not.toContain('--share-net');
  });

  it('mounts an allowlist: only the conversation is writable, the root is read-only', () => {
    expect(mounts(args)).toEqual([
      ['--ro-bind', '/usr', '/usr'],
      ['--symlink', 'usr/bin', '/bin'],
      ['--ro-bind-try', '/etc/ssl', '/etc/ssl'],
      ['--ro-bind', '/rt/passwd', '/etc/passwd'],
      ['--ro-bind', '/rt/group', '/etc/group'],
      ['--ro-bind', '/rt/hosts', '/etc/hosts'],
      ['--ro-bind', '/opt/tools', '/opt/tools'],
      ['--proc', '/proc'],
      ['--dev', '/dev'],
      ['--tmpfs', '/tmp'],
      ['--ro-bind-try', layout.claudeBin, SANDBOX_PATHS.claude],
      ['--ro-bind', '/usr/bin/socat', SANDBOX_PATHS.socat],
      ['--bind', layout.workspace, '/workspace'],
      ['--bind', layout.home, '/home/claude'],
      ['--bind', '/rt/run-1.sock', SANDBOX_PATHS.egressSocket],
      ['--remount-ro', '/'],
    ]);
    expect(args[args.indexOf('--tmpfs') - 2]).toBe('--size');
    expect(args.slice(-2)).toEqual(['--chdir', '/workspace']);
  });
});

describe('bridgeScript', () => {
  it('waits for the bridge on 127.0.0.1:3128 (0C38) before it runs the CLI, and ends the bridge with it', () => {
    const script = bridgeScript();
    expect(script).toContain('TCP-LISTEN:3128,bind=127.0.0.1');
    expect(script).toContain(`UNIX-CONNECT:${SANDBOX_PATHS.egressSocket}`);
    expect(script).toContain(': 0100007F:0C38 00000000:0000 0A');
    // The command's status is the sandbox's, and nothing it started stays behind.
    expect(script.trim().split('\n').slice(-4)).toEqual(['"$@"', 'status=$?', 'kill "$bridge" 2>/dev/null', 'exit "$status"']);
  });
});
