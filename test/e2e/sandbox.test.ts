/**
 * The sandbox, attacked the way a tenant would: through `POST /v1/jobs`, with the real
 * CLI running the tool calls a (fake) model asks for, inside the worker's default
 * bubblewrap sandbox (apps/worker/src/sandbox).
 *
 * Planted before the attacks: canaries in a victim tenant's conversation (a file in its
 * workspace, its prompt in its transcript), in a file directly under DATA_DIR, in the
 * worker's environment (the worker runs in this process) and in another host process's,
 * and a TCP listener on the host's loopback that counts connections. Each attack is
 * refused at submit with a 400 naming the field, or runs and then: no canary (nor a
 * model key) in the job's result text or in any tool result the model received, no file
 * on the host outside the attacker's run folders, no connection to the listener.
 *
 * DATA_DIR is under the host's /tmp here, and a run has a private /tmp: a write to a
 * DATA_DIR path from inside "succeeds" into that tmpfs, and what counts is the host.
 *
 * The controls show those checks can fail: the same attacks on a worker with SANDBOX=off
 * do leak (so it is the sandbox, not the CLI's permission checks, that stops them), and
 * what a run should be able to do (its workspace, its conversation, its tenant's own
 * key, the hosts the operator and its MCP config allow) still works.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, inject, it, type ExpectStatic } from 'vitest';
import { conversationPaths, type JobView } from '@claude-queue/shared';
import { ADMIN_TOKEN } from '../support/env.js';
import { type FakeReply, type ToolResult } from '../support/fakeAnthropic.js';
import { submitJob, waitForFinal } from '../support/jobs.js';
import { startStack, type Stack } from '../support/stack.js';

/** The deployment's model key in stack.ts: the proxy holds it, no run ever may. */
const DEPLOYMENT_KEY = 'sk-ant-test-deployment';
const SECRETS_KEY = randomBytes(32).toString('base64');
/** The worker's environment is this process's: a canary in it is a canary in the worker's. */
const WORKER_ENV_VAR = 'CQ_SANDBOX_TEST_WORKER_CANARY';
const JOB_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 120_000;

const hex = (bytes = 8) => randomBytes(bytes).toString('hex');
const canaries = {
  victim: `VICTIM-CANARY-${hex(12)}`,
  /** In the victim's prompt, so in its transcript (its conversation's home). */
  victimPrompt: `VICTIMPROMPT-CANARY-${hex(12)}`,
  dataDir: `DATADIR-CANARY-${hex(12)}`,
  workerEnv: `WORKERENV-CANARY-${hex(12)}`,
  hostProcessEnv: `HOSTPROC-CANARY-${hex(12)}`,
};
const ownKey = `sk-ant-tenant-own-${hex(12)}`;

/**
 * Counts TCP connections and keeps them open (a proxied CONNECT answers 200 only once
 * connected); with `answerHttp`, answers whatever arrives with an HTTP 204.
 */
