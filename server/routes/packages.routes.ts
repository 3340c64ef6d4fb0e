import {
  and,
  arrayContains,
  asc,
  desc,
  eq,
  gte,
  ilike,
  inArray,
  lte,
  or,
  type SQL,
} from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import {
  accessEvents,
  notificationAttempts,
  packages,
  residents,
  units,
  type Db,
} from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { SiteConfig } from '../config/index.ts';
import { roomFromSite } from '../packages/index.ts';
import type { ParcelNotifier } from '../packages/parcel.notifier.ts';
import { checkInBody, type LocationInfo, type ParcelService } from '../packages/parcel.service.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { containsPattern } from '../http/like.ts';
import { notFound, readBody, readOptionalBody, readQuery } from '../http/errors.ts';

const listQuery = z.strictObject({
  status: z.enum(['checked_in', 'picked_up', 'returned']).optional(),
  unit: z.string().max(32).optional(),
  /** Part of a tracking number, a unit or a resident's name. */
  q: z.string().trim().max(80).optional(),
  residentId: z.string().max(64).optional(),
  /** Waiting (or waited) at least this many days. */
  minAgeDays: z.coerce.number().int().min(0).max(3650).optional(),
  /** Only parcels past the overdue line (still in the room). */
  overdue: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(2000).default(500),
});

const pickupBody = z.strictObject({
  /** The resident collecting at the desk; refused (wrong_pickup) if it is not theirs. */
  residentId: z.string().min(1).max(64).optional(),
  /** Someone the resident sent, as they gave their name at the desk. */
  handedTo: z.string().trim().min(1).max(120).optional(),
});

const returnBody = z.strictObject({
  reason: z.string().trim().min(1).max(200).optional(),
});

type PackageRow = typeof packages.$inferSelect;

