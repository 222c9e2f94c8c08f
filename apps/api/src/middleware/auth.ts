import type { RequestHandler } from 'express';
import { bearerMatches, bearerToken, type Tenant, type TenantStore } from '@claude-queue/shared';
import { HttpProblem } from '../problem.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The tenant of the request's API key; every job lookup is scoped by it. */
    tenant?: Tenant;
    /** The id (never the key) of the request's API key: requests_per_minute counts per key. */
    apiKeyId?: string;
  }
}

/** `detail` says which credential the route wants: a tenant's key and the admin token are easy to mix up. */
const unauthorized = (detail: string) => new HttpProblem(401, 'unauthorized', detail, { headers: { 'WWW-Authenticate': 'Bearer' } });

/**
 * Tenant API keys, for /v1/jobs… and /v1/usage. Looked up in Redis on every request,
 * with no cache, so a revoked key or a disabled tenant is refused on its next request.
 */
export function requireTenant(tenants: TenantStore): RequestHandler {
  return async (req, _res, next) => {
    const key = bearerToken(req.headers.authorization);
    const found = key ? await tenants.authenticate(key) : null;
    if (!found) throw unauthorized('missing or invalid API key (a tenant\'s key, `cq_…`)');
    req.tenant = found.tenant;
    req.apiKeyId = found.keyId;
    next();
  };
}

/** The deployment's ADMIN_TOKEN, for /v1/admin… (compared in constant time). */
export function requireAdmin(adminToken: string): RequestHandler {
  const authorized = bearerMatches(adminToken);
  return (req, _res, next) => {
    if (!authorized(req.headers.authorization)) throw unauthorized('missing or invalid admin token: /v1/admin/… wants the deployment\'s ADMIN_TOKEN, not a tenant\'s API key');
    next();
  };
}
