/**
 * The one rule for ids in paths: every id a path names (a job, a session, a tenant, an
 * API key) is a UUID the service made. It is checked before any lookup because ids are
 * parts of Redis key names (keys.ts builds `tenant:<id>`): unchecked, a path id such as
 * `<tenant id>:keys` would name another tenant key altogether.
 */
import { z } from 'zod';

const pathIdSchema = z.uuid();

/** Whether a path parameter is an id the service could have made; a route answers 404 when not. */
export const isPathId = (value: unknown): value is string => pathIdSchema.safeParse(value).success;
