import { z } from 'zod';
import type { OpenAPIV3_1 } from 'openapi-types';

/** One query parameter per member of a zod object, its schema as zod renders it. */
export function queryParameters(schema: z.ZodObject, descriptions: Record<string, string> = {}): OpenAPIV3_1.ParameterObject[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, OpenAPIV3_1.SchemaObject>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    ...(descriptions[name] ? { description: descriptions[name] } : {}),
    schema: property as never,
  }));
}
