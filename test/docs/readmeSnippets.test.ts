/**
 * The README's code a reader copies runs as written: the webhook verification snippet,
 * taken from the README itself, checked against deliveries signed as the worker signs
 * them (packages/shared/src/webhooks/signature.ts).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook, webhookSigningKey } from '@claude-queue/shared';

const README = new URL('../../README.md', import.meta.url);

/** The fenced block after `<!-- snippet: name -->`. */
async function snippet(name: string): Promise<string> {
  const text = await readFile(README, 'utf8');
  const match = new RegExp(`<!-- snippet: ${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(text);
  if (!match) throw new Error(`README has no snippet "${name}"`);
  return match[1]!;
}

let dir: string;
let verifyWebhook: (secret: string, headers: Record<string, string>, body: string) => boolean;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cq-readme-'));
  const file = path.join(dir, 'verify.mjs');
  await writeFile(file, await snippet('verify-webhook'));
  ({ verifyWebhook } = await import(pathToFileURL(file).href));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function delivery(secrets: string[], body: string, at = Math.floor(Date.now() / 1000)) {
  return {
    'webhook-id': 'job-1.job.succeeded',
    'webhook-timestamp': String(at),
    'webhook-signature': signWebhook(secrets.map(webhookSigningKey), 'job-1.job.succeeded', at, body),
  };
}

it("verifies a delivery signed with the tenant's secret, during a rotation too", () => {
  const secret = generateWebhookSecret();
  const body = JSON.stringify({ type: 'job.succeeded', data: { id: 'job-1', result: { text: 'é ok' } } });
  expect(verifyWebhook(secret, delivery([secret], body), body)).toBe(true);
  expect(verifyWebhook(secret, delivery([generateWebhookSecret(), secret], body), body)).toBe(true);
});

it('refuses a changed body, another secret, an old timestamp, and a key made of the whole whsec_ string', () => {
  const secret = generateWebhookSecret();
  const body = '{"type":"job.succeeded"}';
  expect(verifyWebhook(secret, delivery([secret], body), `${body} `)).toBe(false);
  expect(verifyWebhook(generateWebhookSecret(), delivery([secret], body), body)).toBe(false);
  expect(verifyWebhook(secret, delivery([secret], body, Math.floor(Date.now() / 1000) - 3600), body)).toBe(false);
  // What the README used to suggest: HMAC keyed with the string "whsec_…" matches nothing.
  const wrongKey = { ...delivery([secret], body), 'webhook-signature': signWebhook([Buffer.from(secret)], 'job-1.job.succeeded', Math.floor(Date.now() / 1000), body) };
  expect(verifyWebhook(secret, wrongKey, body)).toBe(false);
});
