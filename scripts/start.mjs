#!/usr/bin/env node
// `npm start`: the quick start. Runs Redis (an existing one, or a private one),
// the API and one worker, prints how to use them, and stops it all on Ctrl-C.
// Plain Node ESM: builtins, and the service's own config module once it is built.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DATA_DIR = process.env.DATA_DIR ? path.resolve(process.env.DATA_DIR) : path.join(ROOT, 'data');
const HOST = process.env.HOST || '127.0.0.1';
const PORT = process.env.PORT || '3000';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => console.log(`[start] ${msg}`);

/** True if a Redis answers PING on host:port within 500 ms (a raw socket: no client library needed). */
function pingRedis(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const sock = net.createConnection({ host, port });
    let buf = '';
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => { buf += d; if (buf.includes('\r\n')) done(buf.startsWith('+PONG')); });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}

/** A port nobody listens on right now: the OS picks one for port 0. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

function onPath(bin) {
  for (const dir of (process.env.PATH || '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, bin);
    try { fs.accessSync(file, fs.constants.X_OK); return file; } catch { /* next */ }
  }
  return null;
}

const children = []; // { name, proc, alive, exited }
let stopping = false;

function spawnChild(name, cmd, args, opts) {
  // detached: own process group, so a terminal Ctrl-C reaches only us and we stop
  // the children in order (API and worker first, Redis after they have let go of it).
  const proc = spawn(cmd, args, { cwd: ROOT, detached: true, ...opts });
  const child = { name, proc, alive: true };
  // 'error' without 'exit' happens when the spawn itself fails; either way it is gone.
  child.exited = new Promise((resolve) => {
    const gone = (why) => {
      if (!child.alive) return;
      child.alive = false;
      resolve();
      if (stopping) return;
      log(`${name} ${why}; stopping everything`);
      shutdown(1);
    };
    proc.once('error', (err) => gone(`could not start: ${err.message}`));
    proc.once('exit', (code, signal) => gone(`exited unexpectedly (${signal ?? `code ${code}`})`));
  });
  children.push(child);
  return child;
}

/**
 * SIGTERM, then SIGKILL only if it is still there after `deadlineMs`: the time the
 * process itself promises to be gone by (its grace, then closing), plus a moment to exit.
 */
async function stopChild({ name, proc, alive, exited }, deadlineMs) {
  if (!alive) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    log(`${name} did not stop within ${deadlineMs / 1000} s of SIGTERM; killing it (SIGKILL)`);
    proc.kill('SIGKILL');
  }, deadlineMs);
  await exited;
  clearTimeout(timer);
}

/** What a stopping process may take beyond its own deadline to actually exit. */
const EXIT_MARGIN_MS = 2_000;
/** Redis writes its AOF and exits on SIGTERM; this is plenty for the quick start's data. */
const REDIS_STOP_MS = 10_000;
/** Per child, from SIGTERM to SIGKILL: set from the children's own config once it is read. */
const stopDeadlines = {};

async function shutdown(code) {
  if (stopping) return; // a second Ctrl-C (or npm forwarding the first) must not restart this
  stopping = true;
  log('stopping...');
  const redis = children.find((c) => c.name === 'redis');
  // The API and the worker first, while Redis is still up: the worker finishes or hands
  // back its jobs within its SHUTDOWN_GRACE_MS, then closes (shared/src/shutdown.ts).
  await Promise.all(children.filter((c) => c !== redis).map((c) => stopChild(c, stopDeadlines[c.name])));
  if (redis) await stopChild(redis, REDIS_STOP_MS);
  process.exit(code);
}

// Safety net if we die some other way (an exception): never leave a private Redis behind.
process.on('exit', () => { for (const c of children) if (c.alive) c.proc.kill('SIGTERM'); });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => shutdown(0));

