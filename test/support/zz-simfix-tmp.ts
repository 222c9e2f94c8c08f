// @ts-nocheck  TEMPORARY (validation only, removed after): simulates fixes of the pool in-process.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { StreamProcess } from '../../apps/worker/src/pool/streamProcess.js';
import { WarmPool } from '../../apps/worker/src/pool/warmPool.js';
const FIX = (process.env.SIMFIX ?? '').split(',');
if (FIX.includes('stub')) {
  const orig = StreamProcess.prototype.reset;
  StreamProcess.prototype.reset = async function (t) {
    const r = await orig.call(this, t);
    if (r) {
      const dir = path.join(path.dirname(this.command.cwd), 'home', '.claude', 'projects', '-workspace');
      for (const f of await readdir(dir).catch(() => [])) if (f !== `${r}.jsonl` && f.endsWith('.jsonl')) await rm(path.join(dir, f));
    }
    return r;
  };
}
if (FIX.includes('replenish')) {
  const orig = WarmPool.prototype.replenish;
  WarmPool.prototype.replenish = async function () {
    await new Promise((r) => setTimeout(r, 500));
    return orig.call(this);
  };
}
if (FIX.includes('log')) {
  const origTurn = StreamProcess.prototype.turn;
  StreamProcess.prototype.turn = async function (o) {
    const base = this.costBase;
    const origLine = this.onLine;
    const out = await origTurn.call(this, o);
    console.log('TURN pid', this.pid, 'prompt', o.prompt, 'base', base, 'own', out.result?.total_cost_usd, 'newbase', this.costBase, 'jobs', this.jobs);
    return out;
  };
  const origReset = StreamProcess.prototype.reset;
  StreamProcess.prototype.reset = async function (t) {
    const r = await origReset.call(this, t);
    console.log('RESET pid', this.pid, '->', r, 'base', this.costBase);
    return r;
  };
  const origOnLine = StreamProcess.prototype.onLine;
  StreamProcess.prototype.onLine = function (line) {
    if (line.includes('"type":"result"')) console.log('RESULT LINE pid', this.pid, line.slice(0, 400));
    return origOnLine.call(this, line);
  };
}
