import { and, eq, isNull, lte, or, type SQL } from 'drizzle-orm';
import { packages } from '../../db/index.ts';

/**
 * Parcels in the room that a resident may collect: their own, and the ones addressed to their
 * unit without a name (anyone living there may take those). The kiosk lists them and a pickup
 * code stays valid while any of them waits, so both must mean the same parcels.
 */
export function waitingForResident(siteId: string, resident: { id: string; unitId: string }): SQL {
  return and(
    eq(packages.siteId, siteId),
    eq(packages.status, 'checked_in'),
    or(
      eq(packages.residentId, resident.id),
      and(isNull(packages.residentId), eq(packages.unitId, resident.unitId)),
    ),
  )!;
}

/**
 * Parcels that have waited in the room since `since` or longer: overdue, for the resident
 * reminders and the `parcel.overdue` webhook alike (both count from the check-in).
 */
export function waitingSince(siteId: string, since: Date): SQL {
  return and(
    eq(packages.siteId, siteId),
    eq(packages.status, 'checked_in'),
    lte(packages.checkedInAt, since),
  )!;
}
