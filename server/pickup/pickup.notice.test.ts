import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../db/index.ts';
import { manualClock } from '../../hardware/clock.ts';
import { renderNoticeEmail } from '../notify/email.template.ts';
import { testNotice, testParcel } from '../notify/notice.fixture.ts';
import type { ParcelNotice } from '../notify/notify.types.ts';
import { buildWebhookPayload } from '../notify/webhook.channel.ts';
import { holdInstant, maskEmail } from './pickup.routes.ts';
import { createVacationHolds, HOLD_LINK_MS } from './vacation.holds.ts';

const PNG = Buffer.from('89504e470d0a1a0a', 'hex');

const notice = (over: Partial<ParcelNotice> = {}): ParcelNotice =>
  testNotice({
    parcels: [
      testParcel({
        trackingNumber: 'TBA1',
        carrier: 'Amazon',
        location: { kind: 'slot', label: 'B4' },
      }),
    ],
    pickup: { code: '482913', qrPng: PNG, validUntil: Date.UTC(2026, 10, 28), supersedes: true },
    holdUrl: 'https://box.example/api/pickup/hold/abc.def',
    ...over,
  });

describe('the pickup code in a notice', () => {
  it('shows the code large with its QR inline, says it replaces the last one, links the hold page', () => {
    const mail = renderNoticeEmail(notice());
    expect(mail.text).toContain('Your pickup code: 482913');
    expect(mail.text).toContain('until Sat, 28 Nov 2026');
    expect(mail.text).toContain('replaces the code we sent you before');
    expect(mail.text).toContain('Away? Pause notices: https://box.example/api/pickup/hold/abc.def');
    expect(mail.html).toMatch(/font-size:40px[^>]*>482913</);
    expect(mail.html).toContain('<img src="cid:pickup-qr@parcelroom"');
    expect(mail.attachments).toEqual([
      expect.objectContaining({
        cid: 'pickup-qr@parcelroom',
        contentType: 'image/png',
        content: PNG,
      }),
    ]);
    const first = renderNoticeEmail(notice({ pickup: { ...notice().pickup!, supersedes: false } }));
    expect(first.text).not.toContain('replaces');
  });

  it('never puts the code into the webhook: that goes to other systems', () => {
    const body = JSON.stringify(buildWebhookPayload(notice()));
    expect(body).not.toContain('482913');
    expect(body).not.toContain('pickup');
  });

  it('masks the address the desk sent a code to', () => {
    expect(maskEmail('ann@example.test')).toBe('a***@example.test');
  });
});

describe('the "pause notices" link', () => {
  const hashCode = (v: string) => createHmac('sha256', 'k').update(v).digest('hex');
  // The link is signed and checked without the database.
  const noDb = new Proxy(
    {},
    {
      get: () => {
        throw new Error('no database here');
      },
    },
  ) as Db;

  it('belongs to its resident until it expires, and cannot be forged', () => {
    const clock = manualClock(Date.UTC(2026, 10, 21));
    const holds = createVacationHolds({
      db: noDb,
      siteId: 's',
      clock,
      hashCode,
      returnAfterDays: 7,
    });
    const token = holds.signLink('res-1');
    expect(holds.verifyLink(token)).toMatchObject({ residentId: 'res-1' });
    const [payload, sig] = token.split('.');
    const other = Buffer.from(
      Buffer.from(payload!, 'base64url').toString().replace('res-1', 'res-2'),
    ).toString('base64url');
    expect(holds.verifyLink(`${other}.${sig}`)).toBeNull();
    expect(holds.verifyLink(`${payload}.${'0'.repeat(32)}`)).toBeNull();
    expect(holds.verifyLink('junk')).toBeNull();
    clock.advance(HOLD_LINK_MS);
    expect(holds.verifyLink(token)).toBeNull();
  });
});

describe('hold dates', () => {
  it('are whole days in the building’s zone, across daylight-saving changes', () => {
    expect(new Date(holdInstant('Europe/Berlin', '2026-03-29', 'start')).toISOString()).toBe(
      '2026-03-28T23:00:00.000Z',
    );
    // "Until the 29th" pauses through the 29th: the hold ends when the 30th begins (summer time).
    expect(new Date(holdInstant('Europe/Berlin', '2026-03-29', 'end')).toISOString()).toBe(
      '2026-03-29T22:00:00.000Z',
    );
    expect(new Date(holdInstant('America/New_York', '2026-11-01', 'start')).toISOString()).toBe(
      '2026-11-01T04:00:00.000Z',
    );
    expect(new Date(holdInstant('UTC', '2026-12-31', 'end')).toISOString()).toBe(
      '2027-01-01T00:00:00.000Z',
    );
  });
});