/** The contract's package fields plus what staff need to see. */
export function packageView(p: PackageRow, where: (id: string) => LocationInfo) {
  return {
    id: p.id,
    trackingNumber: p.trackingNumber,
    carrier: p.carrier,
    status: p.status,
    size: p.size,
    location: where(p.locationId),
    checkedInAt: p.checkedInAt.toISOString(),
    ...(p.residentId ? { residentId: p.residentId } : {}),
    ...(p.pickedUpAt ? { pickedUpAt: p.pickedUpAt.toISOString() } : {}),
    ...(p.returnedAt ? { returnedAt: p.returnedAt.toISOString() } : {}),
    ...(p.handedTo ? { handedTo: p.handedTo } : {}),
  };
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
  parcels: ParcelService;
  /** Parcels waiting longer than this are shown as overdue. */
  overdueAfterDays: number;
  /** Parcels waiting longer than this are in the return-to-sender queue. */
  returnAfterDays: number;
  notifier: ParcelNotifier;
}) {
  const { db, siteId, clock, parcels } = deps;
  const { where } = parcels;
  const room = roomFromSite(deps.site.storage);
  const app = new Hono<AppEnv>();
  // The video that belongs to a door entry: a few seconds before to half a minute after.
  const clipWindowOf = (at: number, doorId: string | null) => {
    const door = deps.site.doors.find((d) => d.id === doorId);
    const before = door?.clipBeforeMs ?? 5_000;
    const after = door?.clipAfterMs ?? 30_000;
    return { from: new Date(at - before).toISOString(), to: new Date(at + after).toISOString() };
  };

  app.post('/packages', requirePermission('packages:write'), async (c) => {
    const body = await readBody(c, checkInBody);
    const principal = c.get('principal');
    const done = await parcels.checkIn(
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
    if (q.residentId) filters.push(eq(packages.residentId, q.residentId));
    const ageDays = q.overdue === 'true' ? deps.overdueAfterDays : q.minAgeDays;
    if (ageDays !== undefined)
      filters.push(lte(packages.checkedInAt, new Date(clock.now() - ageDays * 86_400_000)));
    if (q.overdue === 'true') filters.push(eq(packages.status, 'checked_in'));
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
        ...packageView(p, where),
        unit,
        ...(residentName ? { residentName } : {}),
        overdue:
          p.status === 'checked_in' &&
          clock.now() - p.checkedInAt.getTime() >= deps.overdueAfterDays * 86_400_000,
      })),
    });
  });

  // Desk hand-over or a pickup recorded through the API: who handed it over is the principal.
  app.post('/packages/:id/pickup', requirePermission('packages:write'), async (c) => {
    const id = c.req.param('id');
    const body = await readOptionalBody(c, pickupBody);
    const principal = c.get('principal');
    const done = await parcels.pickUp(
      { id },
      {
        kind: 'staff',
        staffId: principal.kind === 'staff' ? principal.staffId : null,
        ...(body.residentId ? { residentId: body.residentId } : {}),
        ...(body.handedTo ? { handedTo: body.handedTo } : {}),
        via: principal.kind === 'staff' ? 'desk' : 'api',
      },
    );
    c.set('audit', {
      action: 'package.pickup',
      targetType: 'package',
      targetId: id,
      ...(body.handedTo ? { details: { handedTo: body.handedTo } } : {}),
    });
    return c.json({ id, status: 'picked_up', pickedUpAt: done.pickedUpAt.toISOString() });
  });

  // Return to sender: staff hand an uncollected parcel back to its carrier.
  app.post('/packages/:id/return', requirePermission('packages:write'), async (c) => {
    const id = c.req.param('id');
    const body = await readOptionalBody(c, returnBody);
    const principal = c.get('principal');
    const done = await parcels.returnToSender(
      id,
      principal.kind === 'staff' ? principal.staffId : null,
      body.reason,
    );
    c.set('audit', { action: 'package.return', targetType: 'package', targetId: id });
    return c.json({ id, status: 'returned', returnedAt: done.returnedAt.toISOString() });
  });

  // The return-to-sender queue: parcels waiting `returnAfterDays` or longer, oldest first.
  app.get('/packages/returns', requirePermission('packages:read'), async (c) => {
    const cutoff = new Date(clock.now() - deps.returnAfterDays * 86_400_000);
    const rows = await db
      .select({ p: packages, unit: units.label, residentName: residents.name })
      .from(packages)
      .innerJoin(units, eq(units.id, packages.unitId))
      .leftJoin(residents, eq(residents.id, packages.residentId))
      .where(
        and(
          eq(packages.siteId, siteId),
          eq(packages.status, 'checked_in'),
          lte(packages.checkedInAt, cutoff),
        ),
      )
      .orderBy(asc(packages.checkedInAt), asc(packages.id));
    return c.json({
      returnAfterDays: deps.returnAfterDays,
      items: rows.map(({ p, unit, residentName }) => ({
        ...packageView(p, where),
        unit,
        ...(residentName ? { residentName } : {}),
        waitingDays: Math.floor((clock.now() - p.checkedInAt.getTime()) / 86_400_000),
        reminders: p.reminders,
        ...(p.remindedAt ? { remindedAt: p.remindedAt.toISOString() } : {}),
      })),
    });
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
    // Door entries of the owner (or, for a parcel addressed to a unit, of everyone living
    // there) while the parcel waited, and the carrier's entry that brought it in.
    const until = p.pickedUpAt ?? p.returnedAt ?? new Date(clock.now());
    const owners = p.residentId
      ? [p.residentId]
      : (
          await db
            .select({ id: residents.id })
            .from(residents)
            .where(and(eq(residents.siteId, siteId), eq(residents.unitId, p.unitId)))
        ).map((r) => r.id);
    const entries = owners.length
      ? await db
          .select()
          .from(accessEvents)
          .where(
            and(
              eq(accessEvents.siteId, siteId),
              inArray(accessEvents.residentId, owners),
              inArray(accessEvents.type, ['access', 'door_opened']),
              gte(accessEvents.at, p.checkedInAt),
              lte(accessEvents.at, until),
            ),
          )
          .orderBy(asc(accessEvents.at), asc(accessEvents.id))
      : [];
    const carrierEntry = p.entryEventId
      ? await db
          .select()
          .from(accessEvents)
          .where(and(eq(accessEvents.siteId, siteId), eq(accessEvents.id, p.entryEventId)))
      : [];
    const attempts = await db
      .select()
      .from(notificationAttempts)
      .where(
        and(
          eq(notificationAttempts.siteId, siteId),
          arrayContains(notificationAttempts.packageIds, [id]),
        ),
      )
      .orderBy(asc(notificationAttempts.at), asc(notificationAttempts.id));
    const seen = new Set<string>();
    const events = [...carrierEntry, ...own, ...entries].filter((e) =>
      seen.has(e.id) ? false : (seen.add(e.id), true),
    );
    const items = [
      ...events.map((e) => ({
        id: e.id,
        at: e.at.toISOString(),
        type: e.type as string,
        ...(e.doorId ? { doorId: e.doorId } : {}),
        ...(e.decision ? { decision: e.decision } : {}),
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.residentId ? { residentId: e.residentId } : {}),
        ...(e.carrierCodeId ? { carrierCodeId: e.carrierCodeId } : {}),
        ...(e.staffId ? { staffId: e.staffId } : {}),
        ...(e.cameraId ? { cameraId: e.cameraId } : {}),
        ...(e.type === 'access' || e.type === 'door_opened' || e.type === 'parcel_seen_taken'
          ? { clipWindow: clipWindowOf(e.at.getTime(), e.doorId) }
          : {}),
        details: e.details,
      })),
      ...attempts.map((a) => ({
        id: a.id,
        at: a.at.toISOString(),
        type: 'notified',
        ...(a.residentId ? { residentId: a.residentId } : {}),
        details: {
          notice: a.kind,
          channel: a.channel,
          attempt: a.attempt,
          ok: a.ok,
          ...(a.error ? { error: a.error } : {}),
          ...(a.nextAttemptAt ? { nextAttemptAt: a.nextAttemptAt.toISOString() } : {}),
        },
      })),
    ].sort((x, y) => x.at.localeCompare(y.at) || x.id.localeCompare(y.id));
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
        ...(p.returnedAt ? { returnedAt: p.returnedAt.toISOString() } : {}),
        ...(p.carrierCodeId ? { carrierCodeId: p.carrierCodeId } : {}),
        ...(p.entryEventId ? { entryEventId: p.entryEventId } : {}),
        ...(p.handedTo ? { handedTo: p.handedTo } : {}),
      },
      items,
    });
  });

  return app;
}
