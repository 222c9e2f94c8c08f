/**
 * The Node versions the project supports, told the same everywhere: every package's
 * `engines` agrees with the root's, and the CLI the worker runs is the native
 * executable, so the CLI package's own `engines` (its install script) does not bind the
 * service (README, Quick start: Node).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { resolveClaudeBin } from '../src/createWorker.js';

const ROOT = new URL('../../../', import.meta.url);
const readJson = (path: string) => JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as { engines?: { node?: string }; workspaces?: string[] };
const WORKSPACES = ['apps/api', 'apps/worker', 'packages/shared', 'packages/client'];

it('every workspace package declares the Node range the root declares', () => {
  const range = readJson('package.json').engines?.node;
  expect(range).toBe('>=20.11');
  for (const ws of WORKSPACES) expect({ ws, node: readJson(`${ws}/package.json`).engines?.node }).toEqual({ ws, node: range });
  // The lock file is what `npm ci` reads: it says the same.
  const lock = JSON.parse(readFileSync(new URL('package-lock.json', ROOT), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };
  for (const ws of WORKSPACES) expect({ ws, node: lock.packages[ws]?.engines?.node }).toEqual({ ws, node: range });
});

it('runs the CLI as a native executable, not through Node, so the CLI package asking for a newer Node does not bind it', () => {
  // The first 4 bytes only: the executable is 400 MB.
  const head = Buffer.alloc(4);
  const fd = openSync(resolveClaudeBin(undefined), 'r');
  readSync(fd, head, 0, 4, 0);
  closeSync(fd);
  expect(head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])), `starts with ${JSON.stringify(head.toString('latin1'))}`).toBe(true);
  const cliEngines = (createRequire(import.meta.url)('@anthropic-ai/claude-code/package.json') as { engines?: { node?: string } }).engines?.node;
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  // What the README says about the npm install warning must match the installed CLI.
  if (cliEngines && cliEngines !== '>=20.11') {
    expect(readme).toContain('EBADENGINE');
    expect(readme).toContain(`Node ≥ ${cliEngines.replace(/^>=(\d+)\.0\.0$/, '$1')}`);
  }
  expect(readme).toContain('"engines": {"node": ">=20.11"}');
});
