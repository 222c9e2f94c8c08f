/**
 * The OpenAPI document against the real app: valid OpenAPI 3.1, every route the app
 * registers documented (and nothing documented that isn't there), every error code the
 * source can answer with in the catalog, and the /docs page served from this server only.
 * That answers match the document's schemas: openapiSchemas.test.ts.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate } from '@readme/openapi-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '@claude-queue/api';
import { PERMISSION_MODES } from '@claude-queue/shared';
import { ADMIN_TOKEN, createTestEnv, type TestEnv } from '../../../test/support/env.js';
import { startTestApi, type TestApi } from '../../../test/support/apiServer.js';
import { API_ERRORS, statusesOf, type ApiErrorCode } from '../src/openapi/problems.js';
import { createTenantBody, updateTenantBody } from '../src/routes/adminTenants.js';

const API_SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Not the API's own routes: Bull Board's UI and API, and the docs page's assets. */
const IGNORED = [/^\/admin\/queues(\/|$)/, /^\/docs\/./];

let env: TestEnv;
let api: TestApi;
let doc: OpenAPIV3_1.Document;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startTestApi(env.apiConfig({ ALLOWED_PERMISSION_MODES: 'acceptEdits,plan', MAX_PROMPT_BYTES: '1000' }));
  const res = await fetch(`${api.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as OpenAPIV3_1.Document;
});

afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

const operationsOf = (d: OpenAPIV3_1.Document) =>
  Object.entries(d.paths ?? {}).flatMap(([p, item]) =>
    Object.entries(item ?? {})
      .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'].includes(method))
      .map(([method, op]) => ({ method, path: p, op: op as OpenAPIV3_1.OperationObject })),
  );

describe('the document', () => {
  it('is valid OpenAPI 3.1, served without auth', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc));
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('the validator does find errors (it is not passing everything)', async () => {
    const broken = structuredClone(doc) as any;
    broken.paths['/v1/jobs/{id}'].get.parameters = [];
    delete broken.paths['/v1/jobs'].get.responses['200'].description;
    const result = await validate(broken);
    expect(result.valid).toBe(false);
  });

  it('documents every route the app registers, and no route it does not', () => {
    const registered = routesOf(createApp(api.ctx), (p) => IGNORED.some((re) => re.test(p))).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    const documented = operationsOf(doc)
      .filter((o) => !IGNORED.some((re) => re.test(o.path)))
      .map((o) => `${o.method.toUpperCase()} ${o.path}`);
    // Sanity: the walk found the routers mounted on paths, parameters and all.
    expect(registered).toEqual(expect.arrayContaining(['POST /v1/jobs', 'GET /v1/jobs/{id}/events', 'DELETE /v1/admin/tenants/{id}/keys/{keyId}', 'GET /healthz']));
    expect({ undocumented: registered.filter((r) => !documented.includes(r)) }).toEqual({ undocumented: [] });
    expect({ notRegistered: documented.filter((d) => !registered.includes(d)) }).toEqual({ notRegistered: [] });
  });

  it('has the submit body of this deployment: its permission modes and prompt size', () => {
    const request = doc.components!.schemas!.JobRequest as OpenAPIV3_1.SchemaObject;
    const properties = request.properties as Record<string, OpenAPIV3_1.SchemaObject>;
    expect(request.additionalProperties).toBe(false);
    expect(request.required).toEqual(['prompt']);
    // The enum is the modes the validating schema accepts, nothing more.
    const accepted = PERMISSION_MODES.filter((mode) => api.ctx.jobRequestSchema.safeParse({ prompt: 'x', permission_mode: mode }).success);
    expect(accepted).toEqual(['acceptEdits', 'plan']);
    expect(properties.permission_mode!.enum).toEqual(accepted);
    expect(properties.prompt!.description).toContain('1000 bytes');
    expect(properties.timeout_ms!.maximum).toBe(api.ctx.config.JOB_TIMEOUT_MAX_MS);
  });

  it('has body examples that the API’s own schemas accept', () => {
    const example = (p: string, method: 'post' | 'patch') => (doc.paths![p]![method]!.requestBody as OpenAPIV3_1.RequestBodyObject).content['application/json']!.example;
    expect(api.ctx.jobRequestSchema.parse(example('/v1/jobs', 'post'))).toBeTruthy();
    expect(createTenantBody.parse(example('/v1/admin/tenants', 'post'))).toBeTruthy();
    expect(updateTenantBody.parse(example('/v1/admin/tenants/{id}', 'patch'))).toBeTruthy();
  });

  it('describes every field of the submit body', () => {
    const properties = (doc.components!.schemas!.JobRequest as OpenAPIV3_1.SchemaObject).properties as Record<string, OpenAPIV3_1.SchemaObject>;
    const undescribed = Object.entries(properties).filter(([, p]) => !p.description).map(([name]) => name);
    expect(undescribed).toEqual([]);
  });

  it('declares a security scheme on every operation: tenant key, admin token, or none', () => {
    const schemes = doc.components!.securitySchemes!;
    expect(schemes).toMatchObject({
      tenantKey: { type: 'http', scheme: 'bearer' },
      adminToken: { type: 'http', scheme: 'bearer' },
      boardBasic: { type: 'http', scheme: 'basic' },
    });
    for (const { method, path: p, op } of operationsOf(doc)) {
      const names = (op.security ?? []).flatMap((s) => Object.keys(s));
      if (p.startsWith('/v1/admin/')) expect(names, `${method} ${p}`).toEqual(['adminToken']);
      else if (p.startsWith('/v1/')) expect(names, `${method} ${p}`).toEqual(['tenantKey']);
      else expect(names, `${method} ${p}`).not.toContain('tenantKey');
    }
  });

  it('documents the headers: Prefer, Idempotency-Key, Last-Event-ID, RateLimit, Retry-After', () => {
    const params = (method: 'get' | 'post', p: string) =>
      (doc.paths![p]![method]!.parameters ?? []).map((x) => ('$ref' in x ? doc.components!.parameters![x.$ref.split('/').pop()!] : x) as OpenAPIV3_1.ParameterObject).map((x) => `${x.in}:${x.name}`);
    expect(params('post', '/v1/jobs')).toEqual(expect.arrayContaining(['header:Prefer', 'header:Idempotency-Key']));
    expect(params('get', '/v1/jobs/{id}')).toContain('header:Prefer');
    expect(params('get', '/v1/jobs/{id}/events')).toEqual(expect.arrayContaining(['header:Last-Event-ID', 'query:last_event_id']));

    const submit = doc.paths!['/v1/jobs']!.post!.responses as Record<string, OpenAPIV3_1.ResponseObject>;
    expect(Object.keys(submit['200']!.headers!)).toEqual(expect.arrayContaining(['Preference-Applied', 'Idempotent-Replayed', 'Location', 'RateLimit', 'RateLimit-Policy']));
    expect(Object.keys(submit['429']!.headers!)).toEqual(expect.arrayContaining(['Retry-After', 'RateLimit', 'RateLimit-Policy']));
    expect(Object.keys(submit['503']!.headers!)).toContain('Retry-After');
  });

  it('describes the event stream: text/event-stream with status, text and result events', () => {
    const op = doc.paths!['/v1/jobs/{id}/events']!.get!;
    const ok = op.responses!['200'] as OpenAPIV3_1.ResponseObject;
    expect(Object.keys(ok.content!)).toEqual(['text/event-stream']);
    for (const event of ['status', 'text', 'result']) expect(op.description).toContain(`\`${event}\``);
    expect(doc.components!.schemas).toHaveProperty('JobStatusEvent');
    expect(doc.components!.schemas).toHaveProperty('JobTextEvent');
  });
});

