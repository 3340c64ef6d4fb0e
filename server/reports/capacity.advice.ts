/**
 * Capacity advice: would the room have needed the overflow area last month, and how much more
 * storage would have kept it empty?
 *
 * The month's parcels are replayed, arrival and collection in the order they happened, through
 * the same slot assigner the check-in uses (one household per slot, up to the slot capacity;
 * one household per locker; perishables to cold lockers), keyed by unit as the parcel service
 * keys them. Where a courier chose the place in real life the replay still follows the policy:
 * the question is what the room's layout allows, not where each box happened to be put.
 *
 * Then the same replay runs with extra storage to find the least that keeps overflow empty:
 * more shelf slots (a new shelf), or more lockers of the smallest ordinary size the bank has (a
 * standard parcel fits any locker, and the policy fills the smallest first), and, for sites with
 * cold lockers, more cold lockers for the perishables that ended up in overflow.
 */
import {
  assignLocation,
  type AssignerOptions,
  type LockerLayout,
  type LockerSize,
  type Occupancy,
  type ParcelSize,
  type RoomLayout,
} from '../packages/slot.assigner.ts';
import type { CapacityAdvice, LockerCounts } from './room.api.ts';

export interface ReplayParcel {
  id: string;
  /** Whose parcels sit together: the unit, as the parcel service keys them. */
  householdKey: string;
  size: ParcelSize;
  inAt: number;
  /** Picked up or returned; null while it waits. */
  outAt: number | null;
}

export interface OverflowReplay {
  /** Most parcels in overflow at once inside the window. */
  peakOverflow: number;
  /** When that peak was first reached (epoch ms), null without overflow. */
  peakAt: number | null;
  /** The same, counting only parcels that needed an ordinary place (shelf or locker). */
  peakOrdinary: number;
  /** The same, counting only perishables that found every cold locker taken. */
  peakCold: number;
}

/**
 * Replays arrivals and collections in time order (a collection before an arrival at the same
 * instant: the freed place can take the new parcel) and measures overflow inside
 * [windowStart, windowEnd). Parcels in the room when the window opens are replayed from their own
 * arrival so they hold places, but only overflow inside the window counts.
 */
export function replayOverflow(
  layout: RoomLayout,
  parcels: readonly ReplayParcel[],
  windowStart: number,
  windowEnd: number,
  options: AssignerOptions = {},
): OverflowReplay {
  type Ev = { t: number; out: boolean; i: number };
  const events: Ev[] = [];
  parcels.forEach((p, i) => {
    if (p.inAt >= windowEnd) return;
    events.push({ t: p.inAt, out: false, i });
    if (p.outAt !== null && p.outAt < windowEnd) events.push({ t: p.outAt, out: true, i });
  });
  events.sort((a, b) => a.t - b.t || Number(b.out) - Number(a.out) || a.i - b.i);

  const hasCold = layout.lockers.some((l) => l.refrigerated);
  const occupied = new Map<string, Occupancy>();
  const placedAt: (string | undefined)[] = new Array<string | undefined>(parcels.length);
  const inOverflow: ('ordinary' | 'cold' | undefined)[] = new Array(parcels.length);
  let ordinary = 0;
  let cold = 0;
  const result: OverflowReplay = { peakOverflow: 0, peakAt: null, peakOrdinary: 0, peakCold: 0 };
  const measure = (t: number) => {
    if (ordinary + cold > result.peakOverflow) {
      result.peakOverflow = ordinary + cold;
      result.peakAt = t;
    }
    result.peakOrdinary = Math.max(result.peakOrdinary, ordinary);
    result.peakCold = Math.max(result.peakCold, cold);
  };

  let opened = false;
  for (const ev of events) {
    if (!opened && ev.t >= windowStart) {
      // What was already in overflow when the window opened counts at its start.
      opened = true;
      measure(windowStart);
    }
    const p = parcels[ev.i]!;
    if (ev.out) {
      const at = placedAt[ev.i];
      if (at === undefined) continue;
      const occ = occupied.get(at);
      if (occ !== undefined) {
        if (occ.count <= 1) occupied.delete(at);
        else occupied.set(at, { residentKey: occ.residentKey, count: occ.count - 1 });
      }
      const was = inOverflow[ev.i];
      if (was === 'ordinary') ordinary--;
      else if (was === 'cold') cold--;
      continue;
    }
    const a = assignLocation(
      { size: p.size, residentKey: p.householdKey },
      { ...layout, occupied },
      options,
    );
    placedAt[ev.i] = a.id;
    const occ = occupied.get(a.id);
    occupied.set(
      a.id,
      occ !== undefined && occ.count > 0
        ? { residentKey: occ.residentKey, count: occ.count + 1 }
        : { residentKey: p.householdKey, count: 1 },
    );
    if (a.kind === 'overflow') {
      const why = p.size === 'perishable' && hasCold ? 'cold' : 'ordinary';
      inOverflow[ev.i] = why;
      if (why === 'cold') cold++;
      else ordinary++;
      if (ev.t >= windowStart) measure(ev.t);
    }
  }
  if (!opened) measure(windowStart);
  return result;
}

export type { CapacityAdvice, LockerCounts };

// The wire file spells the locker sizes out (it imports nothing): a new size must be added there.
type SizesMatch = [keyof LockerCounts] extends [LockerSize]
  ? [LockerSize] extends [keyof LockerCounts]
    ? true
    : never
  : never;
