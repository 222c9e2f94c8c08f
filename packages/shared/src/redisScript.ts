/**
 * Lua scripts, registered once per connection and called by name.
 *
 * A script declares the names of its keys and arguments; the `local`s that bind them
 * (`local record = KEYS[1]`, `local job_id = ARGV[1]`) are written from those names at
 * the top of its body, and callers pass objects keyed by the same names. Nothing
 * addresses `KEYS[6]` or `ARGV[9]` by position, and a renamed key can't go stale in a
 * comment.
 *
 * Calls send `EVALSHA` with the script's SHA-1; only when Redis answers NOSCRIPT (its
 * first call on a Redis, or after a restart emptied the script cache) is the text sent,
 * once, with SCRIPT LOAD. (ioredis's `defineCommand` does the same with more work per
 * call: measured in bench/dispatch.ts.)
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type ScriptValue = string | number;

export interface LuaScript<K extends string, A extends string> {
  /** The command name the script is registered under (unique per connection). */
  readonly name: string;
  readonly keys: readonly K[];
  readonly args: readonly A[];
  /** The body with its `local` bindings: what Redis runs. */
  readonly lua: string;
  /** The SHA-1 of `lua`: what EVALSHA names it by. */
  readonly sha: string;
}

export interface LuaScriptSpec<K extends string, A extends string> {
  keys: readonly K[];
  args: readonly A[];
  /** Lua using the keys' and arguments' names; `ARGV[rest_start]…` hold the `rest` values of a call. */
  body: string;
  /** Lua defined before the bindings (shared functions). */
  lib?: string;
}

const LUA_NAME = /^[a-z_][a-z0-9_]*$/;

export function luaScript<const K extends string, const A extends string>(name: string, spec: LuaScriptSpec<K, A>): LuaScript<K, A> {
  for (const n of [...spec.keys, ...spec.args]) {
    if (!LUA_NAME.test(n)) throw new Error(`script ${name}: "${n}" is not a Lua local name`);
  }
  const bindings = [
    ...spec.keys.map((k, i) => `local ${k} = KEYS[${i + 1}]`),
    ...spec.args.map((a, i) => `local ${a} = ARGV[${i + 1}]`),
    // Where a call's `rest` values begin (field/value pairs, say).
    `local rest_start = ${spec.args.length + 1}`,
  ].join('\n');
  const lua = `${spec.lib ?? ''}\n${bindings}\n${spec.body}`;
  return { name, keys: spec.keys, args: spec.args, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

function argv<K extends string, A extends string>(
  script: LuaScript<K, A>,
  keys: Record<K, string>,
  args: Record<A, ScriptValue>,
  rest: readonly ScriptValue[],
): ScriptValue[] {
  const out: ScriptValue[] = [];
  for (const k of script.keys) out.push(keys[k]);
  for (const a of script.args) out.push(args[a]);
  for (const v of rest) out.push(v);
  return out;
}

/** Runs a script on a connection, by its SHA; its text goes to Redis only when Redis doesn't have it. */
export function runScript<K extends string, A extends string, R = unknown>(
  redis: Redis,
  script: LuaScript<K, A>,
  keys: Record<K, string>,
  args: Record<A, ScriptValue>,
  rest: readonly ScriptValue[] = [],
): Promise<R> {
  // One array, not spread into a call: a batch's script takes hundreds of thousands of values.
  const command = [script.sha, script.keys.length, ...argv(script, keys, args, rest)];
  const call = () => redis.call('evalsha', command) as Promise<R>;
  return call().catch(async (err: unknown) => {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    await redis.script('LOAD', script.lua);
    return call();
  });
}
