/**
 * SANDBOX=bubblewrap: every run in its own namespaces (bwrapArgs.ts says what it sees),
 * its network through its own egress proxy (egressProxy.ts), its model credentials kept
 * out (modelCredentials.ts).
 *
 * Why bubblewrap itself rather than Anthropic's sandbox-runtime (which wraps it): a
 * tenant boundary must be an allowlist of what a run may see, and sandbox-runtime's
 * reads are deny-listed (everything readable unless named); its proxy filters by
 * domain for the whole process, where a run here needs its own policy and its model
 * credentials injected outside; and it declares Node >= 22 and needs ripgrep besides.
 * bubblewrap and socat are two small Debian packages.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { HostRule, Logger } from '@claude-queue/shared';
import { BRIDGE_PORT, bridgeScript, buildBwrapArgs, SANDBOX_PATHS, SANDBOX_UID, type BwrapLayout, type SystemEntry } from './bwrapArgs.js';
import { startEgressProxy } from './egressProxy.js';
import { findProgram } from './findProgram.js';
import { CLOUD_PROVIDER_VARS, sealModelCredentials } from './modelCredentials.js';
import type { Sandbox, SandboxRun } from './sandbox.js';
import { SandboxUnavailableError } from './sandboxUnavailableError.js';

export interface BubblewrapSandboxOptions {
  claudeBin: string;
  /** SANDBOX_ALLOWED_HOSTS. */
  operatorHosts: readonly HostRule[];
  /** MCP_ALLOW_PRIVATE. */
  allowPrivateMcp: boolean;
  /** SANDBOX_TMP_SIZE_MB. */
  tmpSizeMb: number;
  /** SANDBOX_READ_ONLY_PATHS. */
  readOnlyPaths: readonly string[];
  /** The worker's environment: where bwrap and socat are found (PATH), and the model access to check. */
  env: NodeJS.ProcessEnv;
  /** Called for every connection a run's proxy refused. */
  onRefused?: (target: { host: string; port: number; reason: string }) => void;
  logger: Logger;
}

/** Top-level system paths, bound (or, where the host has a symlink, linked) as on the host. */
const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** What programs inside need of /etc: certificates, the dynamic loader's cache, time zone, name service order. */
const ETC_PATHS = [
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
  '/etc/crypto-policies',
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/nsswitch.conf',
  '/etc/os-release',
  '/etc/mime.types',
  '/etc/services',
  '/etc/protocols',
];

const LOCAL_URL = `http://127.0.0.1:${BRIDGE_PORT}`;

/** A worker's runtime folder (sockets, generated /etc files): `cq-sandbox-<pid>-<random>` in the temp dir. */
const RUNTIME_PREFIX = 'cq-sandbox-';