const _sizesMatch: SizesMatch = true;
void _sizesMatch;

const noLockers = (): LockerCounts => ({ small: 0, medium: 0, large: 0 });
const SIZE_ORDER: readonly LockerSize[] = ['small', 'medium', 'large'];

function smallestSize(lockers: readonly LockerLayout[], refrigerated: boolean): LockerSize {
  for (const size of SIZE_ORDER)
    if (lockers.some((l) => l.size === size && l.refrigerated === refrigerated)) return size;
  return 'small';
}

function withExtraSlots(layout: RoomLayout, n: number): RoomLayout {
  if (n === 0) return layout;
  const slots = Array.from({ length: n }, (_, i) => ({
    id: `advice-extra-slot-${i + 1}`,
    label: `Extra ${i + 1}`,
  }));
  return { ...layout, shelves: [...layout.shelves, { id: 'advice-extra-shelf', slots }] };
}

function withExtraLockers(
  layout: RoomLayout,
  n: number,
  size: LockerSize,
  refrigerated: boolean,
): RoomLayout {
  if (n === 0) return layout;
  const extra = Array.from({ length: n }, (_, i) => ({
    id: `advice-extra-${refrigerated ? 'cold' : 'locker'}-${i + 1}`,
    label: `Extra ${i + 1}`,
    size,
    refrigerated,
  }));
  return { ...layout, lockers: [...layout.lockers, ...extra] };
}

/**
 * The least `n` with `enough(n)`, given that `enough(0)` is false: doubling from `start` until
 * it holds, then halving the gap. More storage never makes the policy use overflow more in
 * practice; should it ever, the answer is still one that was tried and held.
 */
function leastEnough(enough: (n: number) => boolean, start: number, cap: number): number | null {
  let lo = 0;
  let hi = Math.max(1, start);
  while (!enough(hi)) {
    lo = hi;
    if (hi >= cap) return null;
    hi = Math.min(cap, hi * 2);
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (enough(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export interface AdviceInput {
  layout: RoomLayout;
  parcels: readonly ReplayParcel[];
  /** `YYYY-MM`, and the month's first and last instant + 1 (site time). */
  month: string;
  monthLabel: string;
  start: number;
  end: number;
  options?: AssignerOptions;
  /** Day (site time) of an instant, for the text. */
  dayOf: (at: number) => string;
}

export function adviseCapacity(input: AdviceInput): CapacityAdvice {
  const { layout, parcels, start, end, options } = input;
  const base = replayOverflow(layout, parcels, start, end, options);
  const inMonth = parcels.filter(
    (p) => p.inAt < end && (p.outAt === null || p.outAt >= start),
  ).length;
  const advice: CapacityAdvice = {
    month: input.month,
    parcels: inMonth,
    peakOverflow: base.peakOverflow,
    peakOverflowAt: base.peakAt === null ? null : new Date(base.peakAt).toISOString(),
    extraShelfSlots: 0,
    extraLockers: noLockers(),
    extraColdLockers: noLockers(),
    text: '',
  };
  if (inMonth === 0) {
    advice.text = `No parcels in ${input.monthLabel}: nothing to advise.`;
    return advice;
  }
  if (base.peakOverflow === 0) {
    advice.text = `Overflow stayed empty in ${input.monthLabel}: the shelves and lockers were enough.`;
    return advice;
  }
  // Never more places than parcels in the month: a cap that always holds.
  const cap = Math.max(1, inMonth);
  const parts: string[] = [];
  if (base.peakOrdinary > 0) {
    const slots = leastEnough(
      (n) =>
        replayOverflow(withExtraSlots(layout, n), parcels, start, end, options).peakOrdinary === 0,
      Math.ceil(base.peakOrdinary / 2),
      cap,
    );
    const size = smallestSize(layout.lockers, false);
    const lockers = leastEnough(
      (n) =>
        replayOverflow(withExtraLockers(layout, n, size, false), parcels, start, end, options)
          .peakOrdinary === 0,
      base.peakOrdinary,
      cap,
    );
    advice.extraShelfSlots = slots ?? cap;
    advice.extraLockers[size] = lockers ?? cap;
    parts.push(
      `${plural(advice.extraShelfSlots, 'more shelf slot')}, or ` +
        `${plural(advice.extraLockers[size], `more ${size} locker`)}, would have kept it empty`,
    );
  }
  if (base.peakCold > 0) {
    const size = smallestSize(layout.lockers, true);
    const cold = leastEnough(
      (n) =>
        replayOverflow(withExtraLockers(layout, n, size, true), parcels, start, end, options)
          .peakCold === 0,
      base.peakCold,
      cap,
    );
    advice.extraColdLockers[size] = cold ?? cap;
    parts.push(
      `${plural(advice.extraColdLockers[size], `more ${size} cold locker`)} would have kept ` +
        'perishables out of it',
    );
  }
  const peakDay = base.peakAt === null ? '' : ` (first on ${input.dayOf(base.peakAt)})`;
  advice.text =
    `Overflow held up to ${plural(base.peakOverflow, 'parcel')} at once in ${input.monthLabel}` +
    `${peakDay}: ${parts.join('; ')}.`;
  return advice;
}
