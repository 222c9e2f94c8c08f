/** The operator's routes: /v1/admin/tenants… (ADMIN_TOKEN). */
import { usageQuery } from '../routes/usage.js';
import { usageQueryDescriptions } from './jobsPaths.js';
import { jsonResponse, parameterRef, schemaRef, type Endpoint } from './operations.js';
import { queryParameters } from './queryParameters.js';

const listOf = (name: string) => ({ type: 'object' as const, properties: { data: { type: 'array' as const, items: schemaRef(name) } }, required: ['data'] });

export function adminEndpoints(): Endpoint[] {
  const tenant = [parameterRef('TenantId')];
  const body = ['invalid_request', 'invalid_json', 'body_too_large', 'unsupported_media_type'] as const;
  return [
    {
      method: 'post',
      path: '/v1/admin/tenants',
      operationId: 'createTenant',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: 'Create a tenant and its first API key',
      description: 'The key (`cq_` and 32 random bytes) is shown only in this answer; only its SHA-256 is stored.',
      body: { schema: schemaRef('CreateTenantRequest'), example: { name: 'acme', limits: { max_concurrency: 4, requests_per_minute: 600 } } },
      responses: { '201': jsonResponse('The tenant, with its API key', schemaRef('CreatedTenant'), ['Location']) },
      errors: [...body],
    },
    {
      method: 'get',
      path: '/v1/admin/tenants',
      operationId: 'listTenants',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: 'List the tenants',
      responses: { '200': jsonResponse('Every tenant, never with keys or credentials', listOf('Tenant')) },
    },
    {
      method: 'get',
      path: '/v1/admin/tenants/{id}',
      operationId: 'getTenant',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: 'Read a tenant',
      parameters: tenant,
      responses: { '200': jsonResponse('The tenant', schemaRef('Tenant')) },
      errors: ['not_found'],
    },
    {
      method: 'patch',
      path: '/v1/admin/tenants/{id}',
      operationId: 'updateTenant',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: "Change a tenant's name, limits, status, credential or webhook",
      description:
        '`limits` replaces the whole overrides object (`{}`: every limit back to the deployment default). ' +
        '`credentials` replaces the tenant’s own model credential, `null` removes it; it needs `SECRETS_KEY` and is never shown again. ' +
        '`disabled: true` refuses the tenant’s keys at once; its waiting jobs stay waiting until it is enabled.',
      parameters: tenant,
      body: { schema: schemaRef('UpdateTenantRequest'), example: { limits: { rate: { max: 10, per_seconds: 60 }, weight: 2 } } },
      responses: { '200': jsonResponse('The tenant as it is now', schemaRef('Tenant')) },
      errors: [...body, 'not_found', 'secrets_key_missing'],
    },
    {
      method: 'post',
      path: '/v1/admin/tenants/{id}/webhook-secret',
      operationId: 'rotateTenantWebhookSecret',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: "Rotate the tenant's webhook signing secret",
      description:
        'A new secret, shown once. The ones it replaces keep signing beside it for `WEBHOOK_SECRET_OVERLAP_HOURS`, so receivers can switch without missing a delivery.',
      parameters: tenant,
      responses: { '201': jsonResponse('The new secret', schemaRef('RotatedWebhookSecret')) },
      errors: ['not_found'],
    },
    {
      method: 'post',
      path: '/v1/admin/tenants/{id}/keys',
      operationId: 'createTenantKey',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: 'Add an API key (rotation)',
      description: 'Another live key; the key is shown only in this answer.',
      parameters: tenant,
      responses: { '201': jsonResponse('The new key', schemaRef('CreatedApiKey')) },
      errors: ['not_found'],
    },
    {
      method: 'get',
      path: '/v1/admin/tenants/{id}/keys',
      operationId: 'listTenantKeys',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: "List a tenant's live API keys",
      parameters: tenant,
      responses: { '200': jsonResponse('The keys, never the key itself or its hash', listOf('ApiKey')) },
      errors: ['not_found'],
    },
    {
      method: 'delete',
      path: '/v1/admin/tenants/{id}/keys/{keyId}',
      operationId: 'revokeTenantKey',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: 'Revoke an API key',
      description: 'The key fails from its next request (keys are checked on every request, with no cache).',
      parameters: [...tenant, parameterRef('KeyId')],
      responses: { '204': { description: 'Revoked' } },
      errors: ['not_found'],
    },
    {
      method: 'get',
      path: '/v1/admin/tenants/{id}/usage',
      operationId: 'getTenantUsage',
      auth: 'admin',
      tag: 'Admin: tenants',
      summary: "A tenant's usage per UTC day",
      parameters: [...tenant, ...queryParameters(usageQuery, usageQueryDescriptions)],
      responses: { '200': jsonResponse('Usage', schemaRef('Usage')) },
      errors: ['invalid_request', 'not_found'],
    },
  ];
}