interface Listener {
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function countingListener(options: { answerHttp?: boolean } = {}): Promise<Listener> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createNetServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    if (options.answerHttp) socket.once('data', () => socket.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'));
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return state.connections;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Records every HTTP request; answers 404, so an MCP client gives up after its first tries. */
async function recordingHttpServer(host: string) {
  const requests: Array<{ method: string; url: string }> = [];
  const server = createHttpServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not here"}');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let main: Stack;
/** SANDBOX_ALLOWED_HOSTS names `allowed`; MCP_ALLOW_PRIVATE on API and worker. */
let open: Stack;
/** SANDBOX=off: the controls that show the attacks would leak without the sandbox. */
let off: Stack;
/** Its worker's model API is `upstream`, which records each request's path and key. */
let recorded: Stack;
let upstream: Awaited<ReturnType<typeof recordingFront>>;
/** What no run may reach. */
let trap: Listener;
/** What `open`'s operator allows. */
let allowed: Listener;
/** What the unsandboxed control reaches. */
let control: Listener;
/** A job's MCP servers on `open`: on 127.0.0.1 (NO_PROXY in the sandbox names it) and 127.0.0.2 (it doesn't). */
let mcpLoopback: Awaited<ReturnType<typeof recordingHttpServer>>;
let mcpOtherLoopback: Awaited<ReturnType<typeof recordingHttpServer>>;
/** A host process with a canary in its (initial) environment, readable at /proc/<pid>/environ on the host. */
let hostProcess: ChildProcess;
let attacker: { id: string; api_key: string };
let victim: { id: string; api_key: string };
let victimPaths: ReturnType<typeof conversationPaths>;
let victimFile: string;
let dataDirFile: string;
let victimTreeBefore: Record<string, string>;
/** Host paths attacks try to create; none may exist afterwards (the unsandboxed control's are removed). */
const hostTargets: string[] = [];
const controlTargets: string[] = [];

/** In front of the fake model API: records each request's raw path and key, then passes it on. */
async function recordingFront(target: string) {
  const requests: Array<{ method: string; path: string; apiKey: string | undefined }> = [];
  const to = new URL(target);
  const server = createHttpServer((req, res) => {
    const apiKey = req.headers['x-api-key'];
    requests.push({ method: req.method ?? '', path: req.url ?? '', apiKey: typeof apiKey === 'string' ? apiKey : undefined });
    const out = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** startStack's stack, with the recording front between the worker and the fake model API. */
function startRecordedStack(): Promise<Stack> {
  return startStack({
    cli: 'real',
    tenantName: 'recorded',
    modelFront: async (url) => (upstream = await recordingFront(url)),
  });
}

beforeAll(async () => {
  process.env[WORKER_ENV_VAR] = canaries.workerEnv;
  hostProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], {
    env: { PATH: process.env.PATH, CQ_HOST_PROCESS_CANARY: canaries.hostProcessEnv },
    stdio: 'ignore',
  });
  [trap, allowed, control, mcpLoopback, mcpOtherLoopback] = await Promise.all([
    countingListener(),
    countingListener({ answerHttp: true }),
    countingListener(),
    recordingHttpServer('127.0.0.1'),
    recordingHttpServer('127.0.0.2'),
  ]);
  [main, open, off, recorded] = await Promise.all([
    startStack({ cli: 'real', tenantName: 'attacker', api: { SECRETS_KEY }, worker: { SECRETS_KEY, WORKER_CONCURRENCY: '4' } }),
    startStack({
      cli: 'real',
      tenantName: 'open',
      api: { MCP_ALLOW_PRIVATE: 'true' },
      worker: { SANDBOX_ALLOWED_HOSTS: `127.0.0.1:${allowed.port}`, MCP_ALLOW_PRIVATE: 'true', WORKER_CONCURRENCY: '2' },
    }),
    startStack({ cli: 'real', tenantName: 'unsandboxed', worker: { SANDBOX: 'off', WORKER_CONCURRENCY: '2' } }),
    startRecordedStack(),
  ]);
  attacker = main.tenant;

  // The victim: a tenant with a conversation of its own, and a secret in its workspace.
  victim = await main.api.createTenant('victim');
  const victimJob = await submitJob(main.api, victim.api_key, { prompt: `victim's own work ${canaries.victimPrompt}` });
  const done = await waitForFinal(main.api, victim.api_key, victimJob.id, JOB_TIMEOUT_MS);
  if (done.status !== 'succeeded') throw new Error(`the victim's job ${done.status}: ${JSON.stringify(done.error)}`);
  victimPaths = conversationPaths(main.env.dataDir, victim.id, victimJob.id);
  victimFile = path.join(victimPaths.workspace, 'secret.txt');
  await writeFile(victimFile, `${canaries.victim}\n`);
  dataDirFile = path.join(main.env.dataDir, 'admin-token');
  await writeFile(dataDirFile, `${canaries.dataDir}\n`);
  victimTreeBefore = await snapshot(victimPaths.root);
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  delete process.env[WORKER_ENV_VAR];
  hostProcess?.kill();
  await Promise.all([main?.close(), open?.close(), off?.close(), recorded?.close()]);
  await Promise.all([trap?.close(), allowed?.close(), control?.close(), mcpLoopback?.close(), mcpOtherLoopback?.close()]);
  await Promise.all([...hostTargets, ...controlTargets].map((p) => rm(p, { recursive: true, force: true })));
});

/**
 * Every entry under `root` by relative path: a file as its content's hash, a symlink as
 * its target, a folder as `dir` (path ending in /). What vanishes while it looks (a
 * worker removing a finished run's folder) is left out.
 */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const gone = (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  };
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => (gone(err), []));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      const rel = path.relative(root, full);
      try {
        if (entry.isSymbolicLink()) out[rel] = `-> ${await readlink(full)}`;
        else if (entry.isFile()) out[rel] = createHash('sha256').update(await readFile(full)).digest('hex');
        else if (entry.isDirectory()) {
          out[`${rel}/`] = 'dir';
          await walk(full);
        }
      } catch (err) {
        gone(err);
      }
    }
  };
  await walk(root);
  return out;
}

