// Words and small rules for the Packages page: carriers, ages, places in the room and a parcel's
// chain of custody. No network code, so it is easy to test and reuse.
import type {
  PackageTimeline,
  ParcelSize,
  StorageBoard,
  StorageLocation,
  StoredItem,
  TimelineItem,
  TrackingCheck,
} from './api';
import { denyReason, humanize } from './events';

/** The carriers the check-in form offers; anything else is typed in after choosing "Other". */
export const CARRIERS = ['UPS', 'USPS', 'FedEx', 'Amazon', 'DHL'] as const;
export type KnownCarrier = (typeof CARRIERS)[number];
export const OTHER_CARRIER = 'Other';

export const SIZE_LABELS: Record<ParcelSize, string> = {
  standard: 'Standard',
  oversized: 'Oversized',
  perishable: 'Perishable',
};

/** What a scanner or a person put around the number: spaces, dashes, control characters. */
export function cleanTracking(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return raw.replace(/[\s\u0000-\u001f\u007f-]+/g, '').toUpperCase();
}

/**
 * The carrier a tracking number's prefix gives away, before the server has looked at it:
 * `1Z…` is UPS, `TBA…` is Amazon. Null when the prefix says nothing.
 */
export function guessCarrier(tracking: string): KnownCarrier | null {
  const t = cleanTracking(tracking);
  if (t.startsWith('1Z')) return 'UPS';
  if (t.startsWith('TBA')) return 'Amazon';
  return null;
}

/** One of {@link CARRIERS} for a carrier the server named ("UPS", "FedEx"…), matched loosely. */
export function knownCarrier(name: string | null | undefined): KnownCarrier | null {
  if (!name) return null;
  const key = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return CARRIERS.find((c) => c.toLowerCase() === key) ?? null;
}

/** "just now", "12 min", "5 h", "2 d 4 h" for a parcel that arrived `ms` milliseconds ago. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms) || ms < 60_000) return 'just now';
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h`;
  const days = Math.floor(hours / 24);
  const rest = hours % 24;
  return rest === 0 ? `${days} d` : `${days} d ${rest} h`;
}

/** Age of a parcel checked in at `checkedInAt`, as of `now`. */
export function ageSince(checkedInAt: string, now: number): string {
  const at = Date.parse(checkedInAt);
  return Number.isNaN(at) ? '—' : formatAge(now - at);
}

/** Whether a parcel checked in at `checkedInAt` has waited `overdueAfterDays` or longer. */
export function isOverdue(checkedInAt: string, now: number, overdueAfterDays: number): boolean {
  const at = Date.parse(checkedInAt);
  return !Number.isNaN(at) && now - at >= overdueAfterDays * 86_400_000;
}

/**
 * A place in words, as staff read it on the shelf: "Shelf A · A3" for a slot (the shelf's name
 * from the storage board), the place's own label otherwise ("Locker 6", "Overflow").
 */
export function placeLabel(location: StorageLocation, board: StorageBoard | null): string {
  if (location.kind === 'shelf' && board !== null) {
    const shelf = board.shelves.find((s) => s.slots.some((slot) => slot.id === location.id));
    if (shelf && shelf.label !== '' && shelf.label !== location.label) {
      return `${shelf.label} · ${location.label}`;
    }
  }
  return location.label;
}

/** Units in the order they first appear, without repeats: the owners of a slot. */
export function unitsOf(items: readonly StoredItem[]): string[] {
  return [...new Set(items.map((i) => i.unit))];
}

/** What the tracking check said, for the check-in result. */
export function trackingVerdict(check: TrackingCheck): { tone: 'ok' | 'warn'; text: string } {
  const carrier = check.carrier ?? 'Tracking';
  if (check.valid === true) return { tone: 'ok', text: `${carrier} number — check digit OK` };
  if (check.format === null || check.format === undefined) {
    return { tone: 'warn', text: 'Format not recognised — check the label' };
  }
  return {
    tone: 'warn',
    text: `${carrier} number — it carries no check digit; check the label`,
  };
}

/** A flag from the server ("perishable without a cold locker") with what to do about it. */
export function flagAdvice(flag: string): string {
  if (flag === 'perishable without a cold locker') {
    return 'Perishable without a cold locker — put it somewhere cold and tell the resident.';
  }
  return humanize(flag);
}

export type TimelineTone = 'ok' | 'warn' | 'danger' | 'neutral';

export interface TimelineEntry {
  id: string;
  at: string;
  type: string;
  /** "Checked in by you", "Picked up", "Door entry — granted". */
  title: string;
  /** Where, by whom, which door: a second line, when there is something to say. */
  detail: string | undefined;
  tone: TimelineTone;
}

