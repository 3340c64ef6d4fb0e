import { and, asc, eq, isNull, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { AccessEvent } from '../../access/index.ts';
import { newId, packages, residents, units, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { SiteConfig } from '../config/index.ts';
import { ApiError, notFound } from '../http/errors.ts';
import type { ParcelNotifier } from './parcel.notifier.ts';
import {
  AssignmentError,
  assignLocation,
  isPlausibleTracking,
  normalizeTracking,
  occupancyOf,
  recognizeTracking,
  roomFromSite,
  type LocationKind,
} from './index.ts';

export const checkInBody = z
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
export type CheckInBody = z.infer<typeof checkInBody>;

export interface LocationInfo {
  kind: LocationKind;
  id: string;
  label: string;
  /** For a shelf slot, the shelf's own label ("Shelf B"), so people find the slot. */
  shelf?: string;
}

/** Who checks a parcel in: staff at the desk, or a carrier at the kiosk during their visit. */
export interface CheckInActor {
  staffId?: string;
  carrierCodeId?: string;
  entryEventId?: string;
}

/**
 * Who takes a parcel out: the resident at the kiosk (their own door entry), or staff handing it
 * over at the desk, to the resident (named or not) or to someone the resident sent.
 */
export type PickupActor =
  | { kind: 'resident'; residentId: string; entryEventId?: string; via: 'kiosk' }
  | {
      kind: 'staff';
      staffId: string | null;
      /** The resident collecting at the desk, when staff name them; checked like a kiosk pickup. */
      residentId?: string;
      /** Someone else the resident sent (a neighbour, a partner): written down as said. */
      handedTo?: string;
      via: 'desk' | 'api';
    };

export interface CheckInResult {
  id: string;
  trackingNumber: string;
  unit: string;
  location: LocationInfo;
  response: {
    id: string;
    location: LocationInfo;
    tracking: {
      normalized: string;
      carrier: string | null;
      format: string | null;
      valid: boolean | null;
    };
    flag?: string;
  };
}

export interface ParcelService {
  readonly locations: ReadonlyMap<string, LocationInfo>;
  where(locationId: string): LocationInfo;
  checkIn(body: CheckInBody, actor: CheckInActor): Promise<CheckInResult>;
  /** Refuses another resident's parcel with 403 wrong_pickup, recording the attempt. */
  pickUp(
    ref: { id: string } | { trackingNumber: string },
    actor: PickupActor,
  ): Promise<{ id: string; trackingNumber: string; pickedUpAt: Date }>;
  returnToSender(
    id: string,
    staffId: string | null,
    reason: string | undefined,
  ): Promise<{ id: string; returnedAt: Date }>;
  /** Active residents with a parcel waiting for them or for their unit. */
  residentsWithParcels(): Promise<string[]>;
}

/**
 * The parcel lifecycle shared by the staff API and the kiosk: check-in (location, chain of
 * custody to the carrier's door entry, notice), pickup (only by its owner, or handed over by
 * staff) and return to sender. Check-ins take turns in this process so two carriers scanning at
 * once are never given the same locker.
 */
export function createParcelService(deps: {
  db: Db;
  site: SiteConfig;
  clock: Clock;
  /** Stores an event through the journal; resolves once it is durable. */
  record: (event: AccessEvent) => Promise<boolean>;
  notifier: ParcelNotifier;
  /** Parcels came or went: the door's "only with parcels waiting" rule needs to know. */
  onParcelsChange?: () => void;
}): ParcelService {
  const { db, clock } = deps;
  const siteId = deps.site.site.id;
  const room = roomFromSite(deps.site.storage);
  const locations = new Map<string, LocationInfo>();
  for (const shelf of room.shelves) {
    const shelfLabel = deps.site.storage.shelves.find((s) => s.id === shelf.id)?.label ?? shelf.id;
    for (const slot of shelf.slots)
      locations.set(slot.id, { kind: 'shelf', id: slot.id, label: slot.label, shelf: shelfLabel });
  }
  for (const l of room.lockers) locations.set(l.id, { kind: 'locker', id: l.id, label: l.label });
  locations.set(room.oversized.id, { kind: 'oversized', ...room.oversized });
  locations.set(room.overflow.id, { kind: 'overflow', ...room.overflow });
  const where = (id: string): LocationInfo =>
    locations.get(id) ?? { kind: 'overflow', id, label: id };
  const changed = () => deps.onParcelsChange?.();

  // One queue: a check-in reads the room's occupancy and writes its choice before the next reads.
  let queue: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const checkIn = async (body: CheckInBody, actor: CheckInActor): Promise<CheckInResult> => {
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
    const result = await inTurn(async () => {
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
      // One household's parcels sit together: slots are keyed by unit, whoever they name.
      const occupied = occupancyOf(
        inRoom.map((p) => ({ locationId: p.locationId, residentKey: `unit:${p.unitId}` })),
      );
      let assignment;
      try {
        assignment = assignLocation(
          { size: body.size, residentKey: `unit:${unitId}`, override: body.location },
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
    changed();

    const { assignment } = result;
    const location = where(assignment.id);
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
        location,
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
      unit: unitLabel,
      location,
      response: {
        id: result.id,
        location,
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

  const pickUp: ParcelService['pickUp'] = async (ref, actor) => {
    const [p] = await db
      .select()
      .from(packages)
      .where(
        and(
          eq(packages.siteId, siteId),
          'id' in ref
            ? eq(packages.id, ref.id)
            : and(
                eq(packages.trackingNumber, normalizeTracking(ref.trackingNumber)),
                eq(packages.status, 'checked_in'),
              ),
        ),
      )
      .limit(1);
    if (!p)
      throw 'id' in ref
        ? notFound('package')
        : new ApiError(
            404,
            'not_found',
            'No parcel with this tracking number is waiting here.',
            'trackingNumber',
          );
    if (p.status !== 'checked_in')
      throw new ApiError(409, 'not_in_room', `the package is ${p.status.replace('_', ' ')}`);

    // The one collecting must be its owner or live in its unit (a household shares parcels).
    const takerId = actor.residentId;
    if (takerId !== undefined && takerId !== p.residentId) {
      const [taker] = await db
        .select({ unitId: residents.unitId, status: residents.status })
        .from(residents)
        .where(and(eq(residents.id, takerId), eq(residents.siteId, siteId)));
      if (!taker) throw new ApiError(404, 'not_found', 'no such resident', 'residentId');
      if (taker.unitId !== p.unitId || taker.status !== 'active') {
        const [owner] = await db
          .select({ label: units.label })
          .from(units)
          .where(eq(units.id, p.unitId));
        await deps.record({
          id: newId(clock.now()),
          at: clock.now(),
          type: 'wrong_pickup',
          packageId: p.id,
          residentId: takerId,
          ...(actor.kind === 'staff' && actor.staffId ? { staffId: actor.staffId } : {}),
          details: {
            trackingNumber: p.trackingNumber,
            via: actor.via,
            ownerUnit: owner?.label ?? null,
            ...(p.residentId ? { ownerResidentId: p.residentId } : {}),
            location: where(p.locationId),
            ...(actor.kind === 'resident' && actor.entryEventId
              ? { entryEventId: actor.entryEventId }
              : {}),
          },
        });
        throw new ApiError(
          403,
          'wrong_pickup',
          'This parcel is for someone else. Please put it back; the desk has been told.',
        );
      }
    }

    const now = new Date(clock.now());
    const updated = await db
      .update(packages)
      .set({
        status: 'picked_up',
        pickedUpAt: now,
        pickedUpByResidentId: takerId ?? null,
        pickedUpByStaffId: actor.kind === 'staff' ? actor.staffId : null,
        handedTo: actor.kind === 'staff' ? (actor.handedTo ?? null) : null,
      })
      .where(and(eq(packages.id, p.id), eq(packages.status, 'checked_in')))
      .returning({ id: packages.id });
    if (!updated[0]) throw new ApiError(409, 'not_in_room', 'the package was just picked up');
    changed();
    await deps.record({
      id: newId(now.getTime()),
      at: now.getTime(),
      type: 'package_picked_up',
      packageId: p.id,
      ...(takerId ? { residentId: takerId } : p.residentId ? { residentId: p.residentId } : {}),
      ...(actor.kind === 'staff' && actor.staffId ? { staffId: actor.staffId } : {}),
      details: {
        trackingNumber: p.trackingNumber,
        location: where(p.locationId),
        by: actor.kind,
        via: actor.via,
        ...(actor.kind === 'staff' && actor.handedTo ? { handedTo: actor.handedTo } : {}),
        ...(actor.kind === 'resident' && actor.entryEventId
          ? { entryEventId: actor.entryEventId }
          : {}),
      },
    });
    return { id: p.id, trackingNumber: p.trackingNumber, pickedUpAt: now };
  };

  const returnToSender: ParcelService['returnToSender'] = async (id, staffId, reason) => {
    const now = new Date(clock.now());
    const [row] = await db
      .update(packages)
      .set({ status: 'returned', returnedAt: now, returnedByStaffId: staffId })
      .where(
        and(eq(packages.id, id), eq(packages.siteId, siteId), eq(packages.status, 'checked_in')),
      )
      .returning();
    if (!row) {
      const [exists] = await db
        .select({ status: packages.status })
        .from(packages)
        .where(and(eq(packages.id, id), eq(packages.siteId, siteId)));
      if (!exists) throw notFound('package');
      throw new ApiError(409, 'not_in_room', `the package is ${exists.status.replace('_', ' ')}`);
    }
    changed();
    await deps.record({
      id: newId(now.getTime()),
      at: now.getTime(),
      type: 'package_returned',
      packageId: id,
      ...(row.residentId ? { residentId: row.residentId } : {}),
      ...(staffId ? { staffId } : {}),
      details: {
        trackingNumber: row.trackingNumber,
        carrier: row.carrier,
        location: where(row.locationId),
        ...(reason ? { reason } : {}),
      },
    });
    return { id, returnedAt: now };
  };

  const residentsWithParcels = async (): Promise<string[]> => {
    const rows = await db
      .selectDistinct({ id: residents.id })
      .from(packages)
      .innerJoin(
        residents,
        or(
          eq(residents.id, packages.residentId),
          and(isNull(packages.residentId), eq(residents.unitId, packages.unitId)),
        ),
      )
      .where(
        and(
          eq(packages.siteId, siteId),
          eq(packages.status, 'checked_in'),
          eq(residents.status, 'active'),
        ),
      );
    return rows.map((r) => r.id);
  };

  return { locations, where, checkIn, pickUp, returnToSender, residentsWithParcels };
}
