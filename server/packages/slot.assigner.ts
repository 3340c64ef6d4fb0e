/**
 * Where a parcel goes when it is checked in. Staff (or the courier) put it where this says, and
 * the resident is told that place, so the policy favours what makes pickup quick: one resident's
 * parcels together, shelves filling evenly so no shelf becomes a heap, cold lockers kept for
 * perishables, and the overflow area only when nothing that fits is free.
 *
 * Policy:
 * - standard
 *   1. Joins a shelf slot that already holds this resident's parcels, while it holds fewer than
 *      `slotCapacity` (default 3); the first such slot in the order the site file lists them.
 *   2. If all their slots are full: the free slot nearest to their parcels on the same shelf (the
 *      adjacent slot when it is free; equal distance goes to the slot listed first).
 *   3. A resident with nothing on the shelves (or whose shelf is full): the first free slot of the
 *      least-filled shelf, measured as the share of its slots in use, so shelves of different
 *      lengths fill evenly; equal shares go to the shelf listed first.
 *   4. No free slot: the smallest free locker that is not refrigerated (small, medium, large).
 *   5. Nothing free: the overflow area.
 * - oversized: the oversized area, which has no limit. With `oversizedToLargeLocker`, a free large
 *   locker (not a cold one) is used first, for sites that would rather lock big parcels away.
 * - perishable: the smallest free refrigerated locker. Cold lockers all taken: the overflow area,
 *   flagged for staff (`perishable without a cold locker`) so someone moves it somewhere cold. A
 *   site without any cold locker places it as a standard parcel, with the same flag.
 * - override (the courier chose the place): accepted when the place exists and has room — a shelf
 *   slot below capacity (whoever's parcels are in it), a locker that is empty or already this
 *   resident's, the oversized or overflow area always — with reason `carrier override`; otherwise
 *   an {@link AssignmentError} (`unknown_location`, `location_full`). A perishable put anywhere
 *   but a cold locker is flagged as above.
 *
 * Lockers are single-resident: a locker with anyone's parcels in it is never offered to another
 * resident. The policy never adds to an occupied locker either, not even the same resident's: a
 * locker is chosen to fit the parcel in it, and only the courier, who sees the space, may do that.
 * A shelf slot is given to one resident at a time; `occupied` records whose parcels are in it.
 *
 * Pure and deterministic: the answer depends only on the arguments, never on the order of the
 * `occupied` map; ties go to the place listed first in the site file. One call walks the room's
 * locations a constant number of times (no per-parcel work), so a busy room stays instant.
 */

export type ParcelSize = 'standard' | 'oversized' | 'perishable';
export type LockerSize = 'small' | 'medium' | 'large';
export type LocationKind = 'shelf' | 'locker' | 'oversized' | 'overflow';

export interface SlotLayout {
  readonly id: string;
  readonly label: string;
}

export interface ShelfLayout {
  readonly id: string;
  readonly slots: readonly SlotLayout[];
}

export interface LockerLayout {
  readonly id: string;
  readonly label: string;
  readonly size: LockerSize;
  readonly refrigerated: boolean;
}

export interface AreaLayout {
  readonly id: string;
  readonly label: string;
}

/** The static part of the room, as the site file declares it (order matters for ties). */
export interface RoomLayout {
  readonly shelves: readonly ShelfLayout[];
  readonly lockers: readonly LockerLayout[];
  readonly oversized: AreaLayout;
  readonly overflow: AreaLayout;
}

/**
 * Parcels checked in at one location. `residentKey` is the resident (or unit) the location was
 * given to, i.e. whose parcel arrived first; a carrier override may add another resident's parcel
 * to a shelf slot, which still counts towards `count`. A count of 0 is the same as no entry.
 */
export interface Occupancy {
  readonly residentKey: string;
  readonly count: number;
}

export interface RoomState extends RoomLayout {
  /** Keyed by location id; only locations with parcels need an entry. */
  readonly occupied: ReadonlyMap<string, Occupancy>;
}

