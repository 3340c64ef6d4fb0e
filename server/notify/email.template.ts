/**
 * The resident's e-mail: a subject, a plain-text body and a small HTML body with the same content.
 * The HTML is self-contained (no remote images, fonts or stylesheets) so it renders the same in
 * every client, leaks no read receipts and cannot be turned against the reader; every value that
 * came from a person or a carrier is escaped. The one image, the pickup QR code, travels inside
 * the message as an inline (cid:) attachment: data: URLs are blocked by Gmail and Outlook, and a
 * remote image would be a read receipt. The only link is the resident's own "pause notices" page.
 */
import type { ParcelNotice } from './notify.types.ts';

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
  /** Inline images the HTML refers to as `cid:<cid>`. */
  attachments?: { cid: string; filename: string; content: Buffer; contentType: string }[];
}

export const PICKUP_QR_CID = 'pickup-qr@parcelroom';

/** A date as residents read it in a notice: "Sat, 28 Nov 2026" (UTC, the e-mail has no zone). */
export function noticeDate(ms: number): string {
  return new Date(ms).toLocaleDateString('en-GB', {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * Names and labels are typed by staff or scanned from labels; a stray newline or control byte
 * must not break the layout of the text body or reach a header.
 */
function oneLine(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
}

export function noticeSubject(notice: ParcelNotice): string {
  const n = notice.parcels.length;
  const what = `${n} parcel${n === 1 ? '' : 's'}`;
  if (notice.kind === 'reminder')
    return `Reminder: ${what} still waiting for you at ${oneLine(notice.siteName)}`;
  return `${what} waiting for you at ${oneLine(notice.siteName)}`;
}

export function renderNoticeEmail(notice: ParcelNotice): RenderedEmail {
  const subject = noticeSubject(notice);
  const n = notice.parcels.length;
  const site = oneLine(notice.siteName);
  const name = oneLine(notice.residentName);
  const intro =
    notice.kind === 'reminder'
      ? `${n === 1 ? 'A parcel has' : `${n} parcels have`} been waiting for you at ${site} for ` +
        `${notice.waitingDays ?? 0} day${notice.waitingDays === 1 ? '' : 's'}. ` +
        'Please collect soon: uncollected parcels go back to the sender.'
      : `${n === 1 ? 'A parcel is' : `${n} parcels are`} waiting for you at ${site}.` +
        (notice.afterHold ? ' They arrived while you were away; welcome back.' : '');
  const rows = notice.parcels.map((p) => ({
    carrier: oneLine(p.carrier),
    tracking: oneLine(p.trackingNumber),
    where: oneLine(p.location.label),
  }));
  const code = notice.pickupCode === undefined ? undefined : oneLine(notice.pickupCode);
  const pickup = notice.pickup;
  const pickupLines = pickup
    ? [
        `Your pickup code: ${pickup.code}`,
        `Type it on the door keypad and press #, or show the QR code to the kiosk. It opens the ` +
          `door once, until ${noticeDate(pickup.validUntil)}.`,
        ...(pickup.supersedes
          ? ['It replaces the code we sent you before; that one no longer works.']
          : []),
        '',
      ]
    : [];
  const holdLine = notice.holdUrl ? `Away? Pause notices: ${notice.holdUrl}` : undefined;

  const text = [
    `Hello ${name},`,
    '',
    intro,
    '',
    ...rows.map((r) => `- ${r.carrier} ${r.tracking}: ${r.where}`),
    '',
    ...(code && !pickup ? [`Your pickup code: ${code}`, ''] : []),
    ...pickupLines,
    `Unit ${oneLine(notice.unit)}`,
    ...(holdLine ? ['', holdLine] : []),
    '',
  ].join('\n');

  const cell = 'style="padding:4px 12px 4px 0;text-align:left;vertical-align:top"';
  const html = [
    '<!doctype html>',
    '<html><head><meta charset="utf-8">',
    `<title>${escapeHtml(subject)}</title></head>`,
    '<body style="font-family:sans-serif;line-height:1.4;color:#111">',
    `<p>Hello ${escapeHtml(name)},</p>`,
    `<p>${escapeHtml(intro)}</p>`,
    '<table style="border-collapse:collapse">',
    `<thead><tr><th ${cell}>Carrier</th><th ${cell}>Tracking number</th><th ${cell}>Where</th></tr></thead>`,
    '<tbody>',
    ...rows.map(
      (r) =>
        `<tr><td ${cell}>${escapeHtml(r.carrier)}</td><td ${cell}>${escapeHtml(r.tracking)}</td>` +
        `<td ${cell}>${escapeHtml(r.where)}</td></tr>`,
    ),
    '</tbody></table>',
    ...(pickup
      ? [
          '<p style="margin:16px 0 4px">Your pickup code</p>',
          `<p style="font-family:monospace;font-size:40px;font-weight:bold;letter-spacing:6px;margin:0">${escapeHtml(pickup.code)}</p>`,
          `<p><img src="cid:${PICKUP_QR_CID}" width="200" height="200" alt="QR code for the kiosk"></p>`,
          `<p>Type the code on the door keypad and press #, or show the QR code to the kiosk. It opens the door once, until ${escapeHtml(noticeDate(pickup.validUntil))}.</p>`,
          ...(pickup.supersedes
            ? ['<p>It replaces the code we sent you before; that one no longer works.</p>']
            : []),
        ]
      : []),
    ...(code && !pickup
      ? [
          `<p>Your pickup code: <strong style="font-family:monospace;font-size:1.2em">${escapeHtml(code)}</strong></p>`,
        ]
      : []),
    `<p style="color:#555">Unit ${escapeHtml(oneLine(notice.unit))}</p>`,
    ...(notice.holdUrl
      ? [
          `<p style="color:#555">Away? <a href="${escapeHtml(notice.holdUrl)}">Pause notices</a></p>`,
        ]
      : []),
    '</body></html>',
    '',
  ].join('\n');

  return {
    subject,
    text,
    html,
    ...(pickup
      ? {
          attachments: [
            {
              cid: PICKUP_QR_CID,
              filename: 'pickup-qr.png',
              content: pickup.qrPng,
              contentType: 'image/png',
            },
          ],
        }
      : {}),
  };
}
