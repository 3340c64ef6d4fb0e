/**
 * The two e-mails of the pickup-code flow that are not parcel notices: the link a resident asks
 * for at the kiosk (the second factor: only the owner of the address on file can open it), and a
 * fresh code the desk re-sends. Sent at once, no retries: the resident is standing at the kiosk
 * or at the desk and asks again if nothing comes.
 */
import nodemailer from 'nodemailer';
import type { SiteConfig } from '../config/index.ts';
import {
  escapeHtml,
  noticeDate,
  PICKUP_QR_CID,
  type RenderedEmail,
} from '../notify/email.template.ts';
import type { PickupNoticePart } from '../notify/notify.types.ts';

export interface PickupMailer {
  send(to: string, mail: RenderedEmail): Promise<void>;
  close(): void;
}

/** Null when the site has no e-mail: then there is no second factor, and no fresh codes. */
export function createPickupMailer(site: SiteConfig): PickupMailer | null {
  const cfg = site.notifications.email;
  if (!cfg) return null;
  const transport = nodemailer.createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.tls === 'tls',
    requireTLS: cfg.tls === 'starttls',
    ignoreTLS: cfg.tls === 'none',
    auth: cfg.username ? { user: cfg.username, pass: cfg.password ?? '' } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async send(to, mail) {
      await transport.sendMail({
        from: cfg.from,
        to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        ...(mail.attachments ? { attachments: mail.attachments } : {}),
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
    },
    close: () => transport.close(),
  };
}

const page = (title: string, paragraphs: string[]) =>
  [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family:sans-serif;line-height:1.4;color:#111">',
    ...paragraphs,
    '</body></html>',
    '',
  ].join('\n');

/** The link asked for at the kiosk: opening it shows a fresh code. */
export function renderLinkEmail(o: { name: string; siteName: string; url: string }): RenderedEmail {
  const subject = `Your pickup code link for ${o.siteName}`;
  const text = [
    `Hello ${o.name},`,
    '',
    'Someone (we hope you) asked the package-room kiosk for a new pickup code.',
    `Open this link within 15 minutes to see it: ${o.url}`,
    '',
    'If it was not you, ignore this e-mail: nothing changes until the link is opened.',
    '',
  ].join('\n');
  const html = page(subject, [
    `<p>Hello ${escapeHtml(o.name)},</p>`,
    '<p>Someone (we hope you) asked the package-room kiosk for a new pickup code.</p>',
    `<p><a href="${escapeHtml(o.url)}">Show my new pickup code</a> (works for 15 minutes, once)</p>`,
    '<p style="color:#555">If it was not you, ignore this e-mail: nothing changes until the link is opened.</p>',
  ]);
  return { subject, text, html };
}

/** A fresh code the desk re-sent. */
export function renderCodeEmail(o: {
  name: string;
  siteName: string;
  pickup: PickupNoticePart;
}): RenderedEmail {
  const subject = `Your new pickup code for ${o.siteName}`;
  const until = noticeDate(o.pickup.validUntil);
  const text = [
    `Hello ${o.name},`,
    '',
    `Your new pickup code: ${o.pickup.code}`,
    `Type it on the door keypad and press #, or show the QR code to the kiosk. It opens the door once, until ${until}.`,
    'Any code we sent you before no longer works.',
    '',
  ].join('\n');
  const html = page(subject, [
    `<p>Hello ${escapeHtml(o.name)},</p>`,
    '<p>Your new pickup code</p>',
    `<p style="font-family:monospace;font-size:40px;font-weight:bold;letter-spacing:6px;margin:0">${escapeHtml(o.pickup.code)}</p>`,
    `<p><img src="cid:${PICKUP_QR_CID}" width="200" height="200" alt="QR code for the kiosk"></p>`,
    `<p>Type it on the door keypad and press #, or show the QR code to the kiosk. It opens the door once, until ${escapeHtml(until)}.</p>`,
    '<p>Any code we sent you before no longer works.</p>',
  ]);
  return {
    subject,
    text,
    html,
    attachments: [
      {
        cid: PICKUP_QR_CID,
        filename: 'pickup-qr.png',
        content: o.pickup.qrPng,
        contentType: 'image/png',
      },
    ],
  };
}