/** Runtime folders of workers that are gone (SIGKILLed, so they could not remove their own). */
async function removeStaleRuntimeDirs(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const pid = Number(/^cq-sandbox-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') await rm(path.join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

export function createBubblewrapSandbox(options: BubblewrapSandboxOptions): Sandbox {
  const { logger } = options;
  // Keep-alive to the model API across runs: one TLS handshake per connection, not per call.
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  let setup: Promise<{ runtimeDir: string; base: Omit<BwrapLayout, 'egressSocket' | 'workspace' | 'home'>; bwrap: string }> | null = null;

  const doStart = async () => {
    const searchPath = options.env.PATH ?? '';
    const bwrap = findProgram('bwrap', searchPath);
    const socat = findProgram('socat', searchPath);
    const missing = [!bwrap && 'bubblewrap (bwrap)', !socat && 'socat'].filter(Boolean);
    if (missing.length) {
      throw new SandboxUnavailableError(
        `SANDBOX=bubblewrap needs ${missing.join(' and ')} on PATH. Install: apt-get install bubblewrap socat ` +
          '(Debian/Ubuntu; dnf install bubblewrap socat on Fedora/RHEL). ' +
          'Or run a single-tenant deployment unsandboxed with SANDBOX=off.',
      );
    }
    const cloud = CLOUD_PROVIDER_VARS.filter((name) => options.env[name]);
    if (cloud.length) {
      throw new SandboxUnavailableError(
        `${cloud.join(', ')} is set, but a sandboxed run reaches the model only through the worker's proxy to ` +
          'the Anthropic API or ANTHROPIC_BASE_URL: point ANTHROPIC_BASE_URL at an Anthropic-compatible gateway ' +
          'for Bedrock or Vertex, or run with SANDBOX=off.',
      );
    }
    await removeStaleRuntimeDirs();
    const runtimeDir = await mkdtemp(path.join(tmpdir(), `${RUNTIME_PREFIX}${process.pid}-`));
    await chmod(runtimeDir, 0o700);
    const generatedEtc = {
      passwd: path.join(runtimeDir, 'passwd'),
      group: path.join(runtimeDir, 'group'),
      hosts: path.join(runtimeDir, 'hosts'),
    };
    await Promise.all([
      writeFile(generatedEtc.passwd, `root:x:0:0:root:/root:/usr/sbin/nologin\nclaude:x:${SANDBOX_UID}:${SANDBOX_UID}:claude-queue run:${SANDBOX_PATHS.home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`),
      writeFile(generatedEtc.group, `root:x:0:\nclaude:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`),
      writeFile(generatedEtc.hosts, '127.0.0.1 localhost\n::1 localhost\n'),
    ]);
    const base = {
      system: await systemEntries(),
      etc: ETC_PATHS,
      generatedEtc,
      claudeBin: options.claudeBin,
      socatBin: socat!,
      tmpSizeBytes: options.tmpSizeMb * 1024 * 1024,
      readOnlyPaths: options.readOnlyPaths,
    };
    const state = { runtimeDir, base, bwrap: bwrap! };
    await tryOnce(state);
    return state;
  };

  /** One run of the bridge with `true` in place of the CLI: namespaces, mounts and the bridge all work. */
  const tryOnce = async (state: Awaited<NonNullable<typeof setup>>) => {
    const scratch = await mkdtemp(path.join(state.runtimeDir, 'try-'));
    const dirs = { workspace: path.join(scratch, 'w'), home: path.join(scratch, 'h') };
    await Promise.all([mkdir(dirs.workspace), mkdir(dirs.home)]);
    const command = await prepareWith(state, { args: [], dirs, env: { PATH: '/usr/bin:/bin' }, hosts: [] }, ['/bin/true']);
    try {
      const child = execa(command.file, command.args, { cwd: command.cwd, env: command.env, extendEnv: false, stdin: 'ignore', reject: false, timeout: 15_000, detached: true });
      const r = await child;
      // The bridge may outlive `true` for a moment: its group goes with it.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // ESRCH: nothing left
        }
      }
      if (r.exitCode !== 0) throw new SandboxUnavailableError(explainBwrapFailure(String(r.stderr ?? '') || String(r.shortMessage ?? '')));
    } finally {
      await command.dispose();
      await rm(scratch, { recursive: true, force: true });
    }
  };

  const prepareWith = async (state: Awaited<NonNullable<typeof setup>>, run: SandboxRun, command: string[]) => {
    const egressSocket = path.join(state.runtimeDir, `run-${randomBytes(8).toString('hex')}.sock`);
    const sealed = sealModelCredentials(run.env, LOCAL_URL);
    const proxy = await startEgressProxy(
      egressSocket,
      { model: sealed.route, operatorHosts: options.operatorHosts, jobHosts: run.hosts, allowPrivate: options.allowPrivateMcp },
      { agents, logger, onRefused: options.onRefused, bridgePort: BRIDGE_PORT },
    );
    const args = [
      ...buildBwrapArgs({ ...state.base, egressSocket, workspace: run.dirs.workspace, home: run.dirs.home }),
      '--',
      '/bin/sh',
      '-c',
      bridgeScript(),
      'sh',
      ...command,
    ];
    return { file: state.bwrap, args, cwd: run.dirs.workspace, env: sandboxEnv(sealed.env, state.base.readOnlyPaths), dispose: () => proxy.close() };
  };

  return {
    kind: 'bubblewrap',
    start() {
      setup ??= doStart();
      return setup.then(() => undefined);
    },
    async prepare(run) {
      if (!setup) throw new Error('the sandbox was not started');
      return prepareWith(await setup, run, [SANDBOX_PATHS.claude, ...run.args]);
    },
    async close() {
      agents.http.destroy();
      agents.https.destroy();
      const state = await setup?.catch(() => null);
      if (state) await rm(state.runtimeDir, { recursive: true, force: true });
    },
  };
}

