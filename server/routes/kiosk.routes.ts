import { and, asc, desc, eq, ilike, isNull, or } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { matchCodeHash, pickupTokenFrom, type Decision } from '../../access/index.ts';
import { accessEvents, carrierCodes, packages, residents, units, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { createLoginLimiter } from '../auth/login.limiter.ts';
import { hashSecret, newSecret } from '../auth/secret.tokens.ts';
import { clientAddress } from '../http/audit.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, readBody, readQuery } from '../http/errors.ts';
import { containsPattern } from '../http/like.ts';
import type { ParcelNotifier } from '../packages/parcel.notifier.ts';
import { checkInBody, type ParcelService } from '../packages/parcel.service.ts';
import { waitingForResident } from '../packages/waiting.parcels.ts';

const KIOSK_COOKIE = 'parcelroom_kiosk';

/** What the resident reads on the kiosk when their pickup code is refused. */
const PICKUP_REFUSALS: Record<string, [401 | 403 | 409 | 410 | 429 | 503, string]> = {
  unknown_credential: [403, 'That code is not valid. Check the e-mail with your code.'],
  pickup_code_used: [409, 'This code was already used. Ask for a new code below.'],
  pickup_code_expired: [410, 'This code has expired. Ask for a new code below.'],
  pickup_code_revoked: [
    410,
    'This code no longer works: a newer code was sent to you, or your parcels were already collected.',
  ],
  keypad_locked: [429, 'Too many wrong codes. Please try again later or ask the desk.'],
  outside_schedule: [403, 'The package room is closed at this hour.'],
  door_fault: [503, 'The door cannot open right now. Please ask the desk.'],
};
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

type KioskSession =
  | {
      kind: 'carrier';
      carrierCodeId: string;
      carrier: string;
      entryEventId: string;
      doorId: string | null;
      lastAt: number;
      /** This visit's check-ins, so the carrier sees what they left (newest first). */
      checkedIn: { id: string; trackingNumber: string; unit: string; location: unknown }[];
    }
  | {
      kind: 'resident';
      residentId: string;
      entryEventId: string;
      doorId: string;
      lastAt: number;
    };

/**
 * The package room's tablet. No staff session: a carrier binds it to their visit by typing the
 * delivery code that opened the door; a resident by badging in at the door and tapping the
 * screen within a short window. Each session sees and does only what its visit allows.
 */
export function kioskRoutes(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  parcels: ParcelService;
  notifier: ParcelNotifier;
  /** Keyed hash of a typed code, to match a carrier's code. */
  hashCode: (code: string) => string;
  /** The last door entry of a carrier code seen by this box (survives a database outage). */
  lastCarrierEntry: (
    carrierCodeId: string,
  ) => { eventId: string; at: number; doorId: string } | undefined;
  /** The last resident let in at a door by their card. */
  lastResidentEntry: (
    doorId: string,
  ) => { eventId: string; at: number; residentId: string } | undefined;
  doors: readonly { id: string; name: string }[];
  /** A carrier may start a kiosk session this long after their code opened the door. */
  kioskEntryWindowMs?: number;
  /** A resident may open their screen this long after their card opened the door. */
  residentEntryWindowMs?: number;
  /** A kiosk session ends after this long without use. */
  kioskIdleMs?: number;
  /**
   * Residents' pickup codes at the kiosk: the doors' decider judges the code or QR token (same
   * rules, one use, lockout per kiosk) and the door runtime opens the strike on a grant.
   */
  pickup?: {
    decide(doorId: string, input: { code: string } | { token: string }): Decision;
    carryOut(decision: Decision): Promise<{ decision: Decision; eventId: string }>;
  };
}) {
  const { db, siteId, clock, parcels } = deps;
  const entryWindowMs = deps.kioskEntryWindowMs ?? 15 * 60_000;
  const residentWindowMs = deps.residentEntryWindowMs ?? 2 * 60_000;
  const idleMs = deps.kioskIdleMs ?? 15 * 60_000;
  const limiter = createLoginLimiter({ clock, maxPerEmail: 5, maxPerAddress: 10 });
  const sessions = new Map<string, KioskSession>();
  // A resident entry opens one kiosk screen; a second tap (someone who followed them in) cannot.
  const claimedEntries = new Set<string>();

  const app = new Hono<AppEnv>();

  const current = (c: Context<AppEnv>) => {
    // Kiosk writes must come from the kiosk's own page (CSRF), on top of SameSite=Strict, which
    // does not stop a sibling subdomain: the same rule as for console sessions.
    const origin = c.req.header('origin');
    if (UNSAFE.has(c.req.method) && origin !== undefined && origin !== new URL(c.req.url).origin)
      throw new ApiError(403, 'cross_origin', 'cross-site request refused');
    const token = getCookie(c, KIOSK_COOKIE);
    const session = token ? sessions.get(hashSecret(token)) : undefined;
    if (!session || clock.now() - session.lastAt > idleMs) {
      if (token) sessions.delete(hashSecret(token));
      throw new ApiError(401, 'no_kiosk_session', 'Start at the kiosk: enter your delivery code.');
    }
    session.lastAt = clock.now();
    return { token: token!, session };
  };
  const carrierSession = (c: Context<AppEnv>) => {
    const { session } = current(c);
    if (session.kind !== 'carrier')
      throw new ApiError(403, 'carrier_only', 'Only a carrier session can check parcels in.');
    return session;
  };
  const residentSession = (c: Context<AppEnv>) => {
    const { session } = current(c);
    if (session.kind !== 'resident')
      throw new ApiError(403, 'resident_only', 'Only a resident session can pick parcels up.');
    return session;
  };
  const open = (c: Context<AppEnv>, session: KioskSession) => {
    const token = newSecret('prk');
    sessions.set(hashSecret(token), session);
    setCookie(c, KIOSK_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/api/kiosk' });
    // Expired sessions of walked-away visitors are dropped as new ones open.
    for (const [k, s] of sessions) if (clock.now() - s.lastAt > idleMs) sessions.delete(k);
  };

  const residentView = async (s: Extract<KioskSession, { kind: 'resident' }>) => {
    const [r] = await db
      .select({ name: residents.name, unit: units.label, unitId: residents.unitId })
      .from(residents)
      .innerJoin(units, eq(units.id, residents.unitId))
      .where(and(eq(residents.id, s.residentId), eq(residents.siteId, siteId)));
    if (!r) throw new ApiError(401, 'no_kiosk_session', 'Badge your card at the door first.');
    // Their own parcels and the ones addressed to their unit without a name.
    const rows = await db
      .select()
      .from(packages)
      .where(waitingForResident(siteId, { id: s.residentId, unitId: r.unitId }))
      .orderBy(asc(packages.checkedInAt), asc(packages.id));
    return {
      kind: 'resident' as const,
      // The screen faces the room: a first name is enough to greet, the unit to confirm.
      name: r.name.split(/\s+/)[0] ?? r.name,
      unit: r.unit,
      doorId: s.doorId,
      idleMinutes: idleMs / 60_000,
      parcels: rows.map((p) => ({
        id: p.id,
        trackingNumber: p.trackingNumber,
        carrier: p.carrier,
        size: p.size,
        location: parcels.where(p.locationId),
        checkedInAt: p.checkedInAt.toISOString(),
      })),
    };
  };

  app.get('/kiosk/session', async (c) => {
    const { session } = current(c);
    switch (session.kind) {
      case 'carrier':
        return c.json({
          kind: 'carrier',
          carrier: session.carrier,
          doorId: session.doorId,
          idleMinutes: idleMs / 60_000,
          checkedIn: session.checkedIn,
        });
      case 'resident':
        return c.json(await residentView(session));
    }
  });

  app.post('/kiosk/session', async (c) => {
    const body = await readBody(
      c,
      z.strictObject({ code: z.string().regex(/^\d{4,16}$/, 'digits only') }),
    );
    const address = clientAddress(c.env) ?? 'unknown';
    const wait = limiter.retryAfterMs('kiosk', address);
    if (wait > 0)
      throw new ApiError(
        429,
        'too_many_attempts',
        'Too many wrong codes. Ask the desk for help.',
        undefined,
        { 'Retry-After': String(Math.ceil(wait / 1000)) },
      );
    const now = clock.now();
    const hash = deps.hashCode(body.code);
    const live = await db
      .select()
      .from(carrierCodes)
      .where(and(eq(carrierCodes.siteId, siteId), isNull(carrierCodes.revokedAt)));
    const code = matchCodeHash(live, hash);
    // The door's own memory first (it works while the database is away), then the log.
    const remembered = code ? deps.lastCarrierEntry(code.id) : undefined;
    const [stored] =
      code && !remembered
        ? await db
            .select({ id: accessEvents.id, at: accessEvents.at, doorId: accessEvents.doorId })
            .from(accessEvents)
            .where(
              and(
                eq(accessEvents.carrierCodeId, code.id),
                eq(accessEvents.type, 'access'),
                eq(accessEvents.decision, 'granted'),
              ),
            )
            .orderBy(desc(accessEvents.at), desc(accessEvents.id))
            .limit(1)
        : [];
    const entry = remembered
      ? { id: remembered.eventId, at: remembered.at, doorId: remembered.doorId }
      : stored
        ? { id: stored.id, at: stored.at.getTime(), doorId: stored.doorId }
        : undefined;
    if (!code || !entry || now - entry.at > entryWindowMs) {
      limiter.recordFailure('kiosk', address);
      // One answer for every refusal: the kiosk must not tell a guesser which codes exist.
      throw new ApiError(
        403,
        'no_carrier_visit',
        'Use your delivery code on the door keypad first, then enter it here.',
        'code',
      );
    }
    open(c, {
      kind: 'carrier',
      carrierCodeId: code.id,
      carrier: code.carrier,
      entryEventId: entry.id,
      doorId: entry.doorId,
      lastAt: now,
      checkedIn: [],
    });
    return c.json({
      kind: 'carrier',
      carrier: code.carrier,
      doorId: entry.doorId,
      idleMinutes: idleMs / 60_000,
    });
  });

  const doorParam = (c: Context<AppEnv>, raw: string | undefined) => {
    if (!raw || !deps.doors.some((d) => d.id === raw))
      throw new ApiError(404, 'not_found', `no door '${raw ?? ''}'`, 'doorId');
    return raw;
  };
  const pendingResident = (doorId: string) => {
    const e = deps.lastResidentEntry(doorId);
    if (!e || claimedEntries.has(e.eventId) || clock.now() - e.at > residentWindowMs)
      return undefined;
    return e;
  };

  // Which doors there are, so a kiosk opened without ?door= stands by the first one.
  app.get('/kiosk/doors', (c) =>
    c.json({ items: deps.doors.map((d) => ({ id: d.id, name: d.name })) }),
  );

  // Polled by the kiosk's start screen: says only whether a resident just came in, not who.
  app.get('/kiosk/door/:doorId', (c) => {
    const doorId = doorParam(c, c.req.param('doorId'));
    return c.json({ residentWaiting: pendingResident(doorId) !== undefined });
  });

  app.post('/kiosk/session/resident', async (c) => {
    const body = await readBody(c, z.strictObject({ doorId: z.string().min(1).max(64) }));
    const doorId = doorParam(c, body.doorId);
    const entry = pendingResident(doorId);
    if (!entry)
      throw new ApiError(
        403,
        'no_resident_visit',
        'Badge your card at the door first, then tap the screen.',
      );
    claimedEntries.add(entry.eventId);
    if (claimedEntries.size > 10_000) claimedEntries.clear();
    const session: KioskSession = {
      kind: 'resident',
      residentId: entry.residentId,
      entryEventId: entry.eventId,
      doorId,
      lastAt: clock.now(),
    };
    open(c, session);
    return c.json(await residentView(session));
  });

  // A pickup code typed at the kiosk, or its QR code scanned (the scanner types the token or the
  // kiosk URL holding it): opens the door once and the resident's screen.
  app.post('/kiosk/session/pickup', async (c) => {
    const body = await readBody(
      c,
      z.union([
        z.strictObject({
          doorId: z.string().min(1).max(64),
          code: z.string().regex(/^\d{6}$/, 'code: the 6 digits from your e-mail'),
        }),
        z.strictObject({ doorId: z.string().min(1).max(64), scan: z.string().min(1).max(512) }),
      ]),
    );
    const doorId = doorParam(c, body.doorId);
    if (!deps.pickup) throw new ApiError(404, 'not_found', 'pickup codes are not enabled here');
    let input: { code: string } | { token: string };
    if ('code' in body) input = { code: body.code };
    else {
      const token = pickupTokenFrom(body.scan);
      // A 6-digit scan is someone typing into the scan field: take it as the code.
      input = token
        ? { token }
        : /^\d{6}$/.test(body.scan.trim())
          ? { code: body.scan.trim() }
          : { token: '' };
    }
    const { decision, eventId } = await deps.pickup.carryOut(deps.pickup.decide(doorId, input));
    if (decision.decision !== 'granted' || !decision.residentId) {
      const [status, message] =
        PICKUP_REFUSALS[decision.reason] ?? PICKUP_REFUSALS.unknown_credential!;
      throw new ApiError(status, decision.reason, message, 'code' in body ? 'code' : 'scan');
    }
    // This entry's screen is opened here; a tap on "see your parcels" cannot open it again.
    claimedEntries.add(eventId);
    const session: KioskSession = {
      kind: 'resident',
      residentId: decision.residentId,
      entryEventId: eventId,
      doorId,
      lastAt: clock.now(),
    };
    open(c, session);
    return c.json({ ...(await residentView(session)), doorOpened: true });
  });

  // Recipients for the carrier: names and units only, at most ten, two letters at least.
  app.get('/kiosk/recipients', async (c) => {
    carrierSession(c);
    const q = readQuery(c, z.strictObject({ q: z.string().trim().min(2).max(40) }));
    const like = containsPattern(q.q);
    const rows = await db
      .select({ id: residents.id, name: residents.name, unit: units.label })
      .from(residents)
      .innerJoin(units, eq(units.id, residents.unitId))
      .where(
        and(
          eq(residents.siteId, siteId),
          eq(residents.status, 'active'),
          or(ilike(residents.name, like), ilike(units.label, like))!,
        ),
      )
      .orderBy(asc(units.label), asc(residents.name))
      .limit(10);
    return c.json({ items: rows });
  });

  app.post('/kiosk/packages', async (c) => {
    const session = carrierSession(c);
    const body = await readBody(c, checkInBody);
    const done = await parcels.checkIn(body, {
      carrierCodeId: session.carrierCodeId,
      entryEventId: session.entryEventId,
    });
    session.checkedIn.unshift({
      id: done.id,
      trackingNumber: done.trackingNumber,
      unit: done.unit,
      location: done.location,
    });
    if (session.checkedIn.length > 500) session.checkedIn.length = 500;
    return c.json(done.response, 201);
  });

  // The resident takes a parcel: tapped on the screen or scanned by its label.
  app.post('/kiosk/pickup', async (c) => {
    const session = residentSession(c);
    const body = await readBody(
      c,
      z.union([
        z.strictObject({ packageId: z.string().min(1).max(64) }),
        z.strictObject({ trackingNumber: z.string().min(1).max(64) }),
      ]),
    );
    const done = await parcels.pickUp(
      'packageId' in body ? { id: body.packageId } : { trackingNumber: body.trackingNumber },
      {
        kind: 'resident',
        residentId: session.residentId,
        entryEventId: session.entryEventId,
        via: 'kiosk',
      },
    );
    return c.json({
      id: done.id,
      trackingNumber: done.trackingNumber,
      status: 'picked_up',
      pickedUpAt: done.pickedUpAt.toISOString(),
    });
  });

  app.post('/kiosk/session/end', (c) => {
    const { token, session } = current(c);
    sessions.delete(hashSecret(token));
    // The carrier is done: residents hear about this visit's parcels now.
    if (session.kind === 'carrier') deps.notifier.flush();
    deleteCookie(c, KIOSK_COOKIE, { path: '/api/kiosk' });
    return c.json({ ok: true });
  });

  return app;
}
