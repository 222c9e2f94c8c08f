/**
 * Tenants and their API keys. A key is shown once, at creation; only its SHA-256 is
 * stored, and a request's key is found by hashing it and looking the hash up. Nothing
 * is cached: a revoked key or a disabled tenant is refused on its very next request.
 *
 * Redis layout (keys.ts):
 * - tenant(id): hash {id, name, created_at, disabled "0"/"1", limits, credentials?,
 *   webhook_url?, webhook_secrets (webhooks/webhookSecrets.ts)}.
 *   `limits` is the JSON of the tenant's overrides (limits.ts: absent = the deployment's
 *   default, null = unlimited); the scheduler's Lua reads that field directly.
 *   `credentials` is the tenant's own model credential, sealed (secrets.ts).
 * - apiKey(sha256): JSON {tenant_id, key_id}.
 * - tenantKeys(tenant): hash key id → JSON {id, prefix, created_at, hash}.
 * - tenantKeysLastUsed(tenant): hash key id → ISO time of its latest request.
 * - webhookDisabledUrls(tenant): set of webhook URLs whose receiver answered 410 Gone.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import type { TenantLimits } from './limits.js';
import { luaScript, runScript } from './redisScript.js';
import { decryptSecret, encryptSecret, SecretsError, type SecretsKey } from './secrets.js';
import { newWebhookSecret, WEBHOOK_SECRETS_FIELD } from './webhooks/webhookSecrets.js';

export interface Tenant {
  id: string;
  name: string;
  created_at: string;
  disabled: boolean;
  /** The overrides as stored; resolve them with `resolveLimits`. */
  limits: TenantLimits;
  /** Whether the tenant has its own model credential (never the credential itself). */
  has_credentials: boolean;
  /** Live API keys. */
  key_count: number;
  /** Where the tenant's jobs' events go when a job names no `webhook_url`. */
  webhook_url: string | null;
  /** URLs that answered 410 Gone: nothing more is sent there until an admin clears them. */
  webhook_disabled_urls: string[];
}

export interface CreatedTenant {
  id: string;
  name: string;
  /** Shown once, never stored. */
  api_key: string;
  limits: TenantLimits;
  created_at: string;
  disabled: false;
  /** The secret that signs the tenant's webhooks (`whsec_…`); shown once, like the key. */
  webhook_secret: string;
}

/** An API key as anyone may see it: never the key, never its hash. */
export interface ApiKeyInfo {
  id: string;
  /** `cq_` and the key's first 8 characters: enough to tell keys apart. */
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

export interface CreatedApiKey {
  id: string;
  /** Shown once, never stored. */
  api_key: string;
  prefix: string;
  created_at: string;
}

/** A tenant's own model credential, under the names the CLI reads from its environment. */
export interface TenantCredentials {
  ANTHROPIC_API_KEY?: string;
  CLAUDE_CODE_OAUTH_TOKEN?: string;
}

export interface TenantUpdate {
  name?: string;
  /** Replaces the whole overrides object ({} = every limit back to the default). */
  limits?: TenantLimits;
  disabled?: boolean;
  /** Replaces the tenant's credential; null removes it. */
  credentials?: TenantCredentials | null;
  /** The default webhook URL; null removes it. Setting a URL also takes it off the disabled list. */
  webhook_url?: string | null;
  /** Replaces the list of disabled webhook URLs ([] enables them all again). */
  webhook_disabled_urls?: string[];
}

export interface CreateTenantOptions {
  /** Seals the webhook secret at rest; without it, the secret is stored as is. */
  secretsKey?: SecretsKey | null;
}

export interface Authenticated {
  tenant: Tenant;
  keyId: string;
}

export const API_KEY_PREFIX = 'cq_';
const SHOWN_KEY_CHARS = 8;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** `cq_` and 32 random bytes, base64url. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** Thrown by `update` when credentials are given but no SECRETS_KEY is configured. */
export class SecretsKeyMissingError extends Error {
  override readonly name = 'SecretsKeyMissingError';
  readonly code = 'secrets_key_missing';
  constructor() {
    super('tenant credentials are stored encrypted under SECRETS_KEY, and it is not configured');
  }
}

interface StoredKey {
  id: string;
  prefix: string;
  created_at: string;
  hash: string;
}

/**
 * Sets the field/value pairs passed as the rest of the call and deletes the fields named
 * in `remove_fields` (comma-separated), only if the tenant exists.
 */
const UPDATE = luaScript('tenant_update', {
  keys: ['tenant'],
  args: ['remove_fields'],
  body: `
if redis.call('exists', tenant) == 0 then return 0 end
-- The rest of the call, ARGV[#args + i] (after the 1 named argument): field, value, field, value, ...
for i = 1, #ARGV - 1, 2 do redis.call('hset', tenant, ARGV[1 + i], ARGV[1 + i + 1]) end
for field in string.gmatch(remove_fields, '[^,]+') do redis.call('hdel', tenant, field) end
return 1
`,
});

export class TenantStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async create(name: string, limits: TenantLimits = {}, now = new Date(), options: CreateTenantOptions = {}): Promise<CreatedTenant> {
    const id = randomUUID();
    const created_at = now.toISOString();
    const key = newKey(now);
    const webhook = newWebhookSecret(id, options.secretsKey ?? null, now.getTime());
    await this.redis
      .multi()
      .hset(this.keys.tenant(id), {
        id,
        name,
        created_at,
        disabled: '0',
        limits: JSON.stringify(limits),
        [WEBHOOK_SECRETS_FIELD]: JSON.stringify([webhook.stored]),
      })
      .zadd(this.keys.tenantIndex(), now.getTime(), id)
      .set(this.keys.apiKey(key.stored.hash), JSON.stringify({ tenant_id: id, key_id: key.stored.id }))
      .hset(this.keys.tenantKeys(id), key.stored.id, JSON.stringify(key.stored))
      .exec();
    return { id, name, api_key: key.apiKey, limits, created_at, disabled: false, webhook_secret: webhook.secret };
  }