async function resolveRedis() {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  if (await pingRedis(6379)) {
    log('using the Redis on 127.0.0.1:6379');
    return 'redis://127.0.0.1:6379';
  }
  const bin = onPath('redis-server');
  if (!bin) {
    console.error(`No Redis answers on 127.0.0.1:6379 and there is no redis-server on PATH. Either:
  Debian/Ubuntu:  sudo apt-get install redis-server
  macOS:          brew install redis
  or point at an existing Redis:  REDIS_URL=redis://host:6379 npm start`);
    process.exit(1);
  }
  const port = await freePort();
  const dir = path.join(DATA_DIR, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  log(`starting a private redis-server on 127.0.0.1:${port} (data and redis.log in ${dir})`);
  // AOF with fsync every second and no eviction: queue state must survive a restart
  // and must never be dropped to make room.
  const redis = spawnChild('redis', bin, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction',
    // Every job has an event stream: small nodes, or each preallocates 4 KB (README, Operations).
    '--stream-node-max-bytes', '512',
    '--logfile', path.join(dir, 'redis.log'),
  ], { stdio: 'ignore' });
  for (const deadline = Date.now() + 10_000; !(await pingRedis(port)); await sleep(100)) {
    if (!redis.alive || Date.now() > deadline) {
      log(`the private redis-server did not come up; see ${path.join(dir, 'redis.log')}`);
      return shutdown(1);
    }
  }
  return `redis://127.0.0.1:${port}`;
}

/**
 * Every CLI run goes into a bubblewrap sandbox with a socat bridge (SANDBOX, README
 * "Security model"). Installed with apt-get when missing and this user may (root, or
 * sudo without a password); otherwise say how, and how to try it out unsandboxed.
 */
function ensureSandboxTools() {
  if (process.env.SANDBOX === 'off') return;
  const missing = ['bwrap', 'socat'].filter((bin) => !onPath(bin));
  if (missing.length === 0) return;
  const packages = ['bubblewrap', 'socat'];
  const root = process.getuid?.() === 0;
  const sudo = !root && onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (onPath('apt-get') && (root || sudo)) {
    log(`installing the sandbox's tools with apt-get: ${packages.join(' ')}`);
    const run = (args) => spawnSync(root ? args[0] : 'sudo', root ? args.slice(1) : args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
    if (run(['apt-get', 'update', '-qq']) && run(['apt-get', 'install', '-y', '-qq', ...packages]) && ['bwrap', 'socat'].every((bin) => onPath(bin))) return;
  }
  console.error(`Every job runs in a sandbox, which needs ${missing.join(' and ')} (missing). Either:
  Debian/Ubuntu:  sudo apt-get install bubblewrap socat
  Fedora/RHEL:    sudo dnf install bubblewrap socat
  or, to try it out on your own (single tenant, jobs NOT isolated):  SANDBOX=off npm start`);
  process.exit(1);
}

/** ADMIN_TOKEN from the env, else the one saved by an earlier run, else a new one saved for the next. */
function resolveAdminToken() {
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  const file = path.join(DATA_DIR, 'admin-token');
  const saved = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (saved) return saved;
  const token = randomBytes(24).toString('base64url');
  fs.mkdirSync(DATA_DIR, { recursive: true });
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  log(`generated an admin token, saved in ${file}`);
  return token;
}

/** A value as one shell word: as is when it is plainly safe, else single-quoted. */
const shellWord = (value) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/**
 * The variables a `npm run tenants` command needs to reach the Redis and key prefix the
 * service runs with, as `NAME=value` words; defaults are left out. Without them a tenant
 * lands under another prefix, and its key gets 401 from this API.
 */
function tenantsCommand(serviceEnv, args) {
  const defaults = shared.loadSharedConfig({});
  const words = ['REDIS_URL', 'QUEUE_PREFIX']
    .filter((name) => serviceEnv[name] && serviceEnv[name] !== defaults[name])
    .map((name) => `${name}=${shellWord(serviceEnv[name])}`);
  return [...words, 'npm run tenants --', ...args].join(' ');
}

async function waitHealthy(url, deadlineMs) {
  for (const deadline = Date.now() + deadlineMs; Date.now() < deadline; await sleep(250)) {
    try { if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200) return true; } catch { /* not yet */ }
    if (stopping) return false;
  }
  return false;
}

/**
 * The API and the worker run the way this launcher runs: from the build (`npm start`), or,
 * when it was started with `--conditions=source --import tsx` (the tests, development
 * without a build), from the TypeScript sources with the same flags.
 */
