/**
 * E-mail channel: one SMTP connection per message through nodemailer, to the relay named in the
 * site file. Not pooled: notices come a few at a time, and a fresh connection per attempt means a
 * relay that went away and came back needs no reconnect logic here.
 */
import nodemailer from 'nodemailer';
import { renderNoticeEmail } from './email.template.ts';
import type { Channel, ParcelNotice } from './notify.types.ts';

export interface EmailChannelOptions {
  host: string;
  port: number;
  /**
   * `true`: TLS from the first byte (SMTPS, usually port 465). `'starttls'`: plain connect, then
   * STARTTLS is required and the send fails if the relay does not offer it (usually port 587).
   * `false`: plain SMTP and never upgrade, for a relay on the same host or a trusted LAN.
   */
  secure: boolean | 'starttls';
  auth?: { user: string; pass: string };
  /** From header, e.g. `"Maple Court Parcels" <parcels@maple.example>`. */
  from: string;
  /** Limit for the TCP/TLS connect and for the relay's greeting. */
  connectionTimeoutMs: number;
  /**
   * Inactivity limit once connected. Default: the larger of 30 s and `connectionTimeoutMs`, so a
   * stalled relay fails the attempt (and the retry schedule takes over) instead of holding it
   * for nodemailer's ten minutes.
   */
  socketTimeoutMs?: number;
  /** CA certificate(s) (PEM) for a relay with a private certificate. */
  tlsCa?: string | Buffer;
}

/** Domain of the From address, for a Message-ID the relay will not rewrite as foreign. */
function fromDomain(from: string): string {
  const match = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from.trim());
  return match?.[1] ?? 'parcelroom.invalid';
}

/** Message-ID that stays the same across retries, so clients can fold duplicates together. */
export function noticeMessageId(noticeId: string, from: string): string {
  const local = noticeId.replace(/[^A-Za-z0-9._-]/g, '_');
  return `<parcelroom.notice.${local}@${fromDomain(from)}>`;
}

function describeSmtpError(err: unknown, host: string, port: number): string {
  if (!(err instanceof Error)) return `SMTP ${host}:${port}: ${String(err)}`;
  const e = err as Error & { code?: unknown; responseCode?: unknown; command?: unknown };
  const detail = [
    typeof e.code === 'string' ? e.code : undefined,
    typeof e.responseCode === 'number' ? `reply ${e.responseCode}` : undefined,
    typeof e.command === 'string' ? `after ${e.command}` : undefined,
  ].filter((x) => x !== undefined);
  return `SMTP ${host}:${port}: ${e.message}${detail.length ? ` (${detail.join(', ')})` : ''}`;
}

export function createEmailChannel(opts: EmailChannelOptions): Channel {
  const transport = nodemailer.createTransport({
    host: opts.host,
    port: opts.port,
    secure: opts.secure === true,
    requireTLS: opts.secure === 'starttls',
    ignoreTLS: opts.secure === false,
    auth: opts.auth ? { user: opts.auth.user, pass: opts.auth.pass } : undefined,
    connectionTimeout: opts.connectionTimeoutMs,
    greetingTimeout: opts.connectionTimeoutMs,
    socketTimeout: opts.socketTimeoutMs ?? Math.max(30_000, opts.connectionTimeoutMs),
    tls: opts.tlsCa === undefined ? undefined : { ca: opts.tlsCa },
  });

  return {
    name: 'email',
    accepts: (notice) => (notice.email ?? '').trim() !== '',
    async send(notice: ParcelNotice) {
      const to = (notice.email ?? '').trim();
      if (!to) throw new Error(`resident ${notice.residentId} has no e-mail address`);
      const mail = renderNoticeEmail(notice);
      try {
        await transport.sendMail({
          from: opts.from,
          to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          ...(mail.attachments ? { attachments: mail.attachments } : {}),
          messageId: noticeMessageId(notice.id, opts.from),
          headers: {
            // RFC 3834: keeps vacation responders and mailing-list bots from answering a robot.
            'Auto-Submitted': 'auto-generated',
            'X-Parcelroom-Notice': notice.id,
          },
        });
      } catch (err) {
        throw new Error(describeSmtpError(err, opts.host, opts.port), { cause: err });
      }
    },
    async close() {
      transport.close();
    },
  };
}
