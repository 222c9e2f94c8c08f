/**
 * bubblewrap's command line for one run: a pure function of the layout, so what a run
 * can see is readable (and tested) in one place. The mount table is an allowlist: a
 * path not named here does not exist in the sandbox.
 */

/** Where things are inside every sandbox: the same for every run and worker, so a transcript's project path never changes. */
export const SANDBOX_PATHS = {
  workspace: '/workspace',
  home: '/home/claude',
  /** The CLI, bound read-only. */
  claude: '/opt/claude-queue/claude',
  socat: '/opt/claude-queue/socat',
  /** The run's egress proxy (egressProxy.ts). */
  egressSocket: '/run/claude-queue/egress.sock',
} as const;

/** Where the bridge listens inside the sandbox's own loopback: the run's ANTHROPIC_BASE_URL and HTTP(S)_PROXY. */
export const BRIDGE_PORT = 3128;

/** The user a run is inside its user namespace: not root, so tools (and the CLI) behave as for a normal user. */
export const SANDBOX_UID = 1000;

/** A top-level system path as it is on the host: a directory to bind, or a symlink to recreate (merged /usr). */
export type SystemEntry = { path: string; kind: 'dir' } | { path: string; kind: 'symlink'; target: string };

export interface BwrapLayout {
  /** /usr and, as on the host, /bin, /sbin, /lib, /lib64 … */
  system: SystemEntry[];
  /** Host files and folders of /etc the programs inside need (certificates, the loader's cache …), bound if present. */
  etc: string[];
  /** Files the worker wrote for every sandbox: passwd, group, hosts. */
  generatedEtc: { passwd: string; group: string; hosts: string };
  claudeBin: string;
  socatBin: string;
  /** The run's egress proxy socket on the host. */
  egressSocket: string;
  /** The conversation's host folders. */
  workspace: string;
  home: string;
  tmpSizeBytes: number;
  /** SANDBOX_READ_ONLY_PATHS: bound read-only at the same place. */
  readOnlyPaths: readonly string[];
}

export function buildBwrapArgs(layout: BwrapLayout): string[] {
  const args = [
    // Every namespace: its own mounts, processes, network (loopback only), IPC, hostname, user.
    '--unshare-all',
    '--unshare-user',
    // No nested user namespaces: a second one is the usual first step of kernel exploits.
    '--disable-userns',
    // If the worker dies (even SIGKILL), the run dies with it.
    '--die-with-parent',
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--hostname', 'sandbox',
  ];
  for (const entry of layout.system) {
    if (entry.kind === 'dir') args.push('--ro-bind', entry.path, entry.path);
    else args.push('--symlink', entry.target, entry.path);
  }
  for (const path of layout.etc) args.push('--ro-bind-try', path, path);
  args.push(
    '--ro-bind', layout.generatedEtc.passwd, '/etc/passwd',
    '--ro-bind', layout.generatedEtc.group, '/etc/group',
    '--ro-bind', layout.generatedEtc.hosts, '/etc/hosts',
  );
  for (const path of layout.readOnlyPaths) args.push('--ro-bind', path, path);
  args.push(
    // Its own /proc (only its own processes), a minimal /dev, a private /tmp of bounded size.
    '--proc', '/proc',
    '--dev', '/dev',
    '--size', String(layout.tmpSizeBytes), '--tmpfs', '/tmp',
    // -try: a CLI missing on the host is the readiness probe's to report (the worker
    // stays up, not ready, until it appears), not a sandbox failure.
    '--ro-bind-try', layout.claudeBin, SANDBOX_PATHS.claude,
    '--ro-bind', layout.socatBin, SANDBOX_PATHS.socat,
    '--bind', layout.workspace, SANDBOX_PATHS.workspace,
    '--bind', layout.home, SANDBOX_PATHS.home,
    '--bind', layout.egressSocket, SANDBOX_PATHS.egressSocket,
    // The root bwrap builds is a tmpfs: read-only, or a run could fill memory through it.
    '--remount-ro', '/',
    '--chdir', SANDBOX_PATHS.workspace,
  );
  return args;
}

/**
 * Run inside the sandbox before the CLI: a bridge from the sandbox's loopback to its
 * egress socket, then the CLI in its place (`exec`). The CLI is started only once the
 * bridge listens (its line in /proc/net/tcp), so no first request finds it missing.
 */
export function bridgeScript(): string {
  const hexPort = BRIDGE_PORT.toString(16).toUpperCase().padStart(4, '0');
  return [
    `${SANDBOX_PATHS.socat} TCP-LISTEN:${BRIDGE_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${SANDBOX_PATHS.egressSocket} 2>/dev/null &`,
    'bridge=$!',
    'n=0',
    `until grep -q ': 0100007F:${hexPort} 00000000:0000 0A' /proc/net/tcp; do`,
    '  n=$((n + 1))',
    `  if [ "$n" -gt 500 ]; then echo 'claude-queue sandbox: the network bridge did not start' >&2; exit 125; fi`,
    '  sleep 0.01',
    'done',
    // Not exec: once the command ends, the bridge must end too. The sandbox's init waits
    // for every process in it, so a bridge left running would keep the whole sandbox
    // alive, even with its worker gone (whose death bwrap's --die-with-parent does not
    // always carry past the user namespace's change of uid).
    '"$@"',
    'status=$?',
    'kill "$bridge" 2>/dev/null',
    'exit "$status"',
  ].join('\n');
}
