/**
 * `npm run bench`: every benchmark that compares the service with its baseline, one
 * after the other on this machine, printed and written to bench/RESULTS.md with the
 * machine, the CLI version and the date. Each also runs alone (`npm run bench:<name>`).
 * Run it on an otherwise idle machine: CPU figures are the machine's.
 *
 * BENCH_ONLY=sandbox,service,api,depth,dispatch,conversations,batches picks some.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { execa } from 'execa';
import { resolveClaudeBin } from '@claude-queue/worker';
import { apiBenchTable, runApiBench } from './api.js';
import { batchBenchTable, runBatchBench } from './batches.js';
import { conversationBenchTable, runConversationBench } from './conversations.js';
import { depthBenchTable, runDepthBench } from './depth.js';
import { dispatchBenchTable, runDispatchBench } from './dispatch.js';
import { formatSandboxBench, runSandboxBench } from './sandbox.js';
import { formatServiceBench, runServiceBench } from './service.js';

const only = new Set((process.env.BENCH_ONLY ?? 'sandbox,service,api,depth,dispatch,conversations,batches').split(',').map((s) => s.trim()));
const version = (await execa(resolveClaudeBin(undefined), ['--version'])).stdout.trim();
const sections: string[] = [
  '# Benchmark results',
  '',
  `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}, claude ${version}, the fake model API on loopback. Written by \`npm run bench\`; each section says how to run it alone.`,
];

async function section(name: string, title: string, command: string, run: () => Promise<string>): Promise<void> {
  if (!only.has(name)) return;
  const started = Date.now();
  console.error(`== ${title}`);
  const table = await run();
  const text = ['', `## ${title}`, '', `\`${command}\` (${Math.round((Date.now() - started) / 1000)} s)`, '', table];
  console.log(text.join('\n'));
  sections.push(...text);
}

await section('sandbox', 'Sandbox cost per run', 'npm run bench:sandbox', async () => formatSandboxBench(await runSandboxBench()));
await section('service', 'The service against the CLI directly, by WARM_POOL mode', 'npm run bench:service', async () => formatServiceBench(await runServiceBench()));
await section('api', 'API throughput', 'npm run bench:api', async () => apiBenchTable(await runApiBench()));
await section('depth', 'Queue depth', 'npm run bench:depth', async () => depthBenchTable(await runDepthBench()));
await section('conversations', 'Conversations: save after a turn, restore on another worker', 'npm run bench:conversations', async () => conversationBenchTable(await runConversationBench()));
await section('batches', 'Accepting a batch of 10,000 requests', 'npm run bench:batches', async () => batchBenchTable(await runBatchBench()));
await section('dispatch', 'Dispatch: a registered script against its text per call', 'npm run bench:dispatch', async () => dispatchBenchTable(await runDispatchBench()));

await writeFile(new URL('./RESULTS.md', import.meta.url), `${sections.join('\n')}\n`);
console.error('written to bench/RESULTS.md');