export interface ParcelToPlace {
  readonly size: ParcelSize;
  /** Unit or resident id: parcels with the same key are kept together. */
  readonly residentKey: string;
  /** Location id the courier chose, instead of the policy. */
  readonly override?: string | undefined;
}

export interface Assignment {
  kind: LocationKind;
  id: string;
  label: string;
  reason: string;
  flagForStaff?: string;
}

export interface AssignerOptions {
  /** Parcels one shelf slot holds. Default 3. */
  slotCapacity?: number;
  /** Put oversized parcels in a free large locker before the oversized area. Default false. */
  oversizedToLargeLocker?: boolean;
}

export const DEFAULT_SLOT_CAPACITY = 3;
export const PERISHABLE_WITHOUT_COLD_LOCKER = 'perishable without a cold locker';
export const CARRIER_OVERRIDE = 'carrier override';

export type AssignmentErrorCode = 'unknown_location' | 'location_full';

/** The courier's chosen place cannot take the parcel; the API answers with `code`. */
export class AssignmentError extends Error {
  constructor(
    readonly code: AssignmentErrorCode,
    readonly locationId: string,
    message: string,
  ) {
    super(message);
    this.name = 'AssignmentError';
  }
}

const LOCKER_SIZE_RANK: Readonly<Record<LockerSize, number>> = { small: 0, medium: 1, large: 2 };

export function assignLocation(
  parcel: ParcelToPlace,
  room: RoomState,
  options: AssignerOptions = {},
): Assignment {
  const capacity = options.slotCapacity ?? DEFAULT_SLOT_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError(`slotCapacity must be a whole number of parcels, at least 1: ${capacity}`);
  if (parcel.override !== undefined) return placeOverride(parcel, room, capacity);
  switch (parcel.size) {
    case 'standard':
      return placeStandard(parcel.residentKey, room, capacity);
    case 'oversized':
      return placeOversized(room, options.oversizedToLargeLocker ?? false);
    case 'perishable':
      return placePerishable(parcel.residentKey, room, capacity);
  }
}

// --- occupancy ----------------------------------------------------------------------------

function parcelsAt(room: RoomState, id: string): Occupancy | null {
  const occ = room.occupied.get(id);
  return occ !== undefined && occ.count > 0 ? occ : null;
}

/**
 * Record one more parcel at a location, as the API does after a check-in; the first parcel at
 * an empty location makes it that resident's.
 */
export function recordParcel(
  occupied: Map<string, Occupancy>,
  locationId: string,
  residentKey: string,
): void {
  const occ = occupied.get(locationId);
  occupied.set(
    locationId,
    occ !== undefined && occ.count > 0
      ? { residentKey: occ.residentKey, count: occ.count + 1 }
      : { residentKey, count: 1 },
  );
}

/**
 * Occupancy from the parcels in the room, oldest first, so each location belongs to the resident
 * whose parcel arrived first (the one the policy gave it to).
 */
export function occupancyOf(
  parcels: Iterable<{ readonly locationId: string; readonly residentKey: string }>,
): Map<string, Occupancy> {
  const occupied = new Map<string, Occupancy>();
  for (const p of parcels) recordParcel(occupied, p.locationId, p.residentKey);
  return occupied;
}

// --- policy -------------------------------------------------------------------------------

function onShelf(slot: SlotLayout, reason: string): Assignment {
  return { kind: 'shelf', id: slot.id, label: slot.label, reason };
}

function inLocker(locker: LockerLayout, reason: string): Assignment {
  return { kind: 'locker', id: locker.id, label: locker.label, reason };
}

function inArea(kind: 'oversized' | 'overflow', area: AreaLayout, reason: string): Assignment {
  return { kind, id: area.id, label: area.label, reason };
}