describe('error codes', () => {
  it('the catalog has every code (with its status) that the source answers with', async () => {
    const used = new Set<string>();
    for (const file of await sourceFiles(API_SRC)) {
      for (const m of (await readFile(file, 'utf8')).matchAll(/new HttpProblem\(\s*(\d{3}),\s*'([a-z_]+)'/g)) used.add(`${m[2]} ${m[1]}`);
    }
    expect(used.size).toBeGreaterThan(10);
    const catalog = new Set(Object.keys(API_ERRORS).flatMap((code) => statusesOf(code as ApiErrorCode).map((s) => `${code} ${s}`)));
    expect({ missing: [...used].filter((u) => !catalog.has(u)) }).toEqual({ missing: [] });
  });

  it('every code in the catalog is documented on an operation, as problem+json with its status', () => {
    const documented = new Set<string>();
    for (const { op } of operationsOf(doc)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        const examples = (response as OpenAPIV3_1.ResponseObject).content?.['application/problem+json']?.examples ?? {};
        for (const code of Object.keys(examples)) documented.add(`${code} ${status}`);
      }
    }
    const catalog = Object.keys(API_ERRORS).flatMap((code) => statusesOf(code as ApiErrorCode).map((s) => `${code} ${s}`));
    expect({ undocumented: catalog.filter((c) => !documented.has(c)) }).toEqual({ undocumented: [] });
    for (const code of Object.keys(API_ERRORS)) expect(doc.info.description).toContain(`\`${code}\``);
  });
});

