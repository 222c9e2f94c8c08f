/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): a secret is
 * `whsec_` + base64 of random bytes; a signature is
 * `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), keyed
 * with the decoded bytes. Several signatures (a secret being rotated out beside the
 * new one) go in one header, space-separated; a receiver accepts any that verifies.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** The spec asks for 24 to 64 bytes; 32 matches HMAC-SHA256's block of security. */
const SECRET_BYTES = 32;

export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** The HMAC key of a `whsec_…` secret: its base64 part, decoded. */
export function webhookSigningKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  return Buffer.from(encoded, 'base64');
}

/** The `webhook-signature` header: one `v1,…` per key, space-separated. */
export function signWebhook(keys: readonly Buffer[], id: string, timestampSeconds: number, body: string): string {
  const content = `${id}.${timestampSeconds}.${body}`;
  return keys.map((key) => `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`).join(' ');
}