function detailString(item: TimelineItem, key: string): string | undefined {
  const value = item.details?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function detailLocation(item: TimelineItem): StorageLocation | undefined {
  const value = item.details?.['location'];
  if (typeof value !== 'object' || value === null) return undefined;
  const loc = value as Partial<StorageLocation>;
  if (typeof loc.id !== 'string' || typeof loc.label !== 'string') return undefined;
  return {
    kind: typeof loc.kind === 'string' ? loc.kind : 'overflow',
    id: loc.id,
    label: loc.label,
  };
}

export interface TimelineContext {
  /** The signed-in staff member's id, to say "you". */
  me: string;
  board: StorageBoard | null;
  doorName: (id: string) => string;
}

function byWhom(staffId: string | undefined, ctx: TimelineContext): string | undefined {
  if (staffId === undefined || staffId === '') return undefined;
  return staffId === ctx.me ? 'you' : `staff member …${staffId.slice(-6)}`;
}

/** One recorded event of a parcel's timeline in words. */
export function describeTimelineItem(item: TimelineItem, ctx: TimelineContext): TimelineEntry {
  const base = { id: item.id, at: item.at, type: item.type };
  const who = byWhom(item.staffId, ctx);
  const door = item.doorId ? ctx.doorName(item.doorId) : undefined;
  switch (item.type) {
    case 'package_checked_in': {
      const loc = detailLocation(item);
      const carrier = detailString(item, 'carrier');
      const parts = [
        carrier ? `from ${carrier}` : undefined,
        loc ? `to ${placeLabel(loc, ctx.board)}` : undefined,
        detailString(item, 'flag'),
      ].filter((p): p is string => p !== undefined);
      // At the kiosk, a carrier checks parcels in with the code that let them in.
      const by =
        who ?? (item.carrierCodeId ? `${carrier ?? 'the carrier'} at the kiosk` : undefined);
      return {
        ...base,
        title: by ? `Checked in by ${by}` : 'Checked in',
        detail: parts.length > 0 ? parts.join(' · ') : undefined,
        tone: 'neutral',
      };
    }
    case 'package_picked_up':
      return {
        ...base,
        title: 'Picked up',
        detail: who ? `Handed over by ${who}` : undefined,
        tone: 'ok',
      };
    case 'package_returned':
      return { ...base, title: 'Returned to sender', detail: who, tone: 'warn' };
    case 'access': {
      const via = detailString(item, 'via') === 'pin' ? 'pin' : 'card';
      const title =
        item.decision === 'granted'
          ? 'Door entry — granted'
          : item.decision === 'denied'
            ? item.reason
              ? `Door entry — denied (${denyReason(item.reason, via)})`
              : 'Door entry — denied'
            : 'Door entry';
      return {
        ...base,
        title,
        detail: door,
        tone:
          item.decision === 'granted' ? 'ok' : item.decision === 'denied' ? 'danger' : 'neutral',
      };
    }
    case 'door_opened':
      return { ...base, title: 'Door opened', detail: door, tone: 'neutral' };
    default:
      return { ...base, title: humanize(item.type), detail: door, tone: 'neutral' };
  }
}

/**
 * The whole chain of custody, oldest first. The server stores events through a journal, so a
 * check-in or pickup made a moment ago may not be listed yet; the parcel's own record says when
 * it happened, and fills in the step until the event arrives.
 */
export function timelineEntries(timeline: PackageTimeline, ctx: TimelineContext): TimelineEntry[] {
  const entries = timeline.items.map((item) => describeTimelineItem(item, ctx));
  const has = (type: string) => entries.some((e) => e.type === type);
  const p = timeline.package;
  if (!has('package_checked_in')) {
    entries.push({
      id: `${p.id}:checked-in`,
      at: p.checkedInAt,
      type: 'package_checked_in',
      title: 'Checked in',
      detail: `from ${p.carrier} · to ${placeLabel(p.location, ctx.board)}`,
      tone: 'neutral',
    });
  }
  if (p.pickedUpAt !== undefined && !has('package_picked_up')) {
    entries.push({
      id: `${p.id}:picked-up`,
      at: p.pickedUpAt,
      type: 'package_picked_up',
      title: 'Picked up',
      detail: undefined,
      tone: 'ok',
    });
  }
  return entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.id.localeCompare(b.id));
}

export const STATUS_LABELS: Record<string, string> = {
  checked_in: 'In room',
  picked_up: 'Picked up',
  returned: 'Returned',
};

export const statusLabel = (status: string): string => STATUS_LABELS[status] ?? humanize(status);
