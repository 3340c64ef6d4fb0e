/**
 * Webhook channel for SMS gateways and property-management systems: a JSON POST signed the way
 * Stripe signs its webhooks. The signature covers a timestamp and the exact body bytes, so a
 * receiver can prove the call came from this site and reject a captured request replayed later.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Channel, ParcelNotice } from './notify.types.ts';

export const WEBHOOK_EVENT = 'parcels.checked_in';
export const WEBHOOK_REMINDER_EVENT = 'parcels.reminder';
export const SIGNATURE_HEADER = 'X-Parcelroom-Signature';
export const EVENT_HEADER = 'X-Parcelroom-Event';

export interface WebhookPayload {
  type: typeof WEBHOOK_EVENT | typeof WEBHOOK_REMINDER_EVENT;
  /** The notice id: the same on every retry, so receivers de-duplicate on it. */
  id: string;
  /** When the notice was made (ISO 8601, UTC); not the time of this attempt. */
  at: string;
  site: { name: string };
  resident: { id: string; name: string; unit: string };
  parcels: {
    id: string;
    trackingNumber: string;
    carrier: string;
    location: { kind: string; label: string };
  }[];
  /** Present when the notice has one; an SMS gateway needs it to text the resident. */
  pickupCode?: string;
  /** Reminders: days the oldest parcel has waited. */
  waitingDays?: number;
}

export interface WebhookChannelOptions {
  url: string;
  secret: string;
  /** Whole-request limit: connect, headers and body. */
  timeoutMs: number;
  /**
   * Wall clock for the signature timestamp (epoch ms). Deliberately separate from the
   * dispatcher's Clock: receivers compare `t` with their own real time, so it must be real.
   */
  now?: () => number;
}

export function buildWebhookPayload(notice: ParcelNotice): WebhookPayload {
  return {
    type: notice.kind === 'reminder' ? WEBHOOK_REMINDER_EVENT : WEBHOOK_EVENT,
    id: notice.id,
    at: new Date(notice.at).toISOString(),
    site: { name: notice.siteName },
    resident: { id: notice.residentId, name: notice.residentName, unit: notice.unit },
    parcels: notice.parcels.map((p) => ({
      id: p.id,
      trackingNumber: p.trackingNumber,
      carrier: p.carrier,
      location: { kind: p.location.kind, label: p.location.label },
    })),
    ...(notice.pickupCode === undefined ? {} : { pickupCode: notice.pickupCode }),
    ...(notice.kind === 'reminder' ? { waitingDays: notice.waitingDays ?? 0 } : {}),
  };
}

function hmacHex(secret: string, timestampSec: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestampSec}.`).update(body).digest('hex');
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` */
export function signWebhook(secret: string, body: string | Buffer, timestampSec: number): string {
  return `t=${timestampSec},v1=${hmacHex(secret, timestampSec, body)}`;
}

/**
 * True when `header` carries a v1 signature of `body` under `secret` and its timestamp is within
 * `toleranceSec` of `nowSec`. Pass the raw body exactly as received: re-serialised JSON will not
 * match. Several v1 entries are allowed (any may match), so a sender can sign with an old and a
 * new secret while receivers rotate.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | null | undefined,
  body: string | Buffer,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  if (!header || !secret) return false;
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) candidates.push(value.toLowerCase());
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(nowSec - timestamp) > toleranceSec) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  // Compare every candidate in constant time; lengths are equal by the regex above.
  let ok = false;
  for (const c of candidates) ok = timingSafeEqual(expected, Buffer.from(c, 'hex')) || ok;
  return ok;
}

/**
 * The URL without query or credentials, for error messages: gateway URLs often carry an API key
 * in the query string, and attempt errors are stored and shown to staff.
 */
function safeTarget(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause as (Error & { code?: unknown }) | undefined;
    if (cause instanceof Error) {
      const code = typeof cause.code === 'string' ? cause.code : undefined;
      return code && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message;
    }
    return err.message;
  }
  return String(err);
}

export function createWebhookChannel(opts: WebhookChannelOptions): Channel {
  const url = new URL(opts.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`webhook url must be http or https, got ${url.protocol}`);
  }
  if (!opts.secret) throw new Error('webhook secret must not be empty');
  const now = opts.now ?? Date.now;
  const target = safeTarget(url);

  return {
    name: 'webhook',
    async send(notice: ParcelNotice) {
      const body = JSON.stringify(buildWebhookPayload(notice));
      const t = Math.floor(now() / 1000);
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            [EVENT_HEADER]: notice.kind === 'reminder' ? WEBHOOK_REMINDER_EVENT : WEBHOOK_EVENT,
            [SIGNATURE_HEADER]: signWebhook(opts.secret, body, t),
            'User-Agent': 'Parcelroom-Webhook/1',
          },
          body,
          // A redirect is an answer we did not ask for; following it would hand the signed
          // payload to wherever the Location header points.
          redirect: 'manual',
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (err) {
        if (err instanceof Error && err.name === 'TimeoutError') {
          throw new Error(`webhook ${target}: no response within ${opts.timeoutMs} ms`, {
            cause: err,
          });
        }
        throw new Error(`webhook ${target}: ${describeFetchError(err)}`, { cause: err });
      }
      if (res.status >= 200 && res.status < 300) {
        // The answer's content does not matter; drop it rather than wait for it.
        await res.body?.cancel().catch(() => {});
        return;
      }
      let excerpt = '';
      try {
        excerpt = (await res.text()).replace(/\s+/g, ' ').trim().slice(0, 200);
      } catch {
        // The status is the message; a body that times out or breaks adds nothing.
      }
      const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      throw new Error(`webhook ${target}: ${status}${excerpt ? `: ${excerpt}` : ''}`);
    },
  };
}