/** The run's environment as seen inside: its own paths, the bridge as proxy, PATH limited to what exists there. */
function sandboxEnv(env: Record<string, string>, readOnlyPaths: readonly string[]): Record<string, string> {
  const visible = (dir: string) => ['/usr/', '/bin', '/sbin', ...readOnlyPaths].some((p) => dir === p || dir.startsWith(p.endsWith('/') ? p : `${p}/`));
  const searchPath = (env.PATH ?? '').split(':').filter(visible);
  // No NO_PROXY: a host on the worker's loopback (an allowed host, a private MCP server)
  // is reached through the proxy like any other, and the sandbox's own loopback holds
  // nothing but the bridge (which answers model calls in either form).
  const rest = { ...env };
  delete rest.NO_PROXY;
  delete rest.no_proxy;
  return {
    ...rest,
    PATH: searchPath.length ? searchPath.join(':') : '/usr/local/bin:/usr/bin:/bin',
    HOME: SANDBOX_PATHS.home,
    USER: 'claude',
    LOGNAME: 'claude',
    CLAUDE_CONFIG_DIR: `${SANDBOX_PATHS.home}/.claude`,
    TMPDIR: '/tmp',
    // Everything that leaves goes through the run's proxy; the model API is the bridge itself.
    HTTP_PROXY: LOCAL_URL,
    HTTPS_PROXY: LOCAL_URL,
    http_proxy: LOCAL_URL,
    https_proxy: LOCAL_URL,
  };
}

async function systemEntries(): Promise<SystemEntry[]> {
  const entries: SystemEntry[] = [];
  for (const p of SYSTEM_PATHS) {
    const info = await lstat(p).catch(() => null);
    if (!info) continue;
    if (info.isSymbolicLink()) entries.push({ path: p, kind: 'symlink', target: await readlink(p) });
    else if (info.isDirectory()) entries.push({ path: p, kind: 'dir' });
  }
  return entries;
}

/** What bubblewrap's refusal means, and what the operator can do about it. */
export function explainBwrapFailure(stderr: string): string {
  const said = stderr.trim().split('\n').filter(Boolean).at(-1) ?? 'no message';
  if (/can't mount proc/i.test(stderr)) {
    return (
      `bubblewrap could not mount a /proc of the sandbox's own ("${said}"): the container masks parts of /proc. ` +
      'Docker: run the worker with security_opt systempaths=unconfined (podman: --security-opt unmask=ALL).'
    );
  }
  if (/namespace|uid map|unshare|operation not permitted/i.test(stderr)) {
    return (
      `bubblewrap could not create the sandbox's namespaces ("${said}"): user namespaces are not available to the worker. ` +
      'On the host: sysctl kernel.unprivileged_userns_clone=1 (Debian), user.max_user_namespaces > 0, and on Ubuntu 24.04+ ' +
      'kernel.apparmor_restrict_unprivileged_userns=0. In Docker: security_opt seccomp=unconfined and apparmor=unconfined ' +
      '(see docker-compose.yml). Or, single-tenant only, SANDBOX=off.'
    );
  }
  return `bubblewrap could not start a sandbox: ${said}`;
}