interface Run {
  job: JobView;
  /** The job's result text. */
  text: string;
  /** This job's tool results, one per scripted call, in order (earlier turns' left out). */
  results: ToolResult[];
  /** Everything the run sent out of the sandbox: the result, the error, every request's tool results. */
  evidence: string;
}

/**
 * Submits a job whose (fake) model asks for `tools`, one after the other, and waits for
 * it. The prompt is unique, so the script and the recorded calls are this job's alone.
 */
async function attack(stack: Stack, key: string, body: Record<string, unknown>, tools: FakeReply[], label = 'attack'): Promise<Run> {
  const prompt = `${label} ${hex()}`;
  stack.model!.script(prompt, tools);
  const submitted = await submitJob(stack.api, key, { prompt, ...body });
  const job = await waitForFinal(stack.api, key, submitted.id, JOB_TIMEOUT_MS);
  const calls = stack.model!.callsFor(prompt);
  // A later turn's requests carry the conversation's earlier tool results too: only this job's.
  const results = (calls.at(-1)?.toolResults ?? []).slice(calls[0]?.toolResults.length ?? 0);
  const evidence = [job.result?.text ?? '', JSON.stringify(job.error), ...calls.flatMap((c) => c.toolResults.map((r) => r.content))].join('\n');
  return { job, text: job.result?.text ?? '', results, evidence };
}

/** No planted secret in what the run sent out. */
function expectNoLeak(expect: ExpectStatic, run: Run): void {
  for (const [name, value] of Object.entries(canaries)) expect(run.evidence, `the ${name} canary leaked`).not.toContain(value);
  expect(run.evidence, 'the deployment key leaked').not.toContain(DEPLOYMENT_KEY);
  expect(run.evidence, "a tenant's own key leaked").not.toContain(ownKey);
}

/** The run ran to the end and every scripted tool call came back with a result. */
function expectRan(expect: ExpectStatic, run: Run, toolCalls: number): void {
  expect(run.job.status, JSON.stringify(run.job.error)).toBe('succeeded');
  expect(run.results, JSON.stringify({ attempts: run.job.attempts, history: run.job.attempt_history, text: run.text.slice(0, 300) })).toHaveLength(toolCalls);
  expect(run.text).toContain('tool results:');
}

const read = (file_path: string): FakeReply => ({ kind: 'tool', name: 'Read', input: { file_path } });
const write = (file_path: string, content: string): FakeReply => ({ kind: 'tool', name: 'Write', input: { file_path, content } });
const bash = (command: string): FakeReply => ({ kind: 'tool', name: 'Bash', input: { command } });

/**
 * A shell command that creates each file (and its folders), wrapped in `sh -c`: the CLI
 * asks for approval of a plain `mkdir -p` outside the workspace, or of a write to a
 * `.claude/settings*` file, and in --print mode that is a refusal; it does not look
 * inside `sh -c`. So this is what gets past the CLI's own checks to the sandbox.
 */
/**
 * Every canary-looking string in what the run can see of its own: its workspace, its
 * home (transcripts included), its /tmp. Finds another run's if a run's folders or a
 * reused process ever carried one over.
 */
const GREP_OWN = bash("grep -raohE '[A-Z]+-CANARY-[0-9a-f]+' /workspace /home/claude /tmp 2>/dev/null | sort -u; echo grep-done");

const shWrite = (files: string[], then = '') =>
  `sh -c '${files.map((f) => `mkdir -p ${path.dirname(f)} && echo x > ${f}; `).join('')}${then}'; echo wrote`;

/**
 * A shell script that tries host:port directly and through the sandbox's proxy (a
 * CONNECT on the bridge at 127.0.0.1:3128, and an absolute-form GET with curl), one line
 * per try: `direct H:P open|closed`, `connect H:P <status line>`, `get H:P <status>`.
 */
