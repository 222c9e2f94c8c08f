/**
 * Tenants' webhook signing secrets, in the tenant's hash (field `webhook_secrets`):
 * JSON [{value, created_ms, expires_ms}], newest first. The newest has no expiry; a
 * rotation gives every older one `now + WEBHOOK_SECRET_OVERLAP_HOURS` (unless it
 * already expires sooner) and drops the expired, so during the overlap deliveries
 * carry a signature per live secret and receivers can switch over at their pace.
 *
 * `value` is sealed with SECRETS_KEY (secrets.ts, bound to the tenant and this use, so
 * it can't be swapped for a credential) when one is configured; without it the secret
 * is stored as is (`whsec_…`), which is readable by whoever reads Redis. Either way
 * it is returned only when made (tenant creation, rotation), never by another endpoint.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import { luaScript, runScript } from '../redisScript.js';
import { decryptSecret, encryptSecret, SecretsError, type SecretsKey } from '../secrets.js';
import { generateWebhookSecret, WEBHOOK_SECRET_PREFIX, webhookSigningKey } from './signature.js';

export interface StoredWebhookSecret {
  /** Sealed (`v1:…`) or plain (`whsec_…`). */
  value: string;
  created_ms: number;
  /** Null for the current secret; set when a newer one replaced it. */
  expires_ms: number | null;
}

export interface RotatedWebhookSecret {
  /** Shown once. */
  webhook_secret: string;
  /** When the secrets it replaces stop signing (null when there were none). */
  previous_expires_at: string | null;
}

export const WEBHOOK_SECRETS_FIELD = 'webhook_secrets';

const sealContext = (tenantId: string) => `${tenantId}:webhook-secret`;

/** A fresh secret and the entry that stores it. */
export function newWebhookSecret(tenantId: string, secretsKey: SecretsKey | null, now: number): { secret: string; stored: StoredWebhookSecret } {
  const secret = generateWebhookSecret();
  const value = secretsKey ? encryptSecret(secret, secretsKey, sealContext(tenantId)) : secret;
  return { secret, stored: { value, created_ms: now, expires_ms: null } };
}

/**
 * Puts `entry` (JSON) first and gives the older secrets `now_ms + overlap_ms` as expiry.
 * Returns the previous secrets' expiry (ms) or -1 when there were none; 0 when the
 * tenant does not exist. One script, so two rotations at once can't lose a secret.
 */
const ROTATE = luaScript('webhook_secret_rotate', {
  keys: ['tenant'],
  args: ['entry', 'now_ms', 'overlap_ms'],
  body: `
if redis.call('exists', tenant) == 0 then return 0 end
local now = tonumber(now_ms)
local until_ms = now + tonumber(overlap_ms)
local current = redis.call('hget', tenant, '${WEBHOOK_SECRETS_FIELD}')
local kept = { cjson.decode(entry) }
local latest = -1
if current then
  for _, s in ipairs(cjson.decode(current)) do
    if s.expires_ms == cjson.null or s.expires_ms > until_ms then s.expires_ms = until_ms end
    if s.expires_ms > now then
      table.insert(kept, s)
      if s.expires_ms > latest then latest = s.expires_ms end
    end
  end
end
redis.call('hset', tenant, '${WEBHOOK_SECRETS_FIELD}', cjson.encode(kept))
return latest
`,
});

export class WebhookSecrets {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly secretsKey: SecretsKey | null,
  ) {}

  /** A new current secret, the old ones signing beside it for `overlapMs`; null if there is no such tenant. */
  async rotate(tenantId: string, overlapMs: number, now = Date.now()): Promise<RotatedWebhookSecret | null> {
    const { secret, stored } = newWebhookSecret(tenantId, this.secretsKey, now);
    const latest = Number(
      await runScript(this.redis, ROTATE, { tenant: this.keys.tenant(tenantId) }, { entry: JSON.stringify(stored), now_ms: now, overlap_ms: overlapMs }),
    );
    if (latest === 0) return null;
    return { webhook_secret: secret, previous_expires_at: latest > 0 ? new Date(latest).toISOString() : null };
  }

  /**
   * The HMAC keys of the tenant's live secrets, newest first (empty when it has none).
   * Throws SecretsError for a sealed one that can't be opened (no or another SECRETS_KEY).
   */
  async signingKeys(tenantId: string, now = Date.now()): Promise<Buffer[]> {
    const json = await this.redis.hget(this.keys.tenant(tenantId), WEBHOOK_SECRETS_FIELD);
    const stored = json ? (JSON.parse(json) as StoredWebhookSecret[]) : [];
    return stored
      .filter((s) => s.expires_ms === null || s.expires_ms > now)
      .map((s) => webhookSigningKey(this.open(tenantId, s.value)));
  }

  private open(tenantId: string, value: string): string {
    if (value.startsWith(WEBHOOK_SECRET_PREFIX)) return value;
    if (!this.secretsKey) throw new SecretsError('the webhook secret is sealed but SECRETS_KEY is not configured');
    return decryptSecret(value, this.secretsKey, sealContext(tenantId));
  }
}
