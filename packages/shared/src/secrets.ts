/**
 * Secrets at rest (tenants' own model credentials): AES-256-GCM under SECRETS_KEY.
 * A sealed value is `v1:<iv>.<tag>.<ciphertext>` (base64url), with a fresh random
 * 12-byte IV each time. The version prefix lets a later format (or key rotation)
 * sit beside this one. Callers bind a value to its owner with `context` (the tenant id,
 * as GCM additional data), so a sealed value copied into another tenant's hash fails
 * to open instead of lending that tenant someone else's credential.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError, type SharedConfig } from './config.js';

/** A parsed SECRETS_KEY: 32 bytes. */
export type SecretsKey = Buffer;

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value that can't be opened: tampered with, sealed under another key or context, or not ours. */
export class SecretsError extends Error {
  override readonly name = 'SecretsError';
  readonly code = 'secret_unreadable';
}

/** 32 bytes written as 64 hex digits or as base64 (standard or url-safe, padded or not). */
export function parseSecretsKey(value: string): SecretsKey {
  const text = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(text)
    ? Buffer.from(text, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(text)
      ? Buffer.from(text.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url')
      : null;
  if (!key || key.length !== 32) {
    throw new ConfigError([{ variable: 'SECRETS_KEY', problem: 'must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)' }]);
  }
  return key;
}

/** SECRETS_KEY of a config, parsed; null when it is not set. Throws ConfigError naming it when malformed. */
export function secretsKeyFromConfig(config: Pick<SharedConfig, 'SECRETS_KEY'>): SecretsKey | null {
  return config.SECRETS_KEY === undefined ? null : parseSecretsKey(config.SECRETS_KEY);
}

export function encryptSecret(plaintext: string, key: SecretsKey, context = ''): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
  return `${VERSION}:${parts.join('.')}`;
}

/** Opens what `encryptSecret` sealed with the same key and context; SecretsError otherwise. */
export function decryptSecret(sealed: string, key: SecretsKey, context = ''): string {
  const m = /^v1:([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/.exec(sealed);
  if (!m) throw new SecretsError('not a sealed secret of a known version');
  const [iv, tag, ciphertext] = [m[1]!, m[2]!, m[3]!].map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretsError('malformed sealed secret');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    // GCM's tag check: a flipped bit, another key or another context. Say no more than that.
    throw new SecretsError('sealed secret failed authentication (tampered, or another key or owner)');
  }
}
