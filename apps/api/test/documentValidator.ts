/**
 * The OpenAPI document as an outside validating proxy reads it: requests checked against
 * an operation's parameters and body, answers against its responses, with a real JSON
 * Schema 2020-12 validator (Ajv), not the zod schemas the document was rendered from.
 *
 * The document's own extensions (x-max-bytes, x-max-json-bytes, x-max-depth: limits JSON
 * Schema can't state) are taught to the validator, as a proxy that reads them would be;
 * `plain: true` leaves them out, as a proxy that doesn't.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenAPIV3_1 } from 'openapi-types';
import { jsonDepthExceeds } from '@claude-queue/shared';

// ajv-formats is CommonJS with `exports.default`: imported from ESM, the plugin is that `default`
// (or the import itself, where the loader unwraps it).
type AddFormats = typeof addFormatsModule.default;
const addFormats: AddFormats = (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

export interface DocumentRequest {
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Answer {
  status: number;
  headers: Headers;
  /** The body as it came. */
  text: string;
}

export interface DocumentValidator {
  /** Why the document refuses this request: empty when it allows it. */
  refusals(method: Method, path: string, request?: DocumentRequest): string[];
  /** How this answer departs from the document: empty when it is a documented answer of the operation. */
  departures(method: Method, path: string, answer: Answer): string[];
}

const BASE = 'https://claude-queue.test/openapi.json';

function createAjv(doc: OpenAPIV3_1.Document, options: { plain: boolean; coerceTypes: boolean }) {
  // strict: an unknown keyword in the document (a typo: `maxlength`) fails the test. Not
  // strictRequired: `then: {required: [session_id]}` names a member defined beside it, not in it.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, coerceTypes: options.coerceTypes });
  addFormats(ajv);
  // OpenAPI's own annotation, and the event stream's map of event schemas (jobsPaths.ts).
  ajv.addVocabulary(['example', 'x-events']);
  if (options.plain) {
    ajv.addVocabulary(['x-max-bytes', 'x-max-json-bytes', 'x-max-depth']);
  } else {
    ajv.addKeyword({ keyword: 'x-max-bytes', type: 'string', schemaType: 'number', validate: (max: number, data: string) => Buffer.byteLength(data, 'utf8') <= max });
    ajv.addKeyword({ keyword: 'x-max-json-bytes', schemaType: 'number', validate: (max: number, data: unknown) => Buffer.byteLength(JSON.stringify(data), 'utf8') <= max });
    ajv.addKeyword({ keyword: 'x-max-depth', schemaType: 'number', validate: (max: number, data: unknown) => !jsonDepthExceeds(data, max) });
  }
  // The components under the document's own address, so `#/components/schemas/X` resolves.
  ajv.addSchema({ $id: BASE, $defs: { components: { schemas: rebase(doc.components?.schemas ?? {}) } } } as object);
  return ajv;
}

/** `#/components/schemas/X` as an address the validator knows. */
const rebase = (schema: unknown): unknown =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${BASE}#/$defs/components/schemas/`));

export function createDocumentValidator(doc: OpenAPIV3_1.Document, options: { plain?: boolean } = {}): DocumentValidator {
  const plain = options.plain ?? false;
  const bodies = createAjv(doc, { plain, coerceTypes: false });
  // Parameters arrive as text: a validating proxy reads `limit=5` as the integer 5.
  const parameters = createAjv(doc, { plain, coerceTypes: true });
  const compiled = new Map<string, ValidateFunction>();
  const compile = (ajv: Ajv2020, key: string, schema: unknown) => {
    const k = `${ajv === bodies ? 'b' : 'p'}:${key}`;
    let fn = compiled.get(k);
    if (!fn) compiled.set(k, (fn = ajv.compile(rebase(schema) as object)));
    return fn;
  };
  const format = (at: string, errors: ErrorObject[] | null | undefined) => (errors ?? []).map((e) => `${at}${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);

  const resolve = <T>(x: T | OpenAPIV3_1.ReferenceObject): T => {
    if (x && typeof x === 'object' && '$ref' in x) {
      const [, kind, name] = /^#\/components\/(\w+)\/(.+)$/.exec(x.$ref)!;
      return (doc.components as Record<string, Record<string, T>>)[kind!]![name!]!;
    }
    return x as T;
  };
  const operation = (method: Method, path: string) => {
    const op = doc.paths?.[path]?.[method] as OpenAPIV3_1.OperationObject | undefined;
    if (!op) throw new Error(`the document has no ${method.toUpperCase()} ${path}`);
    return op;
  };

  return {
    refusals(method, path, request = {}) {
      const op = operation(method, path);
      const out: string[] = [];
      for (const p of (op.parameters ?? []).map((x) => resolve<OpenAPIV3_1.ParameterObject>(x))) {
        const source = { path: request.params, query: request.query, header: request.headers, cookie: undefined }[p.in as 'path' | 'query' | 'header' | 'cookie'];
        const value = p.in === 'header' ? Object.entries(source ?? {}).find(([k]) => k.toLowerCase() === p.name.toLowerCase())?.[1] : source?.[p.name];
        if (value === undefined) {
          if (p.required) out.push(`${p.in} ${p.name} is required`);
          continue;
        }
        const validate = compile(parameters, `${method} ${path} ${p.in} ${p.name}`, p.schema ?? {});
        if (!validate(value)) out.push(...format(`${p.in} ${p.name}`, validate.errors));
      }
      const requestBody = op.requestBody && resolve<OpenAPIV3_1.RequestBodyObject>(op.requestBody);
      if (request.body === undefined) {
        if (requestBody?.required) out.push('a body is required');
      } else {
        const media = requestBody?.content['application/json'];
        if (!media) out.push('no JSON body is documented');
        else {
          const validate = compile(bodies, `${method} ${path} body`, media.schema ?? {});
          if (!validate(request.body)) out.push(...format('body', validate.errors));
        }
      }
      return out;
    },

    departures(method, path, answer) {
      const op = operation(method, path);
      const response = op.responses?.[String(answer.status)] && resolve<OpenAPIV3_1.ResponseObject>(op.responses[String(answer.status)]!);
      if (!response) return [`${answer.status} is not a documented answer of ${method.toUpperCase()} ${path}: ${answer.text}`];
      if (!response.content) return answer.text === '' ? [] : [`${answer.status} has no documented body, yet one came`];
      const type = answer.headers.get('content-type')?.split(';')[0]?.trim() ?? '(none)';
      const media = response.content[type];
      if (!media) return [`${answer.status} came as ${type}; documented: ${Object.keys(response.content).join(', ')}`];
      let body: unknown = answer.text;
      if (/[/+]json$/.test(type)) {
        try {
          body = JSON.parse(answer.text);
        } catch {
          return [`${answer.status} says ${type} but is not JSON`];
        }
      }
      const validate = compile(bodies, `${method} ${path} ${answer.status} ${type}`, media.schema ?? {});
      return validate(body) ? [] : format(`${answer.status} ${type}`, validate.errors);
    },
  };
}
