import { randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { newId, pickupCodeRequests, residents, units, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { createLoginLimiter } from '../auth/login.limiter.ts';
import { hashSecret } from '../auth/secret.tokens.ts';
import { clientAddress } from '../http/audit.middleware.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, notFound, readBody } from '../http/errors.ts';
import { escapeHtml, noticeDate } from '../notify/email.template.ts';
import {
  createPickupMailer,
  renderCodeEmail,
  renderLinkEmail,
  type PickupMailer,
} from './pickup.mailer.ts';
import type { PickupCodeService } from './pickup.codes.ts';
import { qrDataUrl } from './qr.image.ts';
import { MAX_HOLD_MS, type VacationHoldService } from './vacation.holds.ts';
import { dayEnd, dayStart } from '../time/zoned.time.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';

/** A fresh-code link works this long, once. */
export const PICKUP_LINK_MS = 15 * 60_000;
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** "a***@example.org": enough for the desk to say where the code went, no more. */
export const maskEmail = (email: string) => {
  const [local = '', domain = ''] = email.split('@');
  return `${local.slice(0, 1)}***@${domain}`;
};

const instant = (field: string) =>
  z.union([
    z.iso.datetime({ offset: true, message: `${field}: an ISO date-time` }),
    z.iso.date({ message: `${field}: a date (YYYY-MM-DD)` }),
  ]);

/**
 * One end of a hold as an instant. A date-only value is a whole day in the building's zone, both
 * ends inclusive: a hold starts when its first day begins and ends when its last day ends ("until
 * the 14th" pauses through the 14th). A date-time is taken as given.
 */
export function holdInstant(timeZone: string, value: string, edge: 'start' | 'end'): number {
  if (value.length !== 10) return Date.parse(value);
  return edge === 'start' ? dayStart(timeZone, value) : dayEnd(timeZone, value);
}

/**
 * A hold's range. Date-only values are days in the building's zone, both inclusive ("from the
 * 1st until the 14th" pauses through the 14th); date-times are taken as given.
 */
const holdBodyFor = (timeZone: string) =>
  z
    .strictObject({
      startsAt: instant('startsAt'),
      endsAt: instant('endsAt'),
      note: z.string().max(200).optional(),
    })
    .transform((b) => ({
      ...b,
      startsAt: holdInstant(timeZone, b.startsAt, 'start'),
      endsAt: holdInstant(timeZone, b.endsAt, 'end'),
    }))
    .refine((b) => b.endsAt > b.startsAt, {
      message: 'endsAt: must not be before startsAt',
      path: ['endsAt'],
    })
    .refine((b) => b.endsAt - b.startsAt <= MAX_HOLD_MS, {
      message: 'endsAt: a hold lasts at most a year',
      path: ['endsAt'],
    });

const requestBody = z.strictObject({
  unit: z.string().trim().min(1, 'unit: required').max(32),
  email: z.string().trim().min(3, 'email: required').max(254),
});

/**
 * The resident's side of pickup codes and vacation holds, and the desk's: a fresh code asked for
 * at the kiosk by unit plus a link to the e-mail on file (never by unit alone), the link page
 * that shows it, the "pause notices" page, and the staff routes for holds and re-sent codes.
 */
export function pickupRoutes(deps: {
  db: Db;
  siteId: string;
  site: SiteConfig;
  clock: Clock;
  log: Logger;
  codes: PickupCodeService;
  holds: VacationHoldService;
  /** Overrides the SMTP mailer (tests); null: no e-mail on this site. */
  mailer?: PickupMailer | null;
}) {
  const { db, siteId, clock, codes, holds } = deps;
  const log = deps.log.child({ component: 'pickup' });
  const mailer = deps.mailer === undefined ? createPickupMailer(deps.site) : deps.mailer;
  const siteName = deps.site.site.name;
  const publicUrl = deps.site.notifications.publicUrl?.replace(/\/+$/, '');
  // Per unit and per kiosk address: a few asks are normal (a typo), a stream is someone probing.
  const limiter = createLoginLimiter({ clock, maxPerEmail: 3, maxPerAddress: 10 });
  const holdBody = holdBodyFor(deps.site.site.timezone);
  const app = new Hono<AppEnv>();

  const sameOrigin = (c: Context<AppEnv>) => {
    const origin = c.req.header('origin');
    if (UNSAFE.has(c.req.method) && origin !== undefined && origin !== new URL(c.req.url).origin)
      throw new ApiError(403, 'cross_origin', 'cross-site request refused');
  };
  const resident = async (id: string) => {
    const [r] = await db
      .select({ id: residents.id, name: residents.name, email: residents.email })
      .from(residents)
      .where(and(eq(residents.id, id), eq(residents.siteId, siteId)));
    if (!r) throw notFound('resident');
    return r;
  };

  // ---- staff -------------------------------------------------------------------------------

  app.get('/residents/:id/holds', requirePermission('residents:read'), async (c) => {
    const r = await resident(c.req.param('id'));
    return c.json({ items: await holds.list(r.id) });
  });

  app.post('/residents/:id/holds', requirePermission('holds:write'), async (c) => {
    const r = await resident(c.req.param('id'));
    const body = await readBody(c, holdBody);
    const p = c.get('principal');
    const hold = await holds.create(
      r.id,
      body,
      p.kind === 'staff' ? `staff:${p.staffId}` : `token:${p.tokenId}`,
    );
    c.set('audit', { action: 'hold.create', targetType: 'vacation_hold', targetId: hold.id });
    return c.json(hold, 201);
  });

  app.delete('/holds/:id', requirePermission('holds:write'), async (c) => {
    const hold = await holds.cancel(c.req.param('id'));
    if (!hold) throw notFound('hold');
    c.set('audit', { action: 'hold.cancel', targetType: 'vacation_hold', targetId: hold.id });
    return c.json(hold);
  });

  app.post('/residents/:id/pickup-code', requirePermission('pickup_codes:write'), async (c) => {
    const r = await resident(c.req.param('id'));
    if (!mailer)
      throw new ApiError(409, 'no_email', 'This site sends no e-mail, so codes cannot be sent.');
    if (!r.email)
      throw new ApiError(409, 'no_email', 'This resident has no e-mail address on file.');
    const issued = await codes.issue(r.id, 'requested');
    if (!issued)
      throw new ApiError(409, 'no_parcels_waiting', 'No parcels are waiting for this resident.');
    await mailer.send(
      r.email,
      renderCodeEmail({ name: r.name, siteName, pickup: await codes.noticePart(issued) }),
    );
    c.set('audit', { action: 'pickup_code.resend', targetType: 'resident', targetId: r.id });
    return c.json(
      {
        pickupCodeId: issued.id,
        sentTo: maskEmail(r.email),
        validUntil: new Date(issued.validUntil).toISOString(),
        packageIds: issued.packageIds,
        supersedes: issued.supersedes,
      },
      201,
    );
  });

  // ---- resident at the kiosk: a fresh code by unit + the e-mail on file ---------------------

  const ANSWER = {
    ok: true,
    message:
      'If that e-mail address is on file for that unit, a link is on its way. ' +
      'Open it on your phone within 15 minutes to see your new code.',
  };

  const sendLink = async (unit: string, email: string, from: string, base: string) => {
    const now = clock.now();
    const [r] = await db
      .select({ id: residents.id, name: residents.name, email: residents.email })
      .from(residents)
      .innerJoin(units, eq(units.id, residents.unitId))
      .where(
        and(
          eq(residents.siteId, siteId),
          eq(residents.status, 'active'),
          sql`lower(${units.label}) = lower(${unit})`,
          sql`lower(trim(${residents.email})) = lower(${email})`,
        ),
      )
      .limit(1);
    if (!r?.email || !mailer) return;
    const token = randomBytes(24).toString('base64url');
    await db.insert(pickupCodeRequests).values({
      id: newId(now),
      siteId,
      residentId: r.id,
      tokenHash: hashSecret(token),
      expiresAt: new Date(now + PICKUP_LINK_MS),
      requestedFrom: from,
    });
    await mailer.send(
      r.email,
      renderLinkEmail({ name: r.name, siteName, url: `${base}/api/pickup/link/${token}` }),
    );
  };

  app.post('/pickup/requests', async (c) => {
    sameOrigin(c);
    const body = await readBody(c, requestBody);
    const address = clientAddress(c.env) ?? 'unknown';
    const unitKey = `unit:${body.unit.toLowerCase()}`;
    const wait = limiter.retryAfterMs(unitKey, address);
    if (wait > 0)
      throw new ApiError(
        429,
        'too_many_requests',
        'Too many requests for a new code. Try again later or ask the desk.',
        undefined,
        { 'Retry-After': String(Math.ceil(wait / 1000)) },
      );
    limiter.recordFailure(unitKey, address);
    const base = publicUrl ?? new URL(c.req.url).origin;
    // Answered before the lookup and the e-mail: the same words and about the same time whether
    // or not the unit has residents, the address is on file, or anything waits.
    void sendLink(body.unit, body.email, address, base).catch((err: unknown) =>
      log.warn('could not send a pickup-code link', { err }),
    );
    return c.json(ANSWER, 202);
  });

  const liveRequest = async (token: string) => {
    if (!/^[A-Za-z0-9_-]{20,64}$/.test(token)) return undefined;
    const [row] = await db
      .select()
      .from(pickupCodeRequests)
      .where(
        and(
          eq(pickupCodeRequests.siteId, siteId),
          eq(pickupCodeRequests.tokenHash, hashSecret(token)),
        ),
      );
    return row;
  };

  // Opening the link only shows a button: mail scanners that fetch every link must not use it up.
  app.get('/pickup/link/:token', async (c) => {
    const row = await liveRequest(c.req.param('token'));
    const state = !row
      ? 'This link is not valid.'
      : row.usedAt
        ? 'This link was already used. Ask the kiosk for a new one.'
        : row.expiresAt.getTime() <= clock.now()
          ? 'This link has expired (links work for 15 minutes). Ask the kiosk for a new one.'
          : null;
    return c.html(linkPage(siteName, state), state ? 404 : 200);
  });

  app.post('/pickup/link/:token', async (c) => {
    sameOrigin(c);
    const row = await liveRequest(c.req.param('token'));
    const now = clock.now();
    if (!row) throw new ApiError(404, 'link_invalid', 'This link is not valid.');
    if (row.expiresAt.getTime() <= now)
      throw new ApiError(
        410,
        'link_expired',
        'This link has expired. Ask the kiosk for a new one.',
      );
    // One use: whoever sets usedAt first gets the code.
    const [claimed] = await db
      .update(pickupCodeRequests)
      .set({ usedAt: new Date(now) })
      .where(
        and(
          eq(pickupCodeRequests.id, row.id),
          isNull(pickupCodeRequests.usedAt),
          gt(pickupCodeRequests.expiresAt, new Date(now)),
        ),
      )
      .returning({ id: pickupCodeRequests.id });
    if (!claimed)
      throw new ApiError(410, 'link_used', 'This link was already used. Ask the kiosk again.');
    const issued = await codes.issue(row.residentId, 'requested');
    if (!issued) return c.json({ code: null, message: 'No parcels are waiting for you now.' });
    return c.json({
      code: issued.code,
      qr: await qrDataUrl(issued.qrText),
      validUntil: new Date(issued.validUntil).toISOString(),
      parcels: issued.packageIds.length,
      supersedes: issued.supersedes,
    });
  });

  // ---- resident: "Away? Pause notices" -------------------------------------------------------

  app.get('/pickup/hold/:token', (c) => {
    const link = holds.verifyLink(c.req.param('token'));
    return c.html(
      holdPage(siteName, link ? null : 'This link is not valid or has expired.'),
      link ? 200 : 404,
    );
  });

  app.post('/pickup/hold/:token', async (c) => {
    sameOrigin(c);
    const link = holds.verifyLink(c.req.param('token'));
    if (!link) throw new ApiError(404, 'link_invalid', 'This link is not valid or has expired.');
    const body = await readBody(c, holdBody);
    if (body.endsAt <= clock.now())
      throw new ApiError(400, 'invalid_body', 'endsAt: must be in the future', 'endsAt');
    const hold = await holds.create(link.residentId, body, 'resident');
    return c.json(
      { id: hold.id, startsAt: hold.startsAt, endsAt: hold.endsAt, note: hold.note },
      201,
    );
  });

  return app;
}

const shell = (siteName: string, body: string, script: string) =>
  [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${escapeHtml(siteName)} parcels</title>`,
    '<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;line-height:1.4;color:#111}',
    'button{font-size:1.2rem;padding:.6rem 1.2rem}.code{font-family:monospace;font-size:3rem;font-weight:bold;letter-spacing:.4rem}',
    'label{display:block;margin:.6rem 0}.err{color:#a00}</style></head><body>',
    `<h1>${escapeHtml(siteName)}</h1>`,
    body,
    script ? `<script>${script}</script>` : '',
    '</body></html>',
  ].join('\n');

function linkPage(siteName: string, problem: string | null): string {
  if (problem) return shell(siteName, `<p class="err">${escapeHtml(problem)}</p>`, '');
  return shell(
    siteName,
    [
      '<p>Your new pickup code replaces the one we sent before.</p>',
      '<button id="show">Show my new code</button>',
      '<div id="out" aria-live="polite"></div>',
    ].join('\n'),
    `document.getElementById('show').onclick=async()=>{const b=document.getElementById('show');b.disabled=true;
const o=document.getElementById('out');const r=await fetch(location.pathname,{method:'POST'});const j=await r.json();
if(!r.ok){o.innerHTML='';const p=document.createElement('p');p.className='err';p.textContent=j.error.message;o.append(p);return}
if(!j.code){o.textContent=j.message;return}
o.innerHTML='<p class="code"></p><img width="240" height="240" alt="QR code for the kiosk"><p class="until"></p>';
o.querySelector('.code').textContent=j.code;o.querySelector('img').src=j.qr;
o.querySelector('.until').textContent='Type it on the door keypad and press #, or show the QR code to the kiosk. It opens the door once, until '+new Date(j.validUntil).toLocaleDateString()+'.';b.remove()};`,
  );
}

function holdPage(siteName: string, problem: string | null): string {
  if (problem) return shell(siteName, `<p class="err">${escapeHtml(problem)}</p>`, '');
  const today = noticeDate(Date.now());
  return shell(
    siteName,
    [
      '<p>Away? We hold your parcel notices and reminders while you are gone, and send one notice when you are back.</p>',
      `<p style="color:#555">Today is ${escapeHtml(today)}.</p>`,
      '<form id="f"><label>From <input type="date" name="startsAt" required></label>',
      '<label>Until <input type="date" name="endsAt" required></label>',
      '<button>Pause notices</button></form><p id="out" aria-live="polite"></p>',
    ].join('\n'),
    `document.getElementById('f').onsubmit=async(e)=>{e.preventDefault();const f=new FormData(e.target);
const r=await fetch(location.pathname,{method:'POST',headers:{'content-type':'application/json'},
body:JSON.stringify({startsAt:f.get('startsAt'),endsAt:f.get('endsAt')})});const j=await r.json();
document.getElementById('out').textContent=r.ok?'Notices paused from '+j.startsAt.slice(0,10)+' until '+j.endsAt.slice(0,10)+'.':j.error.message};`,
  );
}
