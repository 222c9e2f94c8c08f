import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from './verifyWebhook.js';
import { WebhookVerificationError, type WebhookVerificationCode } from './webhookVerificationError.js';

const keyBytes = randomBytes(32);
const secret = `whsec_${keyBytes.toString('base64')}`;
const body = JSON.stringify({ type: 'job.succeeded', timestamp: '2026-11-25T16:00:00.000Z', data: { id: 'j1', status: 'succeeded', text: 'é ✓' } });
const msgId = 'msg_2p5b1LBLoS8C2Q9bE0E4aKaJxRd';
const now = Date.now();
const ts = Math.floor(now / 1000);

/** The signature computed straight from the spec, apart from the code under test. */
function sign(key: Buffer, id: string, timestamp: number, payload: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${payload}`).digest('base64')}`;
}

function headersFor(signature: string, timestamp = ts, id = msgId): Record<string, string> {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}

function rejection(run: () => unknown): WebhookVerificationCode | 'accepted' {
  try {
    run();
    return 'accepted';
  } catch (err) {
    if (err instanceof WebhookVerificationError) return err.code;
    throw err;
  }
}

describe('verifyWebhook', () => {
  it('accepts a signature computed per the spec and returns the parsed body', () => {
    const payload = verifyWebhook(secret, headersFor(sign(keyBytes, msgId, ts, body)), body, { now });
    expect(payload).toEqual(JSON.parse(body));
  });

  it('takes the raw body as bytes, fetch Headers, and Node-style headers in any case', () => {
    const signature = sign(keyBytes, msgId, ts, body);
    const bytes = new TextEncoder().encode(body);
    expect(verifyWebhook(secret, new Headers(headersFor(signature)), bytes, { now })).toEqual(JSON.parse(body));
    const mixedCase = { 'Webhook-Id': msgId, 'WEBHOOK-TIMESTAMP': [String(ts)], 'webhook-signature': signature, host: 'x' };
    expect(verifyWebhook(secret, mixedCase, Buffer.from(body), { now })).toEqual(JSON.parse(body));
  });

  it('accepts any one of several space-separated signatures (a secret being rotated), skipping other versions', () => {
    const oldKey = randomBytes(32);
    const header = `v1a,${randomBytes(32).toString('base64')} ${sign(oldKey, msgId, ts, body)} ${sign(keyBytes, msgId, ts, body)}`;
    expect(rejection(() => verifyWebhook(secret, headersFor(header), body, { now }))).toBe('accepted');
    expect(rejection(() => verifyWebhook(`whsec_${oldKey.toString('base64')}`, headersFor(header), body, { now }))).toBe('accepted');
  });

  it('rejects a wrong secret, a changed body, id or timestamp, and a truncated signature', () => {
    const good = sign(keyBytes, msgId, ts, body);
    const cases: [string, () => unknown][] = [
      ['wrong secret', () => verifyWebhook(`whsec_${randomBytes(32).toString('base64')}`, headersFor(good), body, { now })],
      ['changed body', () => verifyWebhook(secret, headersFor(good), body.replace('succeeded', 'failed'), { now })],
      ['changed id', () => verifyWebhook(secret, headersFor(good, ts, 'msg_other'), body, { now })],
      ['changed timestamp', () => verifyWebhook(secret, headersFor(good, ts - 1), body, { now })],
      ['truncated', () => verifyWebhook(secret, headersFor(good.slice(0, 20)), body, { now })],
      ['not base64', () => verifyWebhook(secret, headersFor('v1,!!!'), body, { now })],
      ['no version', () => verifyWebhook(secret, headersFor(good.slice(3)), body, { now })],
    ];
    for (const [what, run] of cases) expect(rejection(run), what).toBe('invalid_signature');
  });

  it('rejects timestamps more than 5 minutes old or ahead, and accepts them within', () => {
    const at = (offset: number) => () => verifyWebhook(secret, headersFor(sign(keyBytes, msgId, ts + offset, body), ts + offset), body, { now });
    expect(rejection(at(-301))).toBe('timestamp_too_old');
    expect(rejection(at(301))).toBe('timestamp_too_new');
    expect(rejection(at(-299))).toBe('accepted');
    expect(rejection(at(299))).toBe('accepted');
    expect(rejection(() => verifyWebhook(secret, headersFor(sign(keyBytes, msgId, ts, body), Number.NaN), body, { now }))).toBe('invalid_timestamp');
    expect(rejection(() => verifyWebhook(secret, { ...headersFor('v1,x'), 'webhook-timestamp': '1.5e9' }, body, { now }))).toBe('invalid_timestamp');
  });

  it('rejects a delivery missing any of the three headers', () => {
    const full = headersFor(sign(keyBytes, msgId, ts, body));
    for (const name of Object.keys(full)) {
      const { [name]: _dropped, ...rest } = full;
      expect(rejection(() => verifyWebhook(secret, rest, body, { now })), name).toBe('missing_headers');
    }
  });
});

describe('verifyWebhook against the standardwebhooks reference library', () => {
  const reference = new Webhook(secret);

  it("accepts what the reference signs, with the reference's headers", () => {
    const signature = reference.sign(msgId, new Date(ts * 1000), body);
    expect(verifyWebhook(secret, headersFor(signature), body, { now })).toEqual(JSON.parse(body));
  });

  it('agrees with the reference on which deliveries to accept', () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const good = reference.sign(msgId, new Date(nowSeconds * 1000), body);
    const cases: Record<string, string>[] = [
      headersFor(good, nowSeconds),
      headersFor(`${sign(randomBytes(32), msgId, nowSeconds, body)} ${good}`, nowSeconds),
      headersFor(good, nowSeconds + 1),
      headersFor(sign(keyBytes, msgId, nowSeconds - 600, body), nowSeconds - 600),
      headersFor(sign(keyBytes, msgId, nowSeconds + 600, body), nowSeconds + 600),
      headersFor(good.replace('v1,', 'v2,'), nowSeconds),
    ];
    for (const headers of cases) {
      let referenceAccepts = true;
      try {
        reference.verify(body, headers);
      } catch {
        referenceAccepts = false;
      }
      expect(rejection(() => verifyWebhook(secret, headers, body)) === 'accepted', JSON.stringify(headers)).toBe(referenceAccepts);
    }
  });
});
