/**
 * /v1/admin/tenants (ADMIN_TOKEN): tenants, their limits, their own model credential,
 * their API keys, their webhook settings and their usage. A key or a webhook secret is
 * shown once, when it is made; a credential is never shown at all (only `has_credentials`).
 */
import { Router } from 'express';
import { z } from 'zod';
import {
  checkPublicUrl,
  defaultTenantLimits,
  httpUrl,
  resolveLimits,
  SecretsKeyMissingError,
  tenantLimitsSchema,
  type Tenant,
} from '@claude-queue/shared';
import type { ApiContext } from '../context.js';
import { isPathId } from '../pathId.js';
import { HttpProblem, notFound } from '../problem.js';
import { parseUsageRange, readUsage } from './usage.js';

/**
 * 1 to 200 characters once trimmed, as a pattern (not `.trim().min().max()`, which JSON
 * Schema would render as limits on the untrimmed string): what is kept is trimmed.
 */
const TENANT_NAME = /^\s*\S(?:[\s\S]{0,198}\S)?\s*$/;
const name = z
  .string({ error: 'is required and must be a string' })
  .regex(TENANT_NAME, 'must have 1 to 200 characters besides the spaces around them')
  .trim();

export const createTenantBody = z.strictObject({ name, limits: tenantLimitsSchema.optional() });

/** A model credential: a single line of printable text (it ends up in an environment variable). */
const credential = z.string().regex(/^[\x21-\x7e]{1,4096}$/, 'must be 1 to 4096 printable characters without spaces');

export const updateTenantBody = z.strictObject({
  name: name.optional(),
  /** Replaces the whole overrides object: `{}` puts every limit back to the deployment's default. */
  limits: tenantLimitsSchema.optional(),
  disabled: z.boolean().optional(),
  /** Replaces the tenant's credential; null removes it. */
  credentials: z
    .strictObject({ anthropic_api_key: credential.optional(), claude_code_oauth_token: credential.optional() })
    .refine((c) => c.anthropic_api_key !== undefined || c.claude_code_oauth_token !== undefined, {
      message: 'must have anthropic_api_key or claude_code_oauth_token (null removes the credential)',
    })
    // The refine, for JSON Schema: with only those two members allowed, at least one of them.
    .meta({ minProperties: 1 })
    .nullable()
    .optional(),
  /** Where the tenant's jobs' events go when a job names no `webhook_url`; null removes it (and setting it re-enables it after a 410). */
  webhook_url: httpUrl().nullable().optional(),
  /** Replaces the URLs disabled by a 410 answer: `[]` enables them all again. */
  webhook_disabled_urls: z.array(z.string().max(2048)).max(1000).optional(),
});

export function adminTenantsRouter(ctx: ApiContext): Router {
  const router = Router();
  // Checked before any route reads or writes a key built from them (pathId.ts).
  router.param('id', (_req, _res, next, id) => next(isPathId(id) ? undefined : notFound('tenant')));
  router.param('keyId', (_req, _res, next, id) => next(isPathId(id) ? undefined : notFound('api key')));
  const defaults = defaultTenantLimits(ctx.config);
  const view = (t: Tenant) => ({
    id: t.id,
    name: t.name,
    created_at: t.created_at,
    disabled: t.disabled,
    limits: t.limits,
    effective_limits: resolveLimits(t.limits, defaults),
    has_credentials: t.has_credentials,
    key_count: t.key_count,
    webhook_url: t.webhook_url,
    webhook_disabled_urls: t.webhook_disabled_urls,
  });
  const findTenant = async (id: string) => {
    const tenant = await ctx.tenants.get(id);
    if (!tenant) throw notFound('tenant');
    return tenant;
  };

  router.post('/', async (req, res) => {
    const { name, limits } = createTenantBody.parse(req.body ?? {});
    const tenant = await ctx.tenants.create(name, limits, new Date(), { secretsKey: ctx.secretsKey });
    req.log.info({ tenant_id: tenant.id }, 'tenant created');
    res.status(201).location(`/v1/admin/tenants/${tenant.id}`).json(tenant);
  });

  router.get('/', async (_req, res) => {
    res.json({ data: (await ctx.tenants.list()).map(view) });
  });

  router.get('/:id', async (req, res) => {
    res.json(view(await findTenant(req.params.id)));
  });

  router.patch('/:id', async (req, res) => {
    const body = updateTenantBody.parse(req.body ?? {});
    if (body.webhook_url) {
      // The same rule as a job's own webhook_url at submit (ssrf.ts).
      const check = await checkPublicUrl(body.webhook_url, { allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE });
      if (!check.ok) {
        throw new HttpProblem(400, 'invalid_request', `webhook_url: ${check.reason}`, { errors: [{ field: 'webhook_url', message: check.reason }] });
      }
    }
    const { credentials, ...rest } = body;
    const update = {
      ...rest,
      ...(credentials === undefined
        ? {}
        : {
            credentials:
              credentials === null
                ? null
                : { ANTHROPIC_API_KEY: credentials.anthropic_api_key, CLAUDE_CODE_OAUTH_TOKEN: credentials.claude_code_oauth_token },
          }),
    };
    try {
      if (!(await ctx.tenants.update(req.params.id, update, ctx.secretsKey))) throw notFound('tenant');
    } catch (err) {
      if (!(err instanceof SecretsKeyMissingError)) throw err;
      throw new HttpProblem(409, 'secrets_key_missing', 'tenant credentials need SECRETS_KEY configured on the API (32 bytes, base64 or hex)', {
        errors: [{ field: 'credentials', message: 'SECRETS_KEY is not configured' }],
      });
    }
    const tenant = await findTenant(req.params.id);
    // A new budget holds or frees the tenant at once, not at its next spend.
    if (body.limits !== undefined) await ctx.usage.recheckHold(tenant.id, resolveLimits(tenant.limits, defaults));
    // What changed, never the values: a credential must not reach the log.
    req.log.info({ tenant_id: req.params.id, changed: Object.keys(body) }, 'tenant updated');
    res.json(view(tenant));
  });

  /**
   * A new webhook secret, shown once. The ones it replaces keep signing beside it for
   * WEBHOOK_SECRET_OVERLAP_HOURS, so receivers can switch without missing a delivery.
   */
  router.post('/:id/webhook-secret', async (req, res) => {
    const rotated = await ctx.webhookSecrets.rotate(req.params.id, ctx.config.WEBHOOK_SECRET_OVERLAP_HOURS * 3600 * 1000);
    if (!rotated) throw notFound('tenant');
    req.log.info({ tenant_id: req.params.id }, 'webhook secret rotated');
    res.status(201).json(rotated);
  });

  router.post('/:id/keys', async (req, res) => {
    const key = await ctx.tenants.addKey(req.params.id);
    if (!key) throw notFound('tenant');
    req.log.info({ tenant_id: req.params.id, key_id: key.id }, 'api key created');
    res.status(201).json(key);
  });

  router.get('/:id/keys', async (req, res) => {
    const keys = await ctx.tenants.listKeys(req.params.id);
    if (!keys) throw notFound('tenant');
    res.json({ data: keys });
  });

  router.delete('/:id/keys/:keyId', async (req, res) => {
    if (!(await ctx.tenants.revokeKey(req.params.id, req.params.keyId))) throw notFound('api key');
    req.log.info({ tenant_id: req.params.id, key_id: req.params.keyId }, 'api key revoked');
    res.status(204).end();
  });

  router.get('/:id/usage', async (req, res) => {
    const range = parseUsageRange(req.query);
    await findTenant(req.params.id);
    res.json(await readUsage(ctx, req.params.id, range));
  });

  return router;
}
