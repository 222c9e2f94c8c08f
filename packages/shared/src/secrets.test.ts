import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.js';
import { decryptSecret, encryptSecret, parseSecretsKey, SecretsError, secretsKeyFromConfig } from './secrets.js';

const key = randomBytes(32);

describe('parseSecretsKey', () => {
  it.each([
    ['hex', key.toString('hex')],
    ['base64', key.toString('base64')],
    ['base64 without padding', key.toString('base64').replace(/=+$/, '')],
    ['base64url', key.toString('base64url')],
  ])('reads 32 bytes written as %s', (_name, text) => {
    expect(parseSecretsKey(text).equals(key)).toBe(true);
  });

  it.each([
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(33).toString('hex')],
    ['a passphrase', 'correct horse battery staple'],
  ])('refuses a key that is %s, naming SECRETS_KEY', (_name, text) => {
    expect(() => parseSecretsKey(text)).toThrow(ConfigError);
    expect(() => parseSecretsKey(text)).toThrow(/SECRETS_KEY/);
  });

  it('is null when the config has none', () => {
    expect(secretsKeyFromConfig({ SECRETS_KEY: undefined })).toBeNull();
  });
});

describe('encryptSecret / decryptSecret', () => {
  it('round-trips, with a fresh IV every time and no plaintext in the sealed value', () => {
    const secret = 'sk-ant-api03-very-secret';
    const a = encryptSecret(secret, key, 'tenant-1');
    const b = encryptSecret(secret, key, 'tenant-1');
    expect(a).toMatch(/^v1:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain(secret);
    expect(a).not.toContain(Buffer.from(secret).toString('base64url'));
    expect(decryptSecret(a, key, 'tenant-1')).toBe(secret);
    expect(decryptSecret(b, key, 'tenant-1')).toBe(secret);
    expect(decryptSecret(encryptSecret('', key), key)).toBe('');
  });

  it('detects a flipped bit in the IV, the tag or the ciphertext', () => {
    const sealed = encryptSecret('a credential', key, 't');
    const [version, body] = sealed.split(':') as [string, string];
    const parts = body.split('.');
    for (let i = 0; i < parts.length; i++) {
      const bytes = Buffer.from(parts[i]!, 'base64url');
      bytes[0]! ^= 1;
      const tampered = `${version}:${parts.map((p, j) => (j === i ? bytes.toString('base64url') : p)).join('.')}`;
      expect(() => decryptSecret(tampered, key, 't'), `part ${i}`).toThrow(SecretsError);
    }
  });

  it('refuses another key, another context, and what is not a sealed value', () => {
    const sealed = encryptSecret('a credential', key, 'tenant-a');
    expect(() => decryptSecret(sealed, randomBytes(32), 'tenant-a')).toThrow(SecretsError);
    expect(() => decryptSecret(sealed, key, 'tenant-b')).toThrow(SecretsError);
    expect(() => decryptSecret('a credential', key)).toThrow(SecretsError);
    expect(() => decryptSecret(sealed.replace('v1:', 'v2:'), key, 'tenant-a')).toThrow(SecretsError);
  });
});
