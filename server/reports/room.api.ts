/**
 * The wire shape of the room report (`GET /api/reports/room`, its CSV charts and capacity advice),
 * shared with the console, so it imports nothing (days are `YYYY-MM-DD` in the building's zone).
 */

/** A local calendar day, `YYYY-MM-DD` in the building's time zone (zoned.time.ts Day). */
type Day = string;

/** The longest range the report answers, in days. */
export const MAX_RANGE_DAYS = 400;
export const FLAG_KINDS = ['loitering', 'multi_package_grab', 'tailgating'] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];
export const STORAGE_KINDS = ['shelf', 'locker', 'oversized', 'overflow'] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

/** The charts, each also a CSV at `/api/reports/room/<chart>.csv`. */
export const ROOM_CHARTS = [
  'parcels-per-day',
  'parcels-per-hour',
  'dwell',
  'utilisation',
  'peak-days',
  'flags-per-week',
] as const;
export type RoomChart = (typeof ROOM_CHARTS)[number];

export interface DayCount {
  day: Day;
  count: number;
}

export interface HourCount {
  hour: number;
  count: number;
}

export interface Dwell {
  medianMs: number | null;
  p90Ms: number | null;
  /** Parcels picked up that the figures are over. */
  count: number;
}

export type UtilisationDay = { day: Day } & Record<StorageKind, number>;

export interface Capacity {
  /** Shelf slots and lockers (cold ones included) of the site file; the areas have no limit. */
  shelf: number;
  locker: number;
  /** Of the lockers, the refrigerated ones. */
  coldLockers: number;
  oversized: null;
  overflow: null;
}

export interface PeakDay extends DayCount {
  /** Parcels above the median day. */
  aboveMedian: number;
  /** Times the median day; null when the median day had no parcels. */
  timesMedian: number | null;
}

export interface FlagWeek {
  /** Monday of the week, site time. */
  week: Day;
  kind: FlagKind;
  count: number;
}

export interface ParcelFigures {
  parcels: number;
  parcelsPerDay: DayCount[];
  parcelsPerHour: HourCount[];
  sameDayPickups: number;
  /** Share of the range's parcels picked up the day they came; null without parcels. */
  sameDayPickupRate: number | null;
  medianDay: number;
  peakDays: PeakDay[];
}

export interface RoomReport extends ParcelFigures {
  timezone: string;
  from: Day;
  to: Day;
  days: number;
  dwell: Dwell;
  capacity: Capacity;
  utilisation: UtilisationDay[];
  flagsPerWeek: FlagWeek[];
  capacityAdvice: CapacityAdvice;
}

/** Lockers by size (slot.assigner.ts LockerSize). */
export interface LockerCounts {
  small: number;
  medium: number;
  large: number;
}

export interface CapacityAdvice {
  /** The month replayed, `YYYY-MM` (site time). */
  month: string;
  /** Parcels in the room at some point of the month. */
  parcels: number;
  /** Most parcels the replay put in overflow at once that month. */
  peakOverflow: number;
  /** When (epoch ms → ISO) the peak was first reached; null without overflow. */
  peakOverflowAt: string | null;
  /** Shelf slots to add (alone) so no ordinary parcel goes to overflow. */
  extraShelfSlots: number;
  /** Or: ordinary lockers to add (alone), by size. */
  extraLockers: LockerCounts;
  /** Cold lockers to add so no perishable goes to overflow (sites with cold lockers). */
  extraColdLockers: LockerCounts;
  /** The advice in one line, for the console. */
  text: string;
}
