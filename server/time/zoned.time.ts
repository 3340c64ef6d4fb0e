/**
 * Calendar days in the building's time zone, the one place the server turns a local day into
 * instants. A report's "day" is the site's local day, not UTC's: a parcel checked in at 21:30 in
 * Chicago belongs to that evening, a roster's `move_out: 2026-03-08` ends at that evening's
 * midnight in the lobby, a vacation hold "until the 14th" runs through the 14th, and a
 * compliance "week 47" starts at Monday 00:00 local time. A day around a DST change lasts 23 or
 * 25 hours. Days are plain `YYYY-MM-DD` strings; arithmetic on them is calendar arithmetic (time
 * zone free), and only the step to an instant asks the zone.
 */

export type Day = string;

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallClock(tz: string, at: number): Wall {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(at)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour! % 24,
    minute: parts.minute!,
    second: parts.second!,
  };
}

/** Local wall-clock time minus UTC at instant `at`, in ms (New York in winter: -5 h). */
export function zoneOffsetMs(tz: string, at: number): number {
  const w = wallClock(tz, at);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (at - (((at % 1000) + 1000) % 1000));
}

/** True for a real calendar day written `YYYY-MM-DD`. */
export function isDay(s: string): boolean {
  const m = DAY_RE.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

function dayParts(day: Day): [number, number, number] {
  const m = DAY_RE.exec(day);
  if (!m) throw new RangeError(`not a day (YYYY-MM-DD): ${day}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function dayOfUtc(t: number): Day {
  const d = new Date(t);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The local day instant `at` falls on. */
export function localDay(tz: string, at: number): Day {
  const w = wallClock(tz, at);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
}

export function addDays(day: Day, n: number): Day {
  const [y, m, d] = dayParts(day);
  return dayOfUtc(Date.UTC(y, m - 1, d) + n * DAY_MS);
}

/** Whole days from `a` to `b` (b - a). */
export function daysBetween(a: Day, b: Day): number {
  const [y1, m1, d1] = dayParts(a);
  const [y2, m2, d2] = dayParts(b);
  return Math.round((Date.UTC(y2, m2 - 1, d2) - Date.UTC(y1, m1 - 1, d1)) / DAY_MS);
}

/** Every day from `from` to `to`, both included. */
export function eachDay(from: Day, to: Day): Day[] {
  const out: Day[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** The Monday of the (ISO) week `day` is in: the week PostgreSQL's date_trunc('week') gives. */
export function weekOf(day: Day): Day {
  const [y, m, d] = dayParts(day);
  const dow = new Date(Date.UTC(y, m - 1, d)).getUTCDay(); // 0 = Sunday
  return addDays(day, -((dow + 6) % 7));
}

/** First and last day of the month `day` is in. */
export function monthOf(day: Day): { first: Day; last: Day } {
  const [y, m] = dayParts(day);
  const first = `${pad(y, 4)}-${pad(m)}-01`;
  return { first, last: dayOfUtc(Date.UTC(y, m, 0)) };
}

/**
 * The first instant of local day `day`, as epoch ms. Usually local midnight; where a zone skips
 * midnight (clocks jumping from 23:59:59 to 01:00, as some zones do) it is the moment of the jump.
 */
export function dayStart(tz: string, day: Day): number {
  const [y, m, d] = dayParts(day);
  const naive = Date.UTC(y, m - 1, d);
  // The offset a few hours either side: equal unless a change falls on or near midnight.
  const before = naive - zoneOffsetMs(tz, naive - DAY_MS / 2);
  const after = naive - zoneOffsetMs(tz, naive + DAY_MS / 2);
  const candidates = [Math.min(before, after), Math.max(before, after)];
  for (const t of candidates) {
    const w = wallClock(tz, t);
    if (localDay(tz, t) === day && w.hour === 0 && w.minute === 0 && w.second === 0) return t;
  }
  // Midnight does not exist that day: find the jump between the two candidates (to the ms).
  let lo = candidates[0]!;
  let hi = candidates[1]!;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDay(tz, mid) === day) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The instant local day `day` ends: the first instant of the next day (exclusive end). */
export function dayEnd(tz: string, day: Day): number {
  return dayStart(tz, addDays(day, 1));
}

/** An ISO 8601 week: `2026-W47` is `{ year: 2026, week: 47 }`. */
export interface IsoWeek {
  year: number;
  week: number;
}

/** Weeks in an ISO year: 53 when Jan 1 is a Thursday, or a Wednesday in a leap year. */
export function weeksInIsoYear(year: number): number {
  const jan1 = new Date(Date.UTC(year, 0, 1)).getUTCDay();
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return jan1 === 4 || (leap && jan1 === 3) ? 53 : 52;
}

/** The Monday starting ISO week `week` of `year` (week 1 is the one holding January 4th). */
export function isoWeekMonday(year: number, week: number): Day {
  return addDays(weekOf(`${pad(year, 4)}-01-04`), (week - 1) * 7);
}

/** The ISO week `day` is in; its year is the year of that week's Thursday. */
export function isoWeekOf(day: Day): IsoWeek {
  const monday = weekOf(day);
  const year = Number(addDays(monday, 3).slice(0, 4));
  return { year, week: daysBetween(isoWeekMonday(year, 1), monday) / 7 + 1 };
}

/** `2026-W47` for an ISO week. */
export function isoWeekLabel(w: IsoWeek): string {
  return `${pad(w.year, 4)}-W${pad(w.week)}`;
}
