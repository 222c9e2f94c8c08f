/**
 * The body of `POST /v1/jobs`, validated before anything is enqueued. Every field
 * maps to one CLI flag in the worker (apps/worker/src/cli/buildArgs.ts).
 */
import { z } from 'zod';
import { PERMISSION_MODES, type PermissionMode } from './config.js';
import { JOB_SERVICE_EVENT_TYPES } from './jobEvents.js';
import { blockedAddressReason, ipLiteralOf, publicOnlyRule } from './net/ssrf.js';

export interface JobRequestLimits {
  maxPromptBytes: number;
  timeoutMaxMs: number;
  allowedPermissionModes: readonly PermissionMode[];
  /** Tools no request may allow (DENIED_TOOLS); the worker disallows them on every run. */
  deniedTools?: readonly string[];
  /** Whether `mcp_config` may start local (stdio) servers: commands in the job's sandbox (MCP_ALLOW_STDIO). */
  allowStdioMcp?: boolean;
  /** Whether remote MCP servers may be on non-public addresses (MCP_ALLOW_PRIVATE). */
  allowPrivateMcp?: boolean;
}

/*
 * Rules are patterns where a pattern can say them: zod checks the pattern and renders it
 * into the OpenAPI document, so the server and a validating client apply the same rule.
 * What JSON Schema can't say (bytes, sizes as JSON) is a refine with a `.meta` beside it.
 */

/** No NUL: an argv entry can't hold one, and the spawn would fail on every attempt. */
const noNul = [/^[^\u0000]*$/, 'must not contain a NUL character'] as const;

/** Values that become argv entries must not look like flags to the CLI's parser (the empty string has its own error). */
const notAFlag = [/^([^-]|$)/, 'must not start with "-"'] as const;

const argValue = (max: number) => z.string().min(1).max(max).regex(...notAFlag).regex(...noNul);

/** At least one character that is not whitespace (what `trim()` removes: the same set as `\s`). */
export const NOT_BLANK = /\S/;

/**
 * An http(s) URL, as the WHATWG parser reads it (zod trims it first; `http:host` is
 * valid): the pattern states the protocol rule for JSON Schema, whose `format: uri` can't.
 */
export const httpUrl = () =>
  z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .max(2048)
    .meta({ pattern: '^\\s*[Hh][Tt][Tt][Pp][Ss]?:' });

