/**
 * Lua scripts, registered once per connection and called by name.
 *
 * A script declares the names of its keys and arguments; the `local`s that bind them
 * (`local record = KEYS[1]`, `local job_id = ARGV[1]`) are written from those names at
 * the top of its body, and callers pass objects keyed by the same names. Nothing
 * addresses `KEYS[6]` or `ARGV[9]` by position, and a renamed key can't go stale in a
 * comment.
 *
 * Registration is ioredis's `defineCommand`: calls send `EVALSHA` and only the first
 * call after Redis lost its script cache (a restart) sends the text again.
 */
import type { Redis } from 'ioredis';

export type ScriptValue = string | number;

export interface LuaScript<K extends string, A extends string> {
  /** The command name the script is registered under (unique per connection). */
  readonly name: string;
  readonly keys: readonly K[];
  readonly args: readonly A[];
  /** The body with its `local` bindings: what Redis runs. */
  readonly lua: string;
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
  return { name: `cq_${name}`, keys: spec.keys, args: spec.args, lua: `${spec.lib ?? ''}\n${bindings}\n${spec.body}` };
}

const defined = new WeakMap<Redis, Set<string>>();

function argv<K extends string, A extends string>(
  script: LuaScript<K, A>,
  keys: Record<K, string>,
  args: Record<A, ScriptValue>,
  rest: readonly ScriptValue[],
): ScriptValue[] {
  return [...script.keys.map((k) => keys[k]), ...script.args.map((a) => args[a]), ...rest];
}

function define(redis: Redis, script: LuaScript<string, string>): void {
  let names = defined.get(redis);
  if (!names) defined.set(redis, (names = new Set()));
  if (names.has(script.name)) return;
  redis.defineCommand(script.name, { numberOfKeys: script.keys.length, lua: script.lua });
  names.add(script.name);
}

/** Runs a script on a connection: by its SHA once Redis has it. */
export async function runScript<K extends string, A extends string, R = unknown>(
  redis: Redis,
  script: LuaScript<K, A>,
  keys: Record<K, string>,
  args: Record<A, ScriptValue>,
  rest: readonly ScriptValue[] = [],
): Promise<R> {
  define(redis, script as LuaScript<string, string>);
  const command = (redis as unknown as Record<string, (...a: ScriptValue[]) => Promise<R>>)[script.name]!;
  return command.apply(redis, argv(script, keys, args, rest));
}
