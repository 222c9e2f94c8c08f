/**
 * `npm run bench:profile-top -- <file.cpuprofile> [n] [function]`: where a CPU profile's time went.
 *
 * Reads a V8 .cpuprofile (from `node --cpu-prof`, or BENCH_CPU_PROFILE in the API
 * benchmarks) and prints the top `n` (default 25) functions by self time, then self
 * time by package (node_modules/<pkg>, node: internals, the project's own files,
 * V8's (garbage collector), (program) and (idle)). With a function name as third
 * argument, its self time by the calling stack instead (the 4 nearest frames outside
 * node's own modules).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Busy time: everything but (idle). */
  busyMs: number;
  functions: Array<{ name: string; where: string; selfMs: number }>;
  packages: Array<{ name: string; selfMs: number }>;
}

function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const own = /\/(apps\/[^/]+|packages\/[^/]+|bench|test)\//.exec(url);
  return own ? own[1]! : url;
}

export function summarize(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  const fns = new Map<string, { name: string; where: string; selfMs: number }>();
  const pkgs = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') idleUs += us;
    const name = functionName || '(anonymous)';
    const where = url ? `${url.replace(/^file:\/\/.*?\/(node_modules|apps|packages|bench|test)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const f = fns.get(key) ?? { name, where, selfMs: 0 };
    f.selfMs += us / 1000;
    fns.set(key, f);
    const pkg = packageOf(url, functionName);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us / 1000);
  }
  return {
    totalMs: totalUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    functions: [...fns.values()].sort((a, b) => b.selfMs - a.selfMs),
    packages: [...pkgs.entries()].map(([name, selfMs]) => ({ name, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function profileTable(s: ProfileSummary, n = 25): string {
  const pct = (ms: number) => ((ms / s.busyMs) * 100).toFixed(1);
  const lines = [
    `profile: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s busy (not idle); shares are of busy time`,
    '',
    '| self time (ms) | % of busy | function | where |',
    '| ---: | ---: | --- | --- |',
    ...s.functions.filter((f) => f.name !== '(idle)').slice(0, n).map((f) => `| ${f.selfMs.toFixed(0)} | ${pct(f.selfMs)} | ${f.name} | ${f.where} |`),
    '',
    '| self time (ms) | % of busy | package |',
    '| ---: | ---: | --- |',
    ...s.packages.filter((p) => p.name !== '(idle)').slice(0, 20).map((p) => `| ${p.selfMs.toFixed(0)} | ${pct(p.selfMs)} | ${p.name} |`),
  ];
  return lines.join('\n');
}

const frameName = (n: ProfileNode) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const file = url.replace(/^.*\/(node_modules|apps|packages|bench|test)\//, '$1/').replace(/^node:/, 'node:');
  return `${functionName || '(anonymous)'}${url ? ` ${file}:${lineNumber + 1}` : ''}`;
};

/** Self time of the function named `name`, by the `depth` nearest frames outside node's own modules that called it. */
export function callersOf(profile: CpuProfile, name: string, depth = 4): Array<{ stack: string; selfMs: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const stacks = new Map<string, number>();
  for (const [id, us] of self) {
    if (byId.get(id)!.callFrame.functionName !== name) continue;
    const frames: string[] = [];
    for (let p = parent.get(id); p !== undefined && frames.length < depth; p = parent.get(p)) {
      const node = byId.get(p)!;
      if (node.callFrame.url && !node.callFrame.url.startsWith('node:')) frames.push(frameName(node));
    }
    const key = frames.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + us / 1000);
  }
  return [...stacks.entries()].map(([stack, selfMs]) => ({ stack, selfMs })).sort((a, b) => b.selfMs - a.selfMs);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: npm run bench:profile-top -- <file.cpuprofile> [n] [function]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const fn = process.argv[4];
  if (fn) {
    console.log(`| self time (ms) | ${fn} called from |\n| ---: | --- |`);
    for (const c of callersOf(profile, fn).slice(0, Number(process.argv[3] ?? 25))) console.log(`| ${c.selfMs.toFixed(0)} | ${c.stack} |`);
  } else {
    console.log(profileTable(summarize(profile), Number(process.argv[3] ?? 25)));
  }
}