function placeOnShelves(residentKey: string, room: RoomState, capacity: number): Assignment | null {
  const shelves = room.shelves;
  // One pass: slots in use per shelf, and where this resident's parcels already are.
  const used: number[] = new Array<number>(shelves.length).fill(0);
  const theirShelves: number[] = [];
  for (let s = 0; s < shelves.length; s++) {
    const slots = shelves[s]?.slots ?? [];
    let theirs = false;
    for (const slot of slots) {
      const occ = parcelsAt(room, slot.id);
      if (occ === null) continue;
      used[s] = (used[s] ?? 0) + 1;
      if (occ.residentKey !== residentKey) continue;
      if (occ.count < capacity) return onShelf(slot, "joins this resident's parcels");
      theirs = true;
    }
    if (theirs) theirShelves.push(s);
  }

  // All their slots are full: stay as close to them as the shelf allows.
  let near: { slot: SlotLayout; distance: number } | null = null;
  for (const s of theirShelves) {
    const slots = shelves[s]?.slots ?? [];
    const distance = distanceToResident(room, slots, residentKey);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      const d = distance[i] ?? Infinity;
      if (slot === undefined || parcelsAt(room, slot.id) !== null) continue;
      if (near === null || d < near.distance) near = { slot, distance: d };
    }
  }
  if (near !== null)
    return onShelf(
      near.slot,
      near.distance === 1
        ? "next to this resident's full slot"
        : "nearest free slot on this resident's shelf",
    );

  // A fresh start: the shelf with the smallest share of slots in use (compared without division).
  let best = -1;
  for (let s = 0; s < shelves.length; s++) {
    const total = shelves[s]?.slots.length ?? 0;
    const inUse = used[s] ?? 0;
    if (inUse >= total) continue;
    if (best < 0) {
      best = s;
      continue;
    }
    const bestTotal = shelves[best]?.slots.length ?? 0;
    if (inUse * bestTotal < (used[best] ?? 0) * total) best = s;
  }
  if (best < 0) return null;
  for (const slot of shelves[best]?.slots ?? [])
    if (parcelsAt(room, slot.id) === null)
      return onShelf(slot, 'free slot on the least-filled shelf');
  return null;
}

/** For each slot of a shelf, how many slots away the nearest of this resident's slots is. */
function distanceToResident(
  room: RoomState,
  slots: readonly SlotLayout[],
  residentKey: string,
): number[] {
  const distance = new Array<number>(slots.length).fill(Infinity);
  const isTheirs = (i: number) => {
    const slot = slots[i];
    return slot !== undefined && parcelsAt(room, slot.id)?.residentKey === residentKey;
  };
  for (let i = 0, last = -Infinity; i < slots.length; i++) {
    if (isTheirs(i)) last = i;
    distance[i] = i - last;
  }
  for (let i = slots.length - 1, next = Infinity; i >= 0; i--) {
    if (isTheirs(i)) next = i;
    distance[i] = Math.min(distance[i] ?? Infinity, next - i);
  }
  return distance;
}

/** The smallest free locker that passes `fits`; equal sizes go to the one listed first. */
function freeLocker(room: RoomState, fits: (l: LockerLayout) => boolean): LockerLayout | null {
  let best: LockerLayout | null = null;
  for (const locker of room.lockers) {
    if (!fits(locker) || parcelsAt(room, locker.id) !== null) continue;
    if (best === null || LOCKER_SIZE_RANK[locker.size] < LOCKER_SIZE_RANK[best.size]) best = locker;
  }
  return best;
}

function placeStandard(residentKey: string, room: RoomState, capacity: number): Assignment {
  const shelf = placeOnShelves(residentKey, room, capacity);
  if (shelf !== null) return shelf;
  const locker = freeLocker(room, (l) => !l.refrigerated);
  if (locker !== null) return inLocker(locker, 'shelves full: smallest free locker');
  return inArea('overflow', room.overflow, 'shelves and lockers full');
}

function placeOversized(room: RoomState, preferLocker: boolean): Assignment {
  if (preferLocker) {
    const locker = freeLocker(room, (l) => l.size === 'large' && !l.refrigerated);
    if (locker !== null) return inLocker(locker, 'oversized: the site prefers a large locker');
  }
  return inArea('oversized', room.oversized, 'oversized parcel');
}