/** Deepest nesting a request body may have: deeper JSON is refused before anything walks it recursively. */
export const MAX_JSON_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `max` (iterative: no stack to overflow). */
export function jsonDepthExceeds(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const jsonBytes = (value: unknown) => utf8Bytes(JSON.stringify(value));

/**
 * A string of at most `max` bytes of UTF-8. JSON Schema counts characters, never bytes:
 * every character is at least one byte, so `maxLength: max` holds for every valid value
 * (but passes some the server refuses), and the `x-max-bytes` extension states the rule.
 */
export const maxUtf8Bytes = <T extends z.ZodType<string>>(schema: T, max: number, message: string) =>
  schema.refine((s) => utf8Bytes(s) <= max, { message }).meta({ maxLength: max, 'x-max-bytes': max });

/** A value whose JSON (compact, UTF-8) is at most `max` bytes: JSON Schema can't say it, the `x-max-json-bytes` extension does. */
export const maxJsonBytes = <T extends z.ZodType>(schema: T, max: number, message: string) =>
  schema.refine((v) => jsonBytes(v) <= max, { message }).meta({ 'x-max-json-bytes': max });

export const METADATA_MAX_BYTES = 4096;

/**
 * `json_schema` and `mcp_config`: at most this much as JSON (UTF-8). Each goes to the CLI
 * as one argument (`--json-schema=…`), so it must stay under MAX_ARG_STRLEN (below).
 */
export const JSON_OPTION_MAX_BYTES = 64 * 1024;

/**
 * `system_prompt` and `append_system_prompt`, each, in UTF-8 bytes. Each is one argv entry
 * (`--system-prompt=…`), and Linux refuses an entry over 128 KiB (MAX_ARG_STRLEN: 32
 * pages) with E2BIG, failing every attempt's spawn. A limit in UTF-16 units (what
 * `.max()` counts) lets 64 K three-byte characters through as 192 KiB; bytes can't.
 */
export const SYSTEM_PROMPT_MAX_BYTES = 64 * 1024;

/**
 * Entries of `allowed_tools` and `disallowed_tools`, and each one's length. A rule is a
 * tool's name (`Read`, `mcp__server`, `mcp__server__tool`) or one with a pattern
 * (`Bash(git diff:*)`): a few dozen characters. Each entry is an argv entry of its own.
 */
export const TOOL_RULES_MAX = 100;
export const TOOL_RULE_MAX_CHARS = 256;

/** A system prompt: bounded in bytes (SYSTEM_PROMPT_MAX_BYTES). */
const systemPromptSchema = maxUtf8Bytes(
  z.string().min(1).regex(...noNul),
  SYSTEM_PROMPT_MAX_BYTES,
  `must be at most ${SYSTEM_PROMPT_MAX_BYTES} bytes of UTF-8 (${SYSTEM_PROMPT_MAX_BYTES / 1024} KiB; it is passed to the CLI as one argument)`,
).meta({ description: `At most ${SYSTEM_PROMPT_MAX_BYTES} bytes of UTF-8 (one CLI argument).` });

/** `priority`: among a tenant's waiting jobs, HIGHEST runs first (default: DEFAULT_PRIORITY, scheduler.ts). */
export const HIGHEST_PRIORITY = 1;
export const LOWEST_PRIORITY = 100;

const stringMap = z.record(z.string().max(256), z.string().max(8192).regex(...noNul));

/**
 * MCP server entries are strict: every member the CLI would act on is named here, and
 * anything else is refused. The CLI runs some members as commands before any
 * permission check (an http server's `headersHelper`), so an unknown member is never
 * passed on in the hope that it is harmless.
 */
const REMOTE_MCP_SERVER = z.strictObject({
  type: z.enum(['http', 'sse'], { error: 'must be "http" or "sse" (or "stdio" with a command)' }),
  url: httpUrl(),
  headers: stringMap.optional(),
});
const LOCAL_MCP_SERVER = z.strictObject({
  type: z.literal('stdio').optional(),
  command: z.string().min(1).max(4096).regex(...noNul),
  args: z.array(z.string().max(8192).regex(...noNul)).max(200).optional(),
  env: stringMap.optional(),
});

/** Names `localhost` resolves to by definition (RFC 6761), whatever DNS says. */
const LOCALHOST = /(^|\.)localhost\.?$/i;

/** What the document says an MCP server entry may be: the shapes the check below applies (it picks one by `command`/`type`, for its messages). */
function mcpServerJsonSchema(limits: JobRequestLimits): Record<string, unknown> {
  const render = (schema: z.ZodType) => {
    const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
    return rest;
  };
  return limits.allowStdioMcp ? { anyOf: [render(REMOTE_MCP_SERVER), render(LOCAL_MCP_SERVER)] } : render(REMOTE_MCP_SERVER);
}

function mcpConfigSchema(limits: JobRequestLimits) {
  const config = z.strictObject(
    { mcpServers: z.record(z.string().min(1).max(200), z.record(z.string(), z.unknown()).meta(mcpServerJsonSchema(limits))) },
    { error: 'must be an object of the form {"mcpServers": {...}}' },
  );
  return maxJsonBytes(config, JSON_OPTION_MAX_BYTES, `must be at most ${JSON_OPTION_MAX_BYTES / 1024} KiB`)
    .superRefine((config, ctx) => {
      for (const [name, server] of Object.entries(config.mcpServers)) {
        const at = ['mcpServers', name];
        const local = 'command' in server || server.type === 'stdio';
        if (local && !limits.allowStdioMcp) {
          ctx.addIssue({ code: 'custom', path: at, message: 'local (stdio) MCP servers are not allowed by this deployment: use a remote server ({"type": "http", "url": …})' });
          continue;
        }
        const parsed = (local ? LOCAL_MCP_SERVER : REMOTE_MCP_SERVER).safeParse(server);
        for (const issue of parsed.error?.issues ?? []) {
          // An unknown member is named in the path, not only in the message.
          if (issue.code === 'unrecognized_keys') {
            const allowed = Object.keys((local ? LOCAL_MCP_SERVER : REMOTE_MCP_SERVER).shape).join(', ');
            for (const key of issue.keys) ctx.addIssue({ code: 'custom', path: [...at, key], message: `is not allowed (an MCP server may have: ${allowed})` });
          } else {
            ctx.addIssue({ code: 'custom', path: [...at, ...issue.path.map(String)], message: issue.message });
          }
        }
        if (!local && parsed.success && !limits.allowPrivateMcp) {
          // What is knowable without DNS; the API resolves names (checkPublicUrl) and the
          // sandbox's egress proxy checks the address it connects to.
          const url = new URL((server as { url: string }).url);
          const literal = ipLiteralOf(url);
          const reason = LOCALHOST.test(url.hostname) ? `${url.hostname} is loopback` : literal ? blockedAddressReason(literal) : null;
          if (reason) ctx.addIssue({ code: 'custom', path: [...at, 'url'], message: `${reason}: ${publicOnlyRule('MCP servers')}` });
        }
      }
    });
}

/** jobRequestConflict's rule, as JSON Schema: `fork: true` needs `session_id`. */
const FIELDS_TOGETHER = { if: { properties: { fork: { const: true } }, required: ['fork'] }, then: { required: ['session_id'] } };

/**
 * A tool rule naming one of `tools`, alone or with a pattern: `Bash`, `Bash(git *)`, ` Bash (x)`
 * (the name is what comes before the first `(`, spaces aside). A regex, so the document
 * refuses the same rules (`not: {pattern}`).
 */
export function toolRulePattern(tools: readonly string[]): RegExp {
  const names = tools.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return new RegExp(`^\\s*(?:${names})\\s*(?:\\(|$)`);
}

export function createJobRequestSchema(limits: JobRequestLimits) {
  const denied = limits.deniedTools?.length ? toolRulePattern(limits.deniedTools) : null;
  const allowedTool = argValue(TOOL_RULE_MAX_CHARS);
  return z.strictObject({
    // Sent on stdin, not argv: a NUL is allowed here.
    prompt: maxUtf8Bytes(
      z.string({ error: 'is required and must be a string' }).regex(NOT_BLANK, 'must not be empty'),
      limits.maxPromptBytes,
      `must be at most ${limits.maxPromptBytes} bytes`,
    ),
    model: argValue(200).regex(/^[A-Za-z0-9._:@/[\]-]+$/, 'must be a model name or alias').optional(),
    system_prompt: systemPromptSchema.optional(),
    append_system_prompt: systemPromptSchema.optional(),
    max_turns: z.number().int().min(1).max(1000).optional(),
    max_budget_usd: z.number().positive().max(10_000).optional(),
    allowed_tools: z
      .array(
        denied
          ? allowedTool
              .refine((t) => !denied.test(t), { message: `is not allowed by this deployment (denied: ${limits.deniedTools!.join(', ')})` })
              .meta({ not: { pattern: denied.source } })
          : allowedTool,
      )
      .max(TOOL_RULES_MAX)
      .optional(),
    disallowed_tools: z.array(argValue(TOOL_RULE_MAX_CHARS)).max(TOOL_RULES_MAX).optional(),
    permission_mode: z
      .enum(PERMISSION_MODES)
      .refine((m) => limits.allowedPermissionModes.includes(m), {
        message: `is not allowed by this deployment (allowed: ${limits.allowedPermissionModes.join(', ')})`,
      })
      // The refine is invisible to JSON Schema: the OpenAPI document shows only the allowed modes.
      .meta({ enum: [...limits.allowedPermissionModes] })
      .optional(),
    mcp_config: mcpConfigSchema(limits).optional(),
    json_schema: maxJsonBytes(
      z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }),
      JSON_OPTION_MAX_BYTES,
      `must be at most ${JSON_OPTION_MAX_BYTES / 1024} KiB`,
    ).optional(),
    session_id: z.uuid({ error: 'must be a uuid' }).optional(),
    timeout_ms: z.number().int().min(1000).max(limits.timeoutMaxMs).optional(),
    /** Stream the answer token by token to GET /v1/jobs/{id}/events (`--include-partial-messages`). */
    stream: z.boolean().optional(),
    /** Where to deliver this job's events (apps/worker/src/webhooks); default: the tenant's. */
    webhook_url: httpUrl().optional(),
    /** Which events to deliver (default: the three final ones). */
    webhook_events: z.array(z.enum(JOB_SERVICE_EVENT_TYPES)).min(1).max(JOB_SERVICE_EVENT_TYPES.length).optional(),
    /** Order among this tenant's own waiting jobs: 1 runs first, 100 last (default: 50). Never ahead of another tenant's share. */
    priority: z.number().int().min(HIGHEST_PRIORITY).max(LOWEST_PRIORITY).optional(),
    /** Retry a run that hit `timeout_ms` (default: false: a run that timed out once likely will again). */
    retry_on_timeout: z.boolean().optional(),
    metadata: maxJsonBytes(z.record(z.string(), z.unknown(), { error: 'must be an object' }), METADATA_MAX_BYTES, `must be at most ${METADATA_MAX_BYTES} bytes as JSON`).optional(),
    /** With `session_id`: a new branch of that conversation (`--fork-session`), with a session id of its own; both continue independently. */
    fork: z.boolean().optional(),
  }).meta(FIELDS_TOGETHER);
}

/** What a request's fields must be together (the schema checks each alone; FIELDS_TOGETHER states this for JSON Schema): the error for its field, or null. */
export function jobRequestConflict(request: JobRequest): { field: string; message: string } | null {
  if (request.fork && !request.session_id) return { field: 'fork', message: 'needs session_id: the conversation to branch from' };
  return null;
}

export type JobRequest = z.infer<ReturnType<typeof createJobRequestSchema>>;