function probeScript(targets: Array<[host: string, port: number]>): string {
  return [
    'probe() {',
    '  if timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then echo "direct $1:$2 open"; else echo "direct $1:$2 closed"; fi',
    '  if exec 3<>/dev/tcp/127.0.0.1/3128; then',
    "    printf 'CONNECT %s:%s HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' \"$1\" \"$2\" >&3",
    '    echo "connect $1:$2 $(timeout 5 head -n1 <&3 | tr -d \'\\r\')"',
    '    exec 3<&-',
    '  else echo "connect $1:$2 no bridge"; fi',
    '  echo "get $1:$2 $(env -u NO_PROXY -u no_proxy curl -s -m 5 -o /dev/null -w \'%{http_code}\' -x http://127.0.0.1:3128 http://$1:$2/latest/meta-data/)"',
    '}',
    ...targets.map(([host, port]) => `probe ${host} ${port}`),
  ].join('\n');
}

const PERMISSION_MODES = [undefined, 'acceptEdits', 'auto', 'plan', 'dontAsk', 'manual'] as const;

describe.concurrent('attacks through POST /v1/jobs, sandboxed', () => {
  it.for(PERMISSION_MODES)(
    'Read of the victim’s file and of a file under DATA_DIR by host path (permission_mode %s): nothing',
    { timeout: TEST_TIMEOUT_MS },
    async (mode, { expect }) => {
      const run = await attack(main, attacker.api_key, { allowed_tools: ['Read'], ...(mode ? { permission_mode: mode } : {}) }, [read(victimFile), read(dataDirFile)]);
      expectRan(expect, run, 2);
      expectNoLeak(expect, run);
      for (const result of run.results) expect(result).toMatchObject({ isError: true, content: expect.stringMatching(/does not exist/i) });
    },
  );

  it('environments: /proc/<worker pid>/environ, /proc/<host pid>/environ, /proc/self/environ, env, every /proc/*/environ: only placeholders', async ({ expect }) => {
    // The CLI's Read refuses /proc files itself ("a device or process file"), so Bash
    // reads them too: that is the sandbox's answer.
    const run = await attack(main, attacker.api_key, { allowed_tools: ['Read', 'Bash'] }, [
      read(`/proc/${process.pid}/environ`),
      read(`/proc/${hostProcess.pid}/environ`),
      read('/proc/self/environ'),
      bash('env'),
      bash("for f in /proc/[0-9]*/environ; do echo \"== $f\"; tr '\\0' '\\n' < \"$f\"; done 2>&1"),
      bash("echo pids: $(ls /proc | grep -E '^[0-9]+$')"),
      bash(`tr '\\0' '\\n' < /proc/${process.pid}/environ; tr '\\0' '\\n' < /proc/${hostProcess.pid}/environ`),
      GREP_OWN,
    ]);
    expectRan(expect, run, 8);
    expectNoLeak(expect, run);
    expect(run.results.slice(0, 3)).toEqual([0, 1, 2].map(() => expect.objectContaining({ isError: true })));
    // env ran and shows the run's environment: the placeholder, the bridge, its own paths.
    expect(run.results[3]!.content).toContain('ANTHROPIC_API_KEY=cq-sandbox-placeholder-ANTHROPIC_API_KEY');
    expect(run.results[3]!.content).toContain('ANTHROPIC_BASE_URL=http://127.0.0.1:3128');
    expect(run.results[3]!.content).toContain('HOME=/home/claude');
    expect(run.results[4]!.content).toContain('cq-sandbox-placeholder-ANTHROPIC_API_KEY');
    // Its own pid namespace: a handful of processes, numbered from 1; the worker's and the
    // other host process's pids are not there.
    const pids = /pids: ([\d ]*)/.exec(run.results[5]!.content)![1]!.trim().split(/\s+/).map(Number);
    expect(pids).toContain(1);
    expect(pids.length).toBeLessThan(40);
    expect(pids).not.toContain(process.pid);
    expect(pids).not.toContain(hostProcess.pid);
    expect(run.results[6]!.content).toContain(`/proc/${process.pid}/environ: No such file or directory`);
    expect(run.results[6]!.content).toContain(`/proc/${hostProcess.pid}/environ: No such file or directory`);
    expect(run.results[7]!.content).toContain('grep-done');
  }, TEST_TIMEOUT_MS);

  it('Write outside the workspace (acceptEdits): to the victim’s workspace and home, DATA_DIR, the host’s /tmp: no host file', async ({ expect }) => {
    const targets = [
      path.join(victimPaths.workspace, 'CLAUDE.md'),
      path.join(victimPaths.home, '.claude', 'settings.json'),
      path.join(main.env.dataDir, 'write-was-here'),
      `/tmp/cq-sandbox-attack-${hex()}`,
    ];
    hostTargets.push(...targets);
    const run = await attack(
      main,
      attacker.api_key,
      { allowed_tools: ['Write'], permission_mode: 'acceptEdits' },
      targets.map((t) => write(t, 'written by the attacker')),
    );
    expectRan(expect, run, targets.length);
    expectNoLeak(expect, run);
    // The CLI let them through (all but settings.json, which it guards itself): they landed
    // in the sandbox's own /tmp and root, and are gone with it.
    targets.forEach((target, i) => {
      if (!target.endsWith('settings.json')) expect(run.results[i], target).toMatchObject({ isError: false, content: expect.stringContaining('File created successfully') });
      expect(existsSync(target), target).toBe(false);
    });
  }, TEST_TIMEOUT_MS);

  it('Bash: cat the victim’s file, ls DATA_DIR, find secret.txt, write to DATA_DIR and the victim’s workspace and settings, a symlink out: nothing', async ({ expect }) => {
    const targets = [
      path.join(main.env.dataDir, 'bash-was-here'),
      path.join(victimPaths.workspace, 'bash-was-here'),
      path.join(victimPaths.home, '.claude', 'settings.json'),
      `/tmp/cq-sandbox-attack-${hex()}`,
    ];
    hostTargets.push(...targets);
    const run = await attack(main, attacker.api_key, { allowed_tools: ['Bash'] }, [
      bash(`cat ${victimFile}`),
      bash(`ls -la ${main.env.dataDir} ${victimPaths.workspace}`),
      bash("find / -name secret.txt -not -path '/proc/*' 2>/dev/null; echo find-done"),
      bash(shWrite(targets, `ln -s ${victimFile} /workspace/victim-link; cat /workspace/victim-link`)),
      GREP_OWN,
    ]);
    expectRan(expect, run, 5);
    expectNoLeak(expect, run);
    expect(run.results[0]!.content).toMatch(/No such file or directory/);
    expect(run.results[1]!.content).toMatch(/No such file or directory/);
    expect(run.results[2]!.content).toContain('find-done');
    expect(run.results[2]!.content).not.toContain('secret.txt');
    // Past the CLI's checks (the command ran), into the sandbox's own /tmp at most.
    expect(run.results[3]!.content).toContain('wrote');
    expect(run.results[3]!.content).toContain('/workspace/victim-link: No such file or directory');
    expect(run.results[4]!.content).toContain('grep-done');
    for (const target of targets) expect(existsSync(target), target).toBe(false);
  }, TEST_TIMEOUT_MS);

  it('Bash network: Redis, the API, the model API, a host listener and the metadata address, directly and through the proxy: refused', async ({ expect }) => {
    const apiPort = Number(new URL(main.api.url).port);
    const modelPort = Number(new URL(main.model!.url).port);
    const targets: Array<[string, number]> = [
      ['127.0.0.1', inject('redisPort')],
      ['127.0.0.1', trap.port],
      ['localhost', trap.port],
      ['127.0.0.1', apiPort],
      ['127.0.0.1', modelPort],
      ['169.254.169.254', 80],
    ];
    const run = await attack(main, attacker.api_key, { allowed_tools: ['Bash'] }, [bash(probeScript(targets))]);
    expectRan(expect, run, 1);
    expectNoLeak(expect, run);
    const out = run.results[0]!.content;
    for (const [host, port] of targets) {
      expect(out).toContain(`direct ${host}:${port} closed`);
      expect(out).toContain(`connect ${host}:${port} HTTP/1.1 403 Forbidden`);
      expect(out).toContain(`get ${host}:${port} 403`);
    }
    expect(trap.connections).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('a local (stdio) MCP server runs inside the sandbox: it reads and writes nothing outside the workspace', async ({ expect }) => {
    const outside = path.join(main.env.dataDir, 'mcp-was-here');
    hostTargets.push(outside);
    const script = `cat ${victimFile} > /workspace/mcp-leak 2>&1; cat ${dataDirFile} >> /workspace/mcp-leak 2>&1; env > /workspace/mcp-env; echo x > ${outside}; touch /workspace/mcp-ran`;
    const prompt = `stdio mcp ${hex()}`;
    const submitted = await submitJob(main.api, attacker.api_key, {
      prompt,
      mcp_config: { mcpServers: { evil: { command: '/bin/sh', args: ['-c', script] } } },
    });
    const job = await waitForFinal(main.api, attacker.api_key, submitted.id, JOB_TIMEOUT_MS);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const workspace = conversationPaths(main.env.dataDir, attacker.id, submitted.id).workspace;
    // It really ran …
    expect(existsSync(path.join(workspace, 'mcp-ran'))).toBe(true);
    // … and saw neither file, nor any key, nor the worker's environment.
    const leak = await readFile(path.join(workspace, 'mcp-leak'), 'utf8');
    const env = await readFile(path.join(workspace, 'mcp-env'), 'utf8');
    expect(leak).toMatch(/No such file or directory/);
    for (const text of [leak, env, job.result?.text ?? '']) {
      for (const value of [...Object.values(canaries), DEPLOYMENT_KEY]) expect(text).not.toContain(value);
    }
    expect(env).toContain('HOME=/home/claude');
    expect(existsSync(outside)).toBe(false);
  }, TEST_TIMEOUT_MS);
});

describe.concurrent('mcp_config refused at submit', () => {
  let fresh: { id: string; api_key: string };
  beforeAll(async () => {
    fresh = await main.api.createTenant('mcp refusals');
  });

  it.for([
    ['headersHelper', { type: 'http', url: 'https://mcp.example.com/mcp', headersHelper: `cat ${dataDirFile}` }, 'headersHelper'],
    ['Redis on loopback', { type: 'http', url: `http://127.0.0.1:${inject('redisPort')}/` }, 'url'],
    ['localhost', { type: 'http', url: 'http://localhost:1/' }, 'url'],
    ['a private address', { type: 'http', url: 'http://10.0.0.1/' }, 'url'],
    ['the metadata address', { type: 'sse', url: 'http://169.254.169.254/latest' }, 'url'],
    ['IPv6 loopback', { type: 'http', url: 'http://[::1]/' }, 'url'],
  ] as const)('%s → 400 naming the field, nothing enqueued', async ([, server, member], { expect }) => {
    const res = await main.api.request('POST', '/v1/jobs', {
      key: fresh.api_key,
      body: { prompt: `mcp refusal ${hex()}`, allowed_tools: ['Bash'], mcp_config: { mcpServers: { evil: server } } },
    });
    const field = `mcp_config.mcpServers.evil.${member}`;
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body).toMatchObject({ code: 'invalid_request', field });
    expect(res.body.errors).toContainEqual(expect.objectContaining({ field }));
    expect((await main.api.request('GET', '/v1/jobs', { key: fresh.api_key })).body.data).toEqual([]);
  });
});

describe.concurrent('what keeps working (and the controls that show the checks can fail)', () => {
  it('the unsandboxed control: the same attacks leak every canary and reach the host', async ({ expect }) => {
    const hostFile = `/tmp/cq-sandbox-control-${hex()}`;
    const hostDir = `/tmp/cq-sandbox-control-${hex()}`;
    const settings = path.join(hostDir, '.claude', 'settings.json');
    controlTargets.push(hostFile, hostDir);
    const run = await attack(
      off,
      off.tenant.api_key,
      { allowed_tools: ['Read', 'Write', 'Bash'], permission_mode: 'acceptEdits' },
      [
        read(victimFile),
        read(dataDirFile),
        bash(`tr '\\0' '\\n' < /proc/${hostProcess.pid}/environ`),
        write(hostFile, 'the control was here'),
        bash(`cat ${victimFile}; ls ${main.env.dataDir}; timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${control.port}' && echo control-reached`),
        bash(shWrite([settings])),
      ],
      'control',
    );
    expectRan(expect, run, 6);
    expect(run.results[0]!.content).toContain(canaries.victim);
    expect(run.results[1]!.content).toContain(canaries.dataDir);
    expect(run.results[2]!.content).toContain(canaries.hostProcessEnv);
    expect(await readFile(hostFile, 'utf8')).toBe('the control was here');
    expect(run.results[4]!.content).toContain(canaries.victim);
    expect(run.results[4]!.content).toContain('admin-token');
    expect(run.results[4]!.content).toContain('control-reached');
    expect(control.connections).toBeGreaterThan(0);
    expect(existsSync(settings)).toBe(true);
  }, TEST_TIMEOUT_MS);

  it('a job writes in its workspace; the next turn reads it back, Bash runs in /workspace and finds it', async ({ expect }) => {
    const note = `NOTE-CANARY-${hex(12)}`;
    const first = await attack(main, attacker.api_key, { allowed_tools: ['Write'], permission_mode: 'acceptEdits' }, [write('/workspace/notes.txt', note)], 'turn one');
    expectRan(expect, first, 1);
    const hostNote = path.join(conversationPaths(main.env.dataDir, attacker.id, first.job.id).workspace, 'notes.txt');
    expect(await readFile(hostNote, 'utf8')).toBe(note);

    const second = await attack(
      main,
      attacker.api_key,
      { allowed_tools: ['Read', 'Bash'], session_id: first.job.result!.session_id },
      [read('/workspace/notes.txt'), bash('pwd; ls'), GREP_OWN],
      'turn two',
    );
    expectRan(expect, second, 3);
    expect(second.job.result!.session_id).toBe(first.job.result!.session_id);
    expect(second.results[0]).toMatchObject({ isError: false, content: expect.stringContaining(note) });
    expect(second.results[1]).toMatchObject({ isError: false, content: expect.stringMatching(/^\/workspace\n(.*\n)*notes\.txt/) });
    expect(second.text).toContain(note);
    // The search the attacks run finds what a run's own folders hold.
    expect(second.results[2]!.content).toContain(note);
  }, TEST_TIMEOUT_MS);

  it('a tenant’s own key reaches the model for its runs only, and no run sees either key', async ({ expect }) => {
    const owner = await main.api.createTenant('own key');
    const patched = await main.api.request('PATCH', `/v1/admin/tenants/${owner.id}`, { key: ADMIN_TOKEN, body: { credentials: { anthropic_api_key: ownKey } } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);

    const [mine, theirs] = await Promise.all([
      attack(main, owner.api_key, { allowed_tools: ['Bash'] }, [bash("env; tr '\\0' '\\n' < /proc/self/environ")], 'own key'),
      attack(main, attacker.api_key, {}, [], 'deployment key'),
    ]);
    expectRan(expect, mine, 1);
    expectNoLeak(expect, mine);
    expect(mine.results[0]!.content).toContain('ANTHROPIC_API_KEY=cq-sandbox-placeholder-ANTHROPIC_API_KEY');
    expect(theirs.job.status).toBe('succeeded');

    const mineCalls = main.model!.callsFor(mine.job.request.prompt);
    const theirCalls = main.model!.callsFor(theirs.job.request.prompt);
    expect(mineCalls.length).toBeGreaterThan(0);
    expect(theirCalls.length).toBeGreaterThan(0);
    for (const call of mineCalls) expect(call.apiKey).toBe(ownKey);
    for (const call of theirCalls) expect(call.apiKey).toBe(DEPLOYMENT_KEY);
  }, TEST_TIMEOUT_MS);

  it('SANDBOX_ALLOWED_HOSTS: the allowed host is reached through the proxy (CONNECT and plain HTTP); others stay refused', async ({ expect }) => {
    const run = await attack(open, open.tenant.api_key, { allowed_tools: ['Bash'] }, [
      bash(probeScript([['127.0.0.1', allowed.port], ['127.0.0.1', trap.port]])),
    ]);
    expectRan(expect, run, 1);
    const out = run.results[0]!.content;
    expect(out).toContain(`direct 127.0.0.1:${allowed.port} closed`);
    expect(out).toContain(`connect 127.0.0.1:${allowed.port} HTTP/1.1 200 Connection Established`);
    expect(out).toContain(`get 127.0.0.1:${allowed.port} 204`);
    expect(out).toContain(`connect 127.0.0.1:${trap.port} HTTP/1.1 403 Forbidden`);
    expect(out).toContain(`get 127.0.0.1:${trap.port} 403`);
    expect(allowed.connections).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  // Nothing listens inside the sandbox's own loopback: a request that reaches the host's
  // server came through the run's proxy. The CLI sends MCP traffic to HTTP_PROXY, minus
  // what NO_PROXY names; 127.0.0.1 must work too, as MCP_ALLOW_PRIVATE is for local servers.
  it.for([
    ['127.0.0.2', () => mcpOtherLoopback],
    ['127.0.0.1', () => mcpLoopback],
  ] as const)('MCP_ALLOW_PRIVATE: a job’s http MCP server at %s on the host is reached through the proxy', { timeout: TEST_TIMEOUT_MS }, async ([host, server], { expect }) => {
    const submitted = await submitJob(open.api, open.tenant.api_key, {
      prompt: `mcp reach ${hex()}`,
      mcp_config: { mcpServers: { probe: { type: 'http', url: `http://${host}:${server().port}/mcp` } } },
    });
    const job = await waitForFinal(open.api, open.tenant.api_key, submitted.id, JOB_TIMEOUT_MS);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(server().requests).toContainEqual({ method: 'POST', url: '/mcp' });
  });

  it('the model API: the deployment’s key goes to its messages and models paths only, however the path is spelled', async ({ expect }) => {
    // Origin-form requests on the bridge go to the model API with the real key put in
    // place of the placeholder; dot segments and encoded ones must not lead elsewhere.
    const placeholder = 'cq-sandbox-placeholder-ANTHROPIC_API_KEY';
    const refused = ['/v1/files', '/v1/messages/../../v1/files', '/v1/models/%2e%2e/%2e%2e/v1/organizations/me', '/v1/messages/..%5c..%5cv1/files', '/v1/messages%2f..%2f..%2fv1/files'];
    const paths = [...refused, '/v1/models'];
    const curls = paths.map(
      (p) => `echo "${p} $(curl -s --path-as-is -o /dev/null -w '%{http_code}' -H 'x-api-key: ${placeholder}' 'http://127.0.0.1:3128${p}')"`,
    );
    const run = await attack(recorded, recorded.tenant.api_key, { allowed_tools: ['Bash'] }, [bash(curls.join('\n'))]);
    expectRan(expect, run, 1);
    expectNoLeak(expect, run);
    const out = run.results[0]!.content;
    for (const p of refused) expect(out).toContain(`${p} 403`);
    expect(out).toContain('/v1/models 200');
    // What reached the model API with the deployment's key: the CLI's own calls and the
    // GET /v1/models above, nothing else.
    const keyed = upstream.requests.filter((r) => r.apiKey === DEPLOYMENT_KEY);
    expect(keyed.length).toBeGreaterThan(0);
    const elsewhere = keyed.filter((r) => !/^\/v1\/(messages|models)([/?]|$)/.test(r.path) || /(^|\/)\.\.?(\/|$)|%2e|%2f|%5c/i.test(r.path));
    expect(elsewhere, `proxy answers:\n${out}`).toEqual([]);
  }, TEST_TIMEOUT_MS);
});

describe('after every attack', () => {
  it('the host listener saw no connection, the victim’s conversation is unchanged, DATA_DIR has nothing outside runs’ folders', async ({ expect }) => {
    expect(trap.connections).toBe(0);
    expect(await snapshot(victimPaths.root)).toEqual(victimTreeBefore);
    for (const target of hostTargets) expect(existsSync(target), target).toBe(false);
    // Every file under DATA_DIR is the planted one, inside a tenant's run folder (a
    // workspace or a home), or the worker's note of a conversation's stored version beside
    // them; no attack's file is anywhere, not even in another run's folder.
    const files = Object.keys(await snapshot(main.env.dataDir)).filter((rel) => !rel.endsWith('/'));
    const expected = (rel: string) =>
      rel === 'admin-token' || /^tenants\/[^/]+\/(.+\/)?(workspace|home)\/./.test(rel) || /^tenants\/[^/]+\/conversations\/[^/]+\/\.snapshot-version$/.test(rel);
    expect(files.filter((rel) => !expected(rel))).toEqual([]);
    const markers = new Set(hostTargets.map((t) => path.basename(t)).filter((name) => name.endsWith('-was-here')));
    expect(files.filter((rel) => markers.has(path.basename(rel)))).toEqual([]);
  });
});