function placePerishable(residentKey: string, room: RoomState, capacity: number): Assignment {
  if (!room.lockers.some((l) => l.refrigerated)) {
    const standard = placeStandard(residentKey, room, capacity);
    return {
      ...standard,
      reason: `perishable, no cold locker on site: ${standard.reason}`,
      flagForStaff: PERISHABLE_WITHOUT_COLD_LOCKER,
    };
  }
  const cold = freeLocker(room, (l) => l.refrigerated);
  if (cold !== null) return inLocker(cold, 'perishable: free cold locker');
  return {
    ...inArea('overflow', room.overflow, 'perishable: every cold locker is taken'),
    flagForStaff: PERISHABLE_WITHOUT_COLD_LOCKER,
  };
}

type Located =
  | { kind: 'shelf'; place: SlotLayout }
  | { kind: 'locker'; place: LockerLayout }
  | { kind: 'oversized' | 'overflow'; place: AreaLayout };

function locate(room: RoomLayout, id: string): Located | null {
  for (const shelf of room.shelves)
    for (const slot of shelf.slots) if (slot.id === id) return { kind: 'shelf', place: slot };
  for (const locker of room.lockers) if (locker.id === id) return { kind: 'locker', place: locker };
  if (room.oversized.id === id) return { kind: 'oversized', place: room.oversized };
  if (room.overflow.id === id) return { kind: 'overflow', place: room.overflow };
  return null;
}

function placeOverride(parcel: ParcelToPlace, room: RoomState, capacity: number): Assignment {
  const id = parcel.override ?? '';
  const found = locate(room, id);
  if (found === null)
    throw new AssignmentError('unknown_location', id, `no storage location with id '${id}'`);
  const occ = parcelsAt(room, id);
  if (found.kind === 'shelf' && occ !== null && occ.count >= capacity)
    throw new AssignmentError(
      'location_full',
      id,
      `slot ${found.place.label} already holds ${occ.count} parcels (capacity ${capacity})`,
    );
  if (found.kind === 'locker' && occ !== null && occ.residentKey !== parcel.residentKey)
    throw new AssignmentError(
      'location_full',
      id,
      `locker ${found.place.label} holds another resident's parcels`,
    );
  const assignment: Assignment = {
    kind: found.kind,
    id: found.place.id,
    label: found.place.label,
    reason: CARRIER_OVERRIDE,
  };
  const cold = found.kind === 'locker' && found.place.refrigerated;
  if (parcel.size === 'perishable' && !cold)
    assignment.flagForStaff = PERISHABLE_WITHOUT_COLD_LOCKER;
  return assignment;
}

// --- site file ----------------------------------------------------------------------------

/** The storage part of a site file, before or after the schema fills in defaults. */
export interface SiteStorage {
  readonly shelves: readonly {
    readonly id: string;
    readonly slots: readonly { readonly id: string; readonly label: string }[];
  }[];
  readonly lockers: readonly {
    readonly id: string;
    readonly label: string;
    readonly size: LockerSize;
    readonly refrigerated?: boolean | undefined;
  }[];
  readonly oversized: { readonly id: string; readonly label: string };
  readonly overflow: { readonly id: string; readonly label: string };
}

/** The room's static layout from the site file's `storage`, in the file's order. */
export function roomFromSite(storage: SiteStorage): RoomLayout {
  return {
    shelves: storage.shelves.map((shelf) => ({
      id: shelf.id,
      slots: shelf.slots.map((slot) => ({ id: slot.id, label: slot.label })),
    })),
    lockers: storage.lockers.map((l) => ({
      id: l.id,
      label: l.label,
      size: l.size,
      refrigerated: l.refrigerated ?? false,
    })),
    oversized: { id: storage.oversized.id, label: storage.oversized.label },
    overflow: { id: storage.overflow.id, label: storage.overflow.label },
  };
}
