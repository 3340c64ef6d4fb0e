import {
  and,
  asc,
  desc,
  eq,
  gte,
  ilike,
  inArray,
  isNull,
  lte,
  or,
  sql,
  type SQL,
} from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { matchCodeHash, type AccessEvent } from '../../access/index.ts';
import {
  accessEvents,
  carrierCodes,
  newId,
  packages,
  residents,
  units,
  type Db,
} from '../../db/index.ts';
import { createLoginLimiter } from '../auth/login.limiter.ts';
import { hashSecret, newSecret } from '../auth/secret.tokens.ts';
import { clientAddress } from '../http/audit.middleware.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { SiteConfig } from '../config/index.ts';
import {
  AssignmentError,
  assignLocation,
  isPlausibleTracking,
  occupancyOf,
  recognizeTracking,
  roomFromSite,
  type LocationKind,
} from '../packages/index.ts';
import type { ParcelNotifier } from '../packages/parcel.notifier.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { createTurns } from '../http/turns.ts';
import { containsPattern } from '../http/like.ts';
import { ApiError, notFound, readBody, readQuery } from '../http/errors.ts';

const checkInBody = z
  .strictObject({
    trackingNumber: z.string().min(1).max(64),
    carrier: z.string().trim().min(1).max(80),
    unit: z.string().trim().min(1).max(32).optional(),
    residentId: z.string().min(1).max(64).optional(),
    size: z.enum(['standard', 'oversized', 'perishable']),
    /** The carrier or staff member put it somewhere else than suggested. */
    location: z.string().min(1).max(64).optional(),
  })
  .refine((b) => (b.unit === undefined) !== (b.residentId === undefined), {
    message: 'give exactly one of unit or residentId',
    path: ['unit'],
  });

const listQuery = z.strictObject({
  status: z.enum(['checked_in', 'picked_up', 'returned']).optional(),
  unit: z.string().max(32).optional(),
  /** Part of a tracking number, a unit or a resident's name. */
  q: z.string().trim().max(80).optional(),
  limit: z.coerce.number().int().min(1).max(2000).default(500),
});

interface LocationInfo {
  kind: LocationKind;
  id: string;
  label: string;
}

/**
 * Check-in, listing and pickup of parcels (the contract's /packages routes). Check-ins take turns
 * in this process so two carriers scanning at once are never given the same locker.
 */
