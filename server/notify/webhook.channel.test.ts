import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { testNotice } from './notice.fixture.ts';
import type { ParcelNotice } from './notify.types.ts';
import {
  buildWebhookPayload,
  createWebhookChannel,
  signWebhook,
  verifyWebhookSignature,
} from './webhook.channel.ts';

const SECRET = 'whsec_test_0123456789';
const NOW = 1_767_268_800; // 2026-01-01T12:00:00Z in seconds

const notice: ParcelNotice = testNotice({
  id: 'n-42',
  at: Date.UTC(2026, 0, 1, 12, 0, 0),
  pickupCode: '482913',
});

describe('webhook payload', () => {
  it('carries the notice id, time, resident and parcels but not the e-mail address', () => {
    expect(buildWebhookPayload(notice)).toEqual({
      type: 'parcels.checked_in',
      id: 'n-42',
      at: '2026-01-01T12:00:00.000Z',
      site: { name: 'Maple Court' },
      resident: { id: 'r1', name: 'Ada Lovelace', unit: '4B' },
      parcels: [
        {
          id: 'p1',
          trackingNumber: '1Z999',
          carrier: 'UPS',
          location: { kind: 'slot', label: 'Shelf B, slot B4' },
        },
      ],
      pickupCode: '482913',
    });
    expect(buildWebhookPayload({ ...notice, pickupCode: undefined })).not.toHaveProperty(
      'pickupCode',
    );
  });
});

describe('webhook signature', () => {
  const body = JSON.stringify(buildWebhookPayload(notice));

  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    const expected = createHmac('sha256', SECRET).update(`${NOW}.${body}`).digest('hex');
    expect(signWebhook(SECRET, body, NOW)).toBe(`t=${NOW},v1=${expected}`);
  });

  it('verifies the exact body, as string or bytes, within the tolerance', () => {
    const header = signWebhook(SECRET, body, NOW);
    expect(verifyWebhookSignature(SECRET, header, body, NOW)).toBe(true);
    expect(verifyWebhookSignature(SECRET, header, Buffer.from(body), NOW + 300)).toBe(true);
    expect(verifyWebhookSignature(SECRET, header, body, NOW - 300)).toBe(true);
  });

  it('rejects a tampered body, another secret, a stale or future timestamp and junk', () => {
    const header = signWebhook(SECRET, body, NOW);
    expect(verifyWebhookSignature(SECRET, header, body.replace('4B', '5C'), NOW)).toBe(false);
    expect(verifyWebhookSignature('other-secret', header, body, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, body, NOW + 301)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, body, NOW - 301)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, body, NOW + 20, 10)).toBe(false);
    // A replayed signature with a fresh timestamp does not match the HMAC.
    expect(
      verifyWebhookSignature(SECRET, header.replace(`t=${NOW}`, `t=${NOW + 600}`), body, NOW + 600),
    ).toBe(false);
    for (const junk of [undefined, null, '', 'v1=abc', `t=${NOW}`, `t=x,v1=${'0'.repeat(64)}`]) {
      expect(verifyWebhookSignature(SECRET, junk, body, NOW)).toBe(false);
    }
    expect(verifyWebhookSignature('', header, body, NOW)).toBe(false);
  });

  it('accepts any matching v1 entry, so senders can rotate secrets', () => {
    const good = signWebhook(SECRET, body, NOW);
    const old = signWebhook('old-secret', body, NOW).split(',')[1];
    expect(verifyWebhookSignature(SECRET, `${good},${old}`, body, NOW)).toBe(true);
    expect(verifyWebhookSignature(SECRET, `t=${NOW},${old}`, body, NOW)).toBe(false);
  });
});

describe('webhook channel options', () => {
  it('refuses non-HTTP urls and an empty secret', () => {
    expect(() => createWebhookChannel({ url: 'ftp://x/', secret: 's', timeoutMs: 1 })).toThrow(
      /http or https/,
    );
    expect(() =>
      createWebhookChannel({ url: 'http://127.0.0.1/', secret: '', timeoutMs: 1 }),
    ).toThrow(/secret/);
  });
});