  async get(id: string): Promise<Tenant | null> {
    const [hash, count, disabledUrls] =
      (await this.redis.multi().hgetall(this.keys.tenant(id)).hlen(this.keys.tenantKeys(id)).smembers(this.keys.webhookDisabledUrls(id)).exec()) ?? [];
    return tenantOf((hash?.[1] as Record<string, string> | undefined) ?? {}, Number(count?.[1] ?? 0), (disabledUrls?.[1] as string[] | undefined) ?? []);
  }

  /** Every tenant, oldest first. */
  async list(): Promise<Tenant[]> {
    const ids = await this.redis.zrange(this.keys.tenantIndex(), 0, -1);
    const tenants = await Promise.all(ids.map((id) => this.get(id)));
    return tenants.filter((t): t is Tenant => t !== null);
  }

  /** Applies an update in one step; false if there is no such tenant. */
  async update(id: string, update: TenantUpdate, secretsKey: SecretsKey | null): Promise<boolean> {
    const set: Record<string, string> = {};
    const remove: string[] = [];
    if (update.name !== undefined) set.name = update.name;
    if (update.limits !== undefined) set.limits = JSON.stringify(update.limits);
    if (update.disabled !== undefined) set.disabled = update.disabled ? '1' : '0';
    if (update.credentials === null) remove.push('credentials');
    else if (update.credentials !== undefined) {
      if (!secretsKey) throw new SecretsKeyMissingError();
      set.credentials = encryptSecret(JSON.stringify(update.credentials), secretsKey, id);
    }
    if (update.webhook_url === null) remove.push('webhook_url');
    else if (update.webhook_url !== undefined) set.webhook_url = update.webhook_url;
    const ok = await runScript(this.redis, UPDATE, { tenant: this.keys.tenant(id) }, { remove_fields: remove.join(',') }, Object.entries(set).flat());
    if (ok !== 1) return false;
    // After the hash: an update of a tenant that does not exist must not leave a set behind.
    const disabled = this.keys.webhookDisabledUrls(id);
    if (update.webhook_disabled_urls !== undefined) {
      const m = this.redis.multi().del(disabled);
      if (update.webhook_disabled_urls.length) m.sadd(disabled, ...update.webhook_disabled_urls);
      await m.exec();
    }
    if (typeof update.webhook_url === 'string') await this.redis.srem(disabled, update.webhook_url);
    return true;
  }

  /** Stops deliveries to a URL for this tenant (its receiver answered 410 Gone). */
  async disableWebhookUrl(tenantId: string, url: string): Promise<void> {
    await this.redis.sadd(this.keys.webhookDisabledUrls(tenantId), url);
  }