export function packageRoutes(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  site: SiteConfig;
  /** Stores an event through the journal; resolves once it is durable. */
  record: (event: AccessEvent) => Promise<boolean>;
  /** Parcels waiting longer than this are shown as overdue. */
  overdueAfterDays: number;
  notifier: ParcelNotifier;
  /** Keyed hash of a typed code, to match a carrier's code at the kiosk. */
  hashCode: (code: string) => string;
  /** The last door entry of a carrier code seen by this box (survives a database outage). */
  lastCarrierEntry: (
    carrierCodeId: string,
  ) => { eventId: string; at: number; doorId: string } | undefined;
  /** A carrier may start a kiosk session this long after their code opened the door. */
  kioskEntryWindowMs?: number;
  /** A kiosk session ends after this long without a check-in. */
  kioskIdleMs?: number;
}) {
  const { db, siteId, clock } = deps;
  const room = roomFromSite(deps.site.storage);
  const locations = new Map<string, LocationInfo>();
  for (const shelf of room.shelves)
    for (const slot of shelf.slots) locations.set(slot.id, { kind: 'shelf', ...slot });
  for (const l of room.lockers) locations.set(l.id, { kind: 'locker', id: l.id, label: l.label });
  locations.set(room.oversized.id, { kind: 'oversized', ...room.oversized });
  locations.set(room.overflow.id, { kind: 'overflow', ...room.overflow });
  const where = (id: string): LocationInfo =>
    locations.get(id) ?? { kind: 'overflow', id, label: id };

  const inTurn = createTurns();

  const app = new Hono<AppEnv>();

  /**
   * One check-in, by staff at the desk or by a carrier at the kiosk (then tied to the carrier code
   * and the door entry that let them in).
   */
  const checkIn = async (
    body: z.infer<typeof checkInBody>,
    actor: { staffId?: string; carrierCodeId?: string; entryEventId?: string },
  ) => {
    const plausible = isPlausibleTracking(body.trackingNumber);
    if (!plausible.ok) throw new ApiError(400, 'invalid_body', plausible.reason, 'trackingNumber');
    const tracking = recognizeTracking(body.trackingNumber);
    if (tracking.valid === false)
      throw new ApiError(
        400,
        'invalid_tracking',
        `${tracking.carrier ?? 'this'} tracking number does not check: ${tracking.reason ?? 'bad check digit'}`,
        'trackingNumber',
      );

    // Whose parcel: a resident, or a unit when the label names no one in particular.
    let unitId: string;
    let residentId: string | null = null;
    let unitLabel: string;
    if (body.residentId) {
      const [r] = await db
        .select({
          id: residents.id,
          unitId: residents.unitId,
          status: residents.status,
          unit: units.label,
        })
        .from(residents)
        .innerJoin(units, eq(units.id, residents.unitId))
        .where(and(eq(residents.id, body.residentId), eq(residents.siteId, siteId)));
      if (!r) throw new ApiError(404, 'not_found', 'no such resident', 'residentId');
      if (r.status !== 'active')
        throw new ApiError(409, 'resident_moved_out', 'the resident has moved out', 'residentId');
      unitId = r.unitId;
      residentId = r.id;
      unitLabel = r.unit;
    } else {
      const [u] = await db
        .select({ id: units.id, label: units.label })
        .from(units)
        .where(and(eq(units.siteId, siteId), sql`lower(${units.label}) = lower(${body.unit!})`));
      if (!u)
        throw new ApiError(404, 'unknown_unit', `no unit '${body.unit}' in this building`, 'unit');
      unitId = u.id;
      unitLabel = u.label;
    }
    const result = await inTurn('check-in', async () => {
      const inRoom = await db
        .select({
          id: packages.id,
          trackingNumber: packages.trackingNumber,
          locationId: packages.locationId,
          residentId: packages.residentId,
          unitId: packages.unitId,
        })
        .from(packages)
        .where(and(eq(packages.siteId, siteId), eq(packages.status, 'checked_in')))
        .orderBy(asc(packages.checkedInAt), asc(packages.id));
      if (inRoom.some((p) => p.trackingNumber === tracking.normalized))
        throw new ApiError(
          409,
          'duplicate_tracking',
          `parcel ${tracking.normalized} is already in the room`,
          'trackingNumber',
        );
      const residentKey = residentId ?? `unit:${unitId}`;
      const occupied = occupancyOf(
        inRoom.map((p) => ({
          locationId: p.locationId,
          residentKey: p.residentId ?? `unit:${p.unitId}`,
        })),
      );
      let assignment;
      try {
        assignment = assignLocation(
          { size: body.size, residentKey, override: body.location },
          { ...room, occupied },
        );
      } catch (err) {
        if (err instanceof AssignmentError)
          throw new ApiError(
            err.code === 'unknown_location' ? 400 : 409,
            err.code,
            err.message,
            'location',
          );
        throw err;
      }
      const id = newId(clock.now());
      const at = new Date(clock.now());
      await db.insert(packages).values({
        id,
        siteId,
        trackingNumber: tracking.normalized,
        trackingFormat: tracking.format,
        carrier: body.carrier,
        unitId,
        residentId,
        size: body.size,
        locationId: assignment.id,
        checkedInAt: at,
        checkedInByStaffId: actor.staffId ?? null,
        carrierCodeId: actor.carrierCodeId ?? null,
        entryEventId: actor.entryEventId ?? null,
      });
      return { id, at, assignment };
    });

    const { assignment } = result;
    await deps.record({
      id: newId(clock.now()),
      at: result.at.getTime(),
      type: 'package_checked_in',
      packageId: result.id,
      ...(residentId ? { residentId } : {}),
      ...(actor.staffId ? { staffId: actor.staffId } : {}),
      ...(actor.carrierCodeId ? { carrierCodeId: actor.carrierCodeId } : {}),
      details: {
        ...(actor.entryEventId ? { entryEventId: actor.entryEventId } : {}),
        trackingNumber: tracking.normalized,
        carrier: body.carrier,
        unit: unitLabel,
        size: body.size,
        location: { kind: assignment.kind, id: assignment.id, label: assignment.label },
        placement: assignment.reason,
        ...(assignment.flagForStaff ? { flag: assignment.flagForStaff } : {}),
      },
    });
    await deps.notifier.parcelCheckedIn({
      packageId: result.id,
      residentId,
      unitId,
      trackingNumber: tracking.normalized,
      carrier: body.carrier,
      location: { kind: assignment.kind, label: assignment.label },
    });
    return {
      id: result.id,
      trackingNumber: tracking.normalized,
      response: {
        id: result.id,
        location: { kind: assignment.kind, id: assignment.id, label: assignment.label },
        tracking: {
          normalized: tracking.normalized,
          carrier: tracking.carrier,
          format: tracking.format,
          // null: a format we do not know, accepted and marked for staff.
          valid: tracking.valid,
        },
        ...(assignment.flagForStaff ? { flag: assignment.flagForStaff } : {}),
      },
    };
  };

  app.post('/packages', requirePermission('packages:write'), async (c) => {
    const body = await readBody(c, checkInBody);
    const principal = c.get('principal');
    const done = await checkIn(
      body,
      principal.kind === 'staff' ? { staffId: principal.staffId } : {},
    );
    c.set('audit', {
      action: 'package.check_in',
      targetType: 'package',
      targetId: done.id,
      details: { trackingNumber: done.trackingNumber, location: done.response.location.id },
    });
    return c.json(done.response, 201);
  });

  app.get('/packages', requirePermission('packages:read'), async (c) => {
    const q = readQuery(c, listQuery);
    const filters: SQL[] = [eq(packages.siteId, siteId)];
    if (q.status) filters.push(eq(packages.status, q.status));
    if (q.unit) filters.push(eq(units.label, q.unit));
    if (q.q) {
      const like = containsPattern(q.q);
      filters.push(
        or(
          ilike(packages.trackingNumber, like.replace(/[\s-]/g, '')),
          ilike(units.label, like),
          ilike(residents.name, like),
        )!,
      );
    }
    const rows = await db
      .select({ p: packages, unit: units.label, residentName: residents.name })
      .from(packages)
      .innerJoin(units, eq(units.id, packages.unitId))
      .leftJoin(residents, eq(residents.id, packages.residentId))
      .where(and(...filters))
      .orderBy(desc(packages.checkedInAt), desc(packages.id))
      .limit(q.limit);
    return c.json({
      items: rows.map(({ p, unit, residentName }) => ({
        id: p.id,
        trackingNumber: p.trackingNumber,
        carrier: p.carrier,
        status: p.status,
        size: p.size,
        unit,
        ...(p.residentId ? { residentId: p.residentId } : {}),
        ...(residentName ? { residentName } : {}),
        location: where(p.locationId),
        checkedInAt: p.checkedInAt.toISOString(),
        ...(p.pickedUpAt ? { pickedUpAt: p.pickedUpAt.toISOString() } : {}),
      })),
    });
  });

  app.post('/packages/:id/pickup', requirePermission('packages:write'), async (c) => {
    const id = c.req.param('id');
    const principal = c.get('principal');
    const now = new Date(clock.now());
    const updated = await db
      .update(packages)
      .set({
        status: 'picked_up',
        pickedUpAt: now,
        pickedUpByStaffId: principal.kind === 'staff' ? principal.staffId : null,
      })
      .where(
        and(eq(packages.id, id), eq(packages.siteId, siteId), eq(packages.status, 'checked_in')),
      )
      .returning();
    const row = updated[0];
    if (!row) {
      const [exists] = await db
        .select({ status: packages.status })
        .from(packages)
        .where(and(eq(packages.id, id), eq(packages.siteId, siteId)));
      if (!exists) throw notFound('package');
      throw new ApiError(409, 'not_in_room', `the package is ${exists.status.replace('_', ' ')}`);
    }
    await deps.record({
      id: newId(clock.now()),
      at: now.getTime(),
      type: 'package_picked_up',
      packageId: id,
      ...(row.residentId ? { residentId: row.residentId } : {}),
      ...(principal.kind === 'staff' ? { staffId: principal.staffId } : {}),
      details: { trackingNumber: row.trackingNumber, location: where(row.locationId) },
    });
    c.set('audit', { action: 'package.pickup', targetType: 'package', targetId: id });
    return c.json({ id, status: 'picked_up', pickedUpAt: now.toISOString() });
  });

  // --- The kiosk: carriers check parcels in themselves, bound to the visit their code opened. ---
  const KIOSK_COOKIE = 'parcelroom_kiosk';
  const entryWindowMs = deps.kioskEntryWindowMs ?? 15 * 60_000;
  const idleMs = deps.kioskIdleMs ?? 15 * 60_000;
  const kioskLimiter = createLoginLimiter({ clock, maxPerEmail: 5, maxPerAddress: 10 });
  const kioskSessions = new Map<
    string,
    {
      carrierCodeId: string;
      carrier: string;
      entryEventId: string;
      doorId: string | null;
      lastAt: number;
    }
  >();
  const kioskSession = (c: Context<AppEnv>) => {
    const token = getCookie(c, KIOSK_COOKIE);
    const session = token ? kioskSessions.get(hashSecret(token)) : undefined;
    if (!session || clock.now() - session.lastAt > idleMs) {
      if (token) kioskSessions.delete(hashSecret(token));
      throw new ApiError(401, 'no_kiosk_session', 'enter your delivery code at the kiosk first');
    }
    session.lastAt = clock.now();
    return { token: token!, session };
  };

  app.post('/kiosk/session', async (c) => {
    const body = await readBody(
      c,
      z.strictObject({ code: z.string().regex(/^\d{4,16}$/, 'digits only') }),
    );
    const address = clientAddress(c.env) ?? 'unknown';
    const wait = kioskLimiter.retryAfterMs('kiosk', address);
    if (wait > 0)
      throw new ApiError(
        429,
        'too_many_attempts',
        'Too many wrong codes. Ask the desk for help.',
        undefined,
        {
          'Retry-After': String(Math.ceil(wait / 1000)),
        },
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
      kioskLimiter.recordFailure('kiosk', address);
      // One answer for every refusal: the kiosk must not tell a guesser which codes exist.
      throw new ApiError(
        403,
        'no_carrier_visit',
        'Use your delivery code on the door keypad first, then enter it here.',
        'code',
      );
    }
    const token = newSecret('prk');
    kioskSessions.set(hashSecret(token), {
      carrierCodeId: code.id,
      carrier: code.carrier,
      entryEventId: entry.id,
      doorId: entry.doorId,
      lastAt: now,
    });
    setCookie(c, KIOSK_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/api/kiosk' });
    return c.json({ carrier: code.carrier, doorId: entry.doorId, idleMinutes: idleMs / 60_000 });
  });

  // Recipients for the kiosk: names and units only, at most ten, two letters at least.
  app.get('/kiosk/recipients', async (c) => {
    kioskSession(c);
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
    const { session } = kioskSession(c);
    const body = await readBody(c, checkInBody);
    const done = await checkIn(body, {
      carrierCodeId: session.carrierCodeId,
      entryEventId: session.entryEventId,
    });
    return c.json(done.response, 201);
  });

  app.post('/kiosk/session/end', (c) => {
    const { token } = kioskSession(c);
    kioskSessions.delete(hashSecret(token));
    // The carrier is done: residents hear about this visit's parcels now.
    deps.notifier.flush();
    deleteCookie(c, KIOSK_COOKIE, { path: '/api/kiosk' });
    return c.json({ ok: true });
  });

  // Notices given up on after every retry: staff call or knock instead.
  app.get('/notifications/failures', requirePermission('packages:read'), (c) =>
    c.json({ channels: deps.notifier.channels, items: deps.notifier.failures() }),
  );

  // The storage board: every place in the room with what is in it, oldest first.
  app.get('/storage', requirePermission('packages:read'), async (c) => {
    const rows = await db
      .select({ p: packages, unit: units.label, residentName: residents.name })
      .from(packages)
      .innerJoin(units, eq(units.id, packages.unitId))
      .leftJoin(residents, eq(residents.id, packages.residentId))
      .where(and(eq(packages.siteId, siteId), eq(packages.status, 'checked_in')))
      .orderBy(asc(packages.checkedInAt), asc(packages.id));
    const now = clock.now();
    const overdueMs = deps.overdueAfterDays * 86_400_000;
    const byLocation = new Map<string, unknown[]>();
    for (const { p, unit, residentName } of rows) {
      const ageMs = now - p.checkedInAt.getTime();
      const list = byLocation.get(p.locationId) ?? [];
      list.push({
        id: p.id,
        trackingNumber: p.trackingNumber,
        carrier: p.carrier,
        size: p.size,
        unit,
        ...(residentName ? { residentName } : {}),
        checkedInAt: p.checkedInAt.toISOString(),
        ageHours: Math.floor(ageMs / 3_600_000),
        overdue: ageMs >= overdueMs,
      });
      byLocation.set(p.locationId, list);
    }
    const items = (id: string) => byLocation.get(id) ?? [];
    return c.json({
      overdueAfterDays: deps.overdueAfterDays,
      shelves: room.shelves.map((shelf) => ({
        id: shelf.id,
        label: deps.site.storage.shelves.find((s) => s.id === shelf.id)?.label ?? shelf.id,
        slots: shelf.slots.map((slot) => ({
          id: slot.id,
          label: slot.label,
          items: items(slot.id),
        })),
      })),
      lockers: room.lockers.map((l) => ({ ...l, items: items(l.id) })),
      oversized: { ...room.oversized, items: items(room.oversized.id) },
      overflow: { ...room.overflow, items: items(room.overflow.id) },
    });
  });

  // One parcel's chain of custody, as far as it is recorded so far.
  app.get('/packages/:id/timeline', requirePermission('packages:read'), async (c) => {
    const id = c.req.param('id');
    const [row] = await db
      .select({ p: packages, unit: units.label })
      .from(packages)
      .innerJoin(units, eq(units.id, packages.unitId))
      .where(and(eq(packages.id, id), eq(packages.siteId, siteId)));
    if (!row) throw notFound('package');
    const { p } = row;
    const own = await db
      .select()
      .from(accessEvents)
      .where(and(eq(accessEvents.siteId, siteId), eq(accessEvents.packageId, id)))
      .orderBy(asc(accessEvents.at), asc(accessEvents.id));
    // Door entries of the owner while the parcel waited.
    const until = p.pickedUpAt ?? p.returnedAt ?? new Date(clock.now());
    const entries = p.residentId
      ? await db
          .select()
          .from(accessEvents)
          .where(
            and(
              eq(accessEvents.siteId, siteId),
              eq(accessEvents.residentId, p.residentId),
              inArray(accessEvents.type, ['access', 'door_opened']),
              gte(accessEvents.at, p.checkedInAt),
              lte(accessEvents.at, until),
            ),
          )
          .orderBy(asc(accessEvents.at), asc(accessEvents.id))
      : [];
    const items = [...own, ...entries]
      .sort((a, b) => a.at.getTime() - b.at.getTime() || a.id.localeCompare(b.id))
      .map((e) => ({
        id: e.id,
        at: e.at.toISOString(),
        type: e.type,
        ...(e.doorId ? { doorId: e.doorId } : {}),
        ...(e.decision ? { decision: e.decision } : {}),
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.carrierCodeId ? { carrierCodeId: e.carrierCodeId } : {}),
        ...(e.staffId ? { staffId: e.staffId } : {}),
        details: e.details,
      }));
    return c.json({
      package: {
        id: p.id,
        trackingNumber: p.trackingNumber,
        carrier: p.carrier,
        unit: row.unit,
        status: p.status,
        location: where(p.locationId),
        checkedInAt: p.checkedInAt.toISOString(),
        ...(p.pickedUpAt ? { pickedUpAt: p.pickedUpAt.toISOString() } : {}),
      },
      items,
    });
  });

  return app;
}