describe('the documented query parameters', () => {
  it.each([
    ['limit=0', 400],
    ['limit=1', 200],
    ['limit=100', 200],
    ['limit=101', 400],
    ['status=succeeded', 200],
    ['status=bogus', 400],
    ['bogus=1', 400],
  ])('GET /v1/jobs?%s answers %i, as the document says', async (query, status) => {
    const tenant = await tenantOnce();
    const limit = (doc.paths!['/v1/jobs']!.get!.parameters as OpenAPIV3_1.ParameterObject[]).find((p) => p.name === 'limit')!.schema as {
      minimum: number;
      maximum: number;
    };
    expect([limit.minimum, limit.maximum]).toEqual([1, 100]);
    expect((await api.request('GET', `/v1/jobs?${query}`, { key: tenant.api_key })).status).toBe(status);
  });

  it.each([
    ['from=2025-01-01&to=2025-01-31', 200],
    ['from=2025-1-1', 400],
    ['to=2025-02-30', 400],
  ])('GET /v1/usage?%s answers %i', async (query, status) => {
    const tenant = await tenantOnce();
    expect((await api.request('GET', `/v1/usage?${query}`, { key: tenant.api_key })).status).toBe(status);
  });
});

describe('/docs', () => {
  it('is a page whose scripts, styles and icons all come from this server, and they are there', async () => {
    const res = await fetch(`${api.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect(ref, 'no other host').toMatch(/^\/docs\//);
      const asset = await fetch(`${api.url}${ref}`);
      expect(asset.status, ref).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, ref).toBeGreaterThan(0);
    }
    const init = await (await fetch(`${api.url}/docs/init.js`)).text();
    expect(init).toContain("url: '/openapi.json'");
    expect(init).toContain('validatorUrl: null');
  });

  it('serves only the files the page uses from the package', async () => {
    for (const p of ['/docs/index.html', '/docs/swagger-initializer.js', '/docs/../package.json', '/docs/package.json']) {
      expect((await fetch(`${api.url}${p}`)).status, p).toBe(404);
    }
  });

  it('the document and the page need no credentials, the API still does', async () => {
    expect((await fetch(`${api.url}/docs/`)).status).toBe(200);
    expect((await api.request('GET', '/v1/jobs')).status).toBe(401);
    expect((await api.request('GET', '/v1/admin/tenants', { key: 'x' })).status).toBe(401);
    expect((await api.request('GET', '/v1/admin/tenants', { key: ADMIN_TOKEN })).status).toBe(200);
  });
});

let tenant: Promise<{ id: string; api_key: string }> | undefined;
const tenantOnce = () => (tenant ??= api.createTenant('openapi'));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')).map((e) => path.join(e.parentPath, e.name));
}

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  /** Express 5 (router 2) keeps the path a layer was mounted on here. */
  rawPath?: string | string[];
}

/**
 * Method and path of every route, walking Express 5's router: a route's layer has
 * `route`; a mounted router's layer has the router as `handle` (with its own `stack`)
 * and its mount path as `rawPath`. Paths come out in OpenAPI form (`:id` → `{id}`).
 */
function routesOf(app: unknown, ignored: (expressPath: string) => boolean): Array<{ method: string; path: string }> {
  const stack = (app as { router: { stack: Layer[] } }).router.stack;
  const out: Array<{ method: string; path: string }> = [];
  const walk = (layers: Layer[], prefix: string) => {
    if (ignored(prefix)) return;
    for (const layer of layers) {
      if (layer.route) {
        for (const p of ([] as string[]).concat(layer.route.path)) {
          if (ignored(prefix + p)) continue;
          for (const method of Object.keys(layer.route.methods)) {
            if (method === '_all') throw new Error(`${prefix}${p}: router.all() routes need a method to document`);
            out.push({ method, path: toOpenApiPath(prefix + p) });
          }
        }
      } else if (layer.handle?.stack) {
        const mounts = ([] as string[]).concat(layer.rawPath ?? []);
        if (mounts.length === 0 || mounts.some((m) => typeof m !== 'string')) throw new Error('a router mounted on a path this walk cannot read');
        for (const mount of mounts) walk(layer.handle.stack, prefix + (mount === '/' ? '' : mount));
      }
    }
  };
  walk(stack, '');
  return out;
}

function toOpenApiPath(expressPath: string): string {
  if (/[*?(){}]/.test(expressPath)) throw new Error(`${expressPath}: a pattern this walk cannot turn into an OpenAPI path`);
  const p = expressPath.replace(/:(\w+)/g, '{$1}').replace(/\/+$/, '');
  return p === '' ? '/' : p;
}