  async isWebhookUrlDisabled(tenantId: string, url: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.webhookDisabledUrls(tenantId), url)) === 1;
  }

  /**
   * The tenant's own model credential, for the worker to put in the CLI's environment;
   * null when it has none. Throws SecretsError when it has one that can't be opened
   * (no or another SECRETS_KEY, or tampered with): running on the deployment's
   * credential instead would bill the wrong account.
   */
  async getCredentials(tenantId: string, secretsKey: SecretsKey | null): Promise<TenantCredentials | null> {
    const sealed = await this.redis.hget(this.keys.tenant(tenantId), 'credentials');
    if (!sealed) return null;
    if (!secretsKey) throw new SecretsError('the tenant has credentials but SECRETS_KEY is not configured');
    const stored = JSON.parse(decryptSecret(sealed, secretsKey, tenantId)) as TenantCredentials;
    const out: TenantCredentials = {};
    if (stored.ANTHROPIC_API_KEY) out.ANTHROPIC_API_KEY = stored.ANTHROPIC_API_KEY;
    if (stored.CLAUDE_CODE_OAUTH_TOKEN) out.CLAUDE_CODE_OAUTH_TOKEN = stored.CLAUDE_CODE_OAUTH_TOKEN;
    return out;
  }

  /** A new live key beside the tenant's others (rotation); null if there is no such tenant. */
  async addKey(tenantId: string, now = new Date()): Promise<CreatedApiKey | null> {
    if (!(await this.redis.exists(this.keys.tenant(tenantId)))) return null;
    const key = newKey(now);
    await this.redis
      .multi()
      .set(this.keys.apiKey(key.stored.hash), JSON.stringify({ tenant_id: tenantId, key_id: key.stored.id }))
      .hset(this.keys.tenantKeys(tenantId), key.stored.id, JSON.stringify(key.stored))
      .exec();
    return { id: key.stored.id, api_key: key.apiKey, prefix: key.stored.prefix, created_at: key.stored.created_at };
  }

  /** A tenant's live keys, oldest first; null if there is no such tenant. */
  async listKeys(tenantId: string): Promise<ApiKeyInfo[] | null> {
    const [exists, stored, lastUsed] = await Promise.all([
      this.redis.exists(this.keys.tenant(tenantId)),
      this.redis.hvals(this.keys.tenantKeys(tenantId)),
      this.redis.hgetall(this.keys.tenantKeysLastUsed(tenantId)),
    ]);
    if (!exists) return null;
    return stored
      .map((json) => JSON.parse(json) as StoredKey)
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))
      .map(({ id, prefix, created_at }) => ({ id, prefix, created_at, last_used_at: lastUsed[id] ?? null }));
  }

  /** Deletes a key: refused from the next request on. False if the tenant has no such key. */
  async revokeKey(tenantId: string, keyId: string): Promise<boolean> {
    const json = await this.redis.hget(this.keys.tenantKeys(tenantId), keyId);
    if (!json) return false;
    const { hash } = JSON.parse(json) as StoredKey;
    await this.redis
      .multi()
      .del(this.keys.apiKey(hash))
      .hdel(this.keys.tenantKeys(tenantId), keyId)
      .hdel(this.keys.tenantKeysLastUsed(tenantId), keyId)
      .exec();
    return true;
  }

  /** The tenant and key id of a presented API key; null if unknown, revoked, or the tenant is disabled. */
  async authenticate(apiKey: string, now = new Date()): Promise<Authenticated | null> {
    if (!apiKey.startsWith(API_KEY_PREFIX)) return null;
    // One round trip: the key, its tenant and the key's last use, on every request.
    const found = await runScript<string, string, [string, string[], number, string[]] | null>(
      this.redis,
      AUTHENTICATE,
      { api_key: this.keys.apiKey(hashApiKey(apiKey)) },
      {
        patterns: JSON.stringify([
          this.keys.tenant('{tenant}'),
          this.keys.tenantKeys('{tenant}'),
          this.keys.webhookDisabledUrls('{tenant}'),
          this.keys.tenantKeysLastUsed('{tenant}'),
        ]),
        now_iso: now.toISOString(),
      },
    );
    if (!found) return null;
    const [keyId, flat, count, disabledUrls] = found;
    const hash: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
    const tenant = tenantOf(hash, count, disabledUrls);
    if (!tenant || tenant.disabled) return null;
    return { tenant, keyId };
  }

}

/** A tenant as its hash, its key count and its disabled webhook URLs make it; null without a hash. */
function tenantOf(h: Record<string, string>, keyCount: number, disabledUrls: string[]): Tenant | null {
  if (!h.id) return null;
  return {
    id: h.id,
    name: h.name ?? '',
    created_at: h.created_at ?? '',
    disabled: h.disabled === '1',
    limits: h.limits ? (JSON.parse(h.limits) as TenantLimits) : {},
    has_credentials: Boolean(h.credentials),
    key_count: keyCount,
    webhook_url: h.webhook_url ?? null,
    webhook_disabled_urls: [...disabledUrls].sort(),
  };
}

/**
 * An API key's tenant, read with the key in one step, and the key's last use noted:
 * {key id, the tenant hash as field/value pairs, its key count, its disabled webhook
 * URLs}, or nil for an unknown key. patterns: keys.ts's tenant, tenant keys, disabled
 * URLs and last-used keys with '{tenant}', as JSON.
 */
const AUTHENTICATE = luaScript('tenant_authenticate', {
  keys: ['api_key'],
  args: ['patterns', 'now_iso'],
  body: `
local stored = redis.call('get', api_key)
if not stored then return nil end
local key = cjson.decode(stored)
local function key_of(pattern)
  local i, j = string.find(pattern, '{tenant}', 1, true)
  return string.sub(pattern, 1, i - 1) .. key.tenant_id .. string.sub(pattern, j + 1)
end
local p = cjson.decode(patterns)
local tenant = key_of(p[1])
local hash = redis.call('hgetall', tenant)
if #hash == 0 then return nil end
-- A refused request (its tenant disabled) is no use of the key.
if redis.call('hget', tenant, 'disabled') ~= '1' then redis.call('hset', key_of(p[4]), key.key_id, now_iso) end
return { key.key_id, hash, redis.call('hlen', key_of(p[2])), redis.call('smembers', key_of(p[3])) }
`,
});

function newKey(now: Date): { apiKey: string; stored: StoredKey } {
  const apiKey = generateApiKey();
  const prefix = apiKey.slice(0, API_KEY_PREFIX.length + SHOWN_KEY_CHARS);
  return { apiKey, stored: { id: randomUUID(), prefix, created_at: now.toISOString(), hash: hashApiKey(apiKey) } };
}
