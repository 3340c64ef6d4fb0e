import { describe, expect, it } from 'vitest';
import { escapeHtml, renderNoticeEmail } from './email.template.ts';
import { testNotice, testParcel } from './notice.fixture.ts';
import type { NoticeParcel, ParcelNotice } from './notify.types.ts';

const parcel = (id: string, label: string, carrier = 'DHL'): NoticeParcel =>
  testParcel({ id, trackingNumber: `JD0146${id}`, carrier, location: { kind: 'slot', label } });

const notice = (over: Partial<ParcelNotice> = {}): ParcelNotice =>
  testNotice({
    parcels: [parcel('1', 'Shelf B, slot B4'), parcel('2', 'Locker L3', 'UPS')],
    pickupCode: '482913',
    ...over,
  });

describe('notice e-mail', () => {
  it('lists every parcel with its location, the site and the pickup code', () => {
    const mail = renderNoticeEmail(notice());
    expect(mail.subject).toBe('2 parcels waiting for you at Maple Court');
    expect(mail.text).toContain('Hello Ada Lovelace,');
    expect(mail.text).toContain('2 parcels are waiting for you at Maple Court.');
    expect(mail.text).toContain('- DHL JD01461: Shelf B, slot B4');
    expect(mail.text).toContain('- UPS JD01462: Locker L3');
    expect(mail.text).toContain('Your pickup code: 482913');
    expect(mail.html).toContain(
      '<td style="padding:4px 12px 4px 0;text-align:left;vertical-align:top">Shelf B, slot B4</td>',
    );
    expect(mail.html).toContain('482913');
  });

  it('says "parcel" for one and leaves out a missing pickup code', () => {
    const mail = renderNoticeEmail(
      notice({ parcels: [parcel('1', 'Oversized area')], pickupCode: undefined }),
    );
    expect(mail.subject).toBe('1 parcel waiting for you at Maple Court');
    expect(mail.text).toContain('A parcel is waiting for you at Maple Court.');
    expect(mail.text).not.toContain('pickup code');
    expect(mail.html).not.toContain('pickup code');
  });

  it('escapes every value in the HTML and keeps control characters out of the subject', () => {
    const evil = '<script>alert("x")</script>&\'';
    const mail = renderNoticeEmail(
      notice({
        residentName: evil,
        siteName: 'Maple\r\nBcc: victim@example.org',
        unit: '<b>4B</b>',
        pickupCode: '<i>1</i>',
        parcels: [
          {
            id: 'p',
            trackingNumber: '"><img src=x>',
            carrier: evil,
            location: { kind: 'locker', label: '<u>L1</u>' },
          },
        ],
      }),
    );
    expect(mail.subject).toBe('1 parcel waiting for you at Maple Bcc: victim@example.org');
    expect(mail.html).not.toMatch(/<script|<img|<b>|<i>|<u>/);
    expect(mail.html).toContain(escapeHtml(evil));
    expect(mail.html).toContain('&quot;&gt;&lt;img src=x&gt;');
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  it('loads nothing from outside the message', () => {
    const { html } = renderNoticeEmail(notice());
    expect(html).not.toMatch(/\b(src|href|srcset|background|action)\s*=|url\(|@import|https?:/i);
  });
});