const FROM_SOURCE = process.execArgv.includes('--conditions=source');
const entryOf = (app) => (FROM_SOURCE ? `apps/${app}/src/main.ts` : `apps/${app}/dist/main.js`);
for (const app of ['api', 'worker']) {
  if (!fs.existsSync(path.join(ROOT, entryOf(app)))) {
    console.error(`${entryOf(app)} is missing: run \`npm run build\` first (\`npm start\` does).`);
    process.exit(1);
  }
}
// The service's own config module (built, or the sources as above): its defaults and
// rules, not copies of them.
const shared = await import('@claude-queue/shared');

ensureSandboxTools();
const REDIS_URL = await resolveRedis();
const ADMIN_TOKEN = resolveAdminToken();
const env = { ...process.env, REDIS_URL, DATA_DIR, ADMIN_TOKEN };
// The children's own config, read as they will read it: how long each may take to stop
// (and a bad setting is said now, in one line, before anything starts).
try {
  stopDeadlines.api = shared.stopDeadlineMs(shared.loadApiConfig(env)) + EXIT_MARGIN_MS;
  stopDeadlines.worker = shared.stopDeadlineMs(shared.loadWorkerConfig(env)) + EXIT_MARGIN_MS;
} catch (err) {
  if (!(err instanceof shared.ConfigError)) throw err;
  console.error(`start: ${err.message}`);
  await shutdown(1);
}
spawnChild('api', process.execPath, [...process.execArgv, entryOf('api')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
spawnChild('worker', process.execPath, [...process.execArgv, entryOf('worker')], { env, stdio: ['ignore', 'inherit', 'inherit'] });

// A wildcard bind address is not something to connect to; loopback reaches it.
const host = ['0.0.0.0', '::', '[::]'].includes(HOST) ? '127.0.0.1' : HOST.includes(':') ? `[${HOST}]` : HOST;
const BASE = `http://${host}:${PORT}`;
if (!(await waitHealthy(`${BASE}/healthz`, 20_000))) {
  if (!stopping) { log(`${BASE}/healthz did not answer 200 within 20 s`); await shutdown(1); }
} else {
  const json = (field) => `node -pe 'JSON.parse(require("fs").readFileSync(0)).${field}'`;
  console.log(`
  claude-queue is running at ${BASE}   (Redis: ${REDIS_URL}, data: ${DATA_DIR})
  Admin token: ${ADMIN_TOKEN}
  API docs:    ${BASE}/docs
  Queue board: ${env.BOARD_USERS ? `${BASE}/admin/queues   (the logins of BOARD_USERS)` : 'off (BOARD_USERS=admin:<12+ characters>:rw npm start turns it on)'}

  # create a tenant and keep its API key
  API_KEY=$(curl -sf -X POST ${BASE}/v1/admin/tenants -H 'Authorization: Bearer ${ADMIN_TOKEN}' \\
    -H 'Content-Type: application/json' -d '{"name":"demo"}' | ${json('api_key')})
  # (or, from this repo, which prints the key:)
  ${tenantsCommand(env, ['create', 'demo'])}

  # submit a job
  JOB_ID=$(curl -sf -X POST ${BASE}/v1/jobs -H "Authorization: Bearer $API_KEY" \\
    -H 'Content-Type: application/json' -d '{"prompt":"Say hello in five words."}' | ${json('id')})

  # poll it until status is succeeded or failed
  curl -s ${BASE}/v1/jobs/$JOB_ID -H "Authorization: Bearer $API_KEY"
`);
  if (!process.env.ANTHROPIC_API_KEY && !process.env.CLAUDE_CODE_OAUTH_TOKEN) {
    console.log(`  Note: neither ANTHROPIC_API_KEY nor CLAUDE_CODE_OAUTH_TOKEN is set, so jobs will fail with
  auth_failed (a sandboxed run never sees your own CLI login). Set one and restart, e.g.
    ANTHROPIC_API_KEY=sk-ant-... npm start     (a subscription token comes from \`claude setup-token\`)
`);
  }
  console.log(`  Ctrl-C (or kill -TERM ${process.pid}) stops everything.\n`);
}
