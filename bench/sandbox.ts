/**
 * `npm run bench:sandbox`: what the sandbox costs per run.
 *
 * The real CLI against the fake model API on loopback, one run at a time, as the worker
 * runs it (the same args, the spawn runner, a fresh conversation folder per run),
 * unsandboxed (SANDBOX=off) and in bubblewrap, interleaved so that drift on the machine
 * falls on both alike. Also `/bin/true` through the sandbox and directly: the cost of
 * the sandbox itself (namespaces, mounts, the bridge, the per-run egress proxy).
 * CPU is the machine's: every core's busy time during the run (/proc/stat), so it
 * counts everything a run costs wherever it lands (the CLI, bwrap and the kernel's
 * namespace work, the bridge, the egress proxy in this process, the fake model). A
 * sandbox's processes are not all reaped by this process, so its children's CPU times
 * would miss them. Run it on an otherwise idle machine.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { conversationPaths, createLogger, loadWorkerConfig } from '@claude-queue/shared';
import { buildChildEnv, buildClaudeArgs, createSandbox, createSpawnRunner, resolveClaudeBin, type Sandbox } from '@claude-queue/worker';
import { startFakeAnthropic } from '../test/support/fakeAnthropic.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds all cores have been busy since boot: /proc/stat's first line less idle and iowait. */
function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks as number[];
  void idle;
  void iowait;
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface SandboxBenchResult {
  runs: number;
  cli: { off: Stat; bubblewrap: Stat };
  bare: { off: Stat; bubblewrap: Stat };
}

interface Stat {
  wallMs: number;
  cpuS: number;
}

export async function runSandboxBench(runs = RUNS): Promise<SandboxBenchResult> {
  const model = await startFakeAnthropic();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cq-bench-sandbox-'));
  const logger = createLogger('bench', 'warn');
  const claudeBin = resolveClaudeBin(undefined);
  const env = { PATH: process.env.PATH, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'sk-ant-bench' };
  const sandboxes: Record<'off' | 'bubblewrap', Sandbox> = {
    off: createSandbox({ config: loadWorkerConfig({ SANDBOX: 'off' }), claudeBin, env, logger }),
    bubblewrap: createSandbox({ config: loadWorkerConfig({ SANDBOX: 'bubblewrap' }), claudeBin, env, logger }),
  };
  await Promise.all(Object.values(sandboxes).map((s) => s.start()));

  let n = 0;
  async function once(sandbox: Sandbox, what: 'cli' | 'true'): Promise<{ wallMs: number; cpuS: number }> {
    const id = `c${n++}`;
    const dirs = conversationPaths(dataDir, 'bench', id);
    const args = buildClaudeArgs({ prompt: 'hello' });
    const childEnv = buildChildEnv(env, { maxRetries: 0 });
    const cpu0 = machineBusySeconds();
    const t0 = performance.now();
    try {
      if (what === 'cli') {
        // The worker's one-shot runner: folders, sandbox, spawn, all in the timing.
        const runner = createSpawnRunner({ sandbox });
        const outcome = await runner.run({ tenantId: 'bench', jobId: id, args, env: childEnv, hosts: [], conversation: { id, paths: dirs, continued: false }, prompt: `bench ${n}`, timeoutMs: 60_000 });
        if (outcome.result?.is_error !== false) throw new Error(`a run failed: ${outcome.stderrTail || JSON.stringify(outcome.result)}`);
      } else {
        // The sandbox with /bin/true in the CLI's place: the sandbox's own cost.
        await Promise.all([mkdir(dirs.workspace, { recursive: true }), mkdir(dirs.home, { recursive: true })]);
        const command = await sandbox.prepare({ args: [], dirs, env: childEnv, hosts: [] });
        try {
          const [file, argv] = sandbox.kind === 'off' ? ['/bin/true', []] : [command.file, [...command.args.slice(0, command.args.indexOf('sh', command.args.indexOf('-c') + 2) + 1), '/bin/true']];
          const r = await execa(file, argv, { cwd: command.cwd, env: command.env, extendEnv: false, reject: false });
          if (r.exitCode !== 0) throw new Error(`true failed: ${r.stderr}`);
        } finally {
          await command.dispose();
        }
      }
      return { wallMs: performance.now() - t0, cpuS: machineBusySeconds() - cpu0 };
    } finally {
      await rm(dirs.root, { recursive: true, force: true });
    }
  }

  const samples: Record<string, { wallMs: number[]; cpuS: number[] }> = {};
  const record = (key: string, s: { wallMs: number; cpuS: number }) => {
    samples[key] ??= { wallMs: [], cpuS: [] };
    samples[key]!.wallMs.push(s.wallMs);
    samples[key]!.cpuS.push(s.cpuS);
  };
  // One of each first, not counted: page cache, the CLI's first start.
  for (const kind of ['off', 'bubblewrap'] as const) await once(sandboxes[kind], 'cli');
  for (let i = 0; i < runs; i++) {
    for (const kind of ['off', 'bubblewrap'] as const) {
      record(`cli ${kind}`, await once(sandboxes[kind], 'cli'));
      record(`true ${kind}`, await once(sandboxes[kind], 'true'));
    }
  }

  await Promise.all(Object.values(sandboxes).map((s) => s.close()));
  await model.close();
  await rm(dataDir, { recursive: true, force: true });
  const stat = (key: string): Stat => ({ wallMs: median(samples[key]!.wallMs), cpuS: median(samples[key]!.cpuS) });
  return {
    runs,
    cli: { off: stat('cli off'), bubblewrap: stat('cli bubblewrap') },
    bare: { off: stat('true off'), bubblewrap: stat('true bubblewrap') },
  };
}

export function formatSandboxBench(r: SandboxBenchResult): string {
  const row = (name: string, s: Stat) => `| ${name} | ${s.wallMs.toFixed(0)} | ${s.cpuS.toFixed(2)} |`;
  const addedMs = r.cli.bubblewrap.wallMs - r.cli.off.wallMs;
  return [
    '| run | wall ms | machine CPU s |',
    '| --- | ---: | ---: |',
    row('CLI, SANDBOX=off', r.cli.off),
    row('CLI, bubblewrap', r.cli.bubblewrap),
    row('/bin/true, directly', r.bare.off),
    row('/bin/true, in the sandbox', r.bare.bubblewrap),
    '',
    `The sandbox adds ${addedMs.toFixed(0)} ms (${((addedMs / r.cli.off.wallMs) * 100).toFixed(1)}% of a run's wall time) and ${(r.cli.bubblewrap.cpuS - r.cli.off.cpuS).toFixed(2)} CPU s to a CLI run; building one and tearing it down alone costs ${(r.bare.bubblewrap.wallMs - r.bare.off.wallMs).toFixed(0)} ms and ${(r.bare.bubblewrap.cpuS - r.bare.off.cpuS).toFixed(2)} CPU s (medians of ${r.runs} interleaved runs each).`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runSandboxBench();
  console.log(`\nSandbox cost per run (${new Date().toISOString().slice(0, 10)})\n`);
  console.log(formatSandboxBench(result));
}
