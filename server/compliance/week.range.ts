/**
 * Weeks as a building manager means them: ISO weeks (Monday to Monday) in the building's own time
 * zone, so "week 47" starts at Monday 00:00 in the lobby, not in UTC.
 */

const DAY_MS = 86_400_000;

/** Local time minus UTC at an instant, in ms, for an IANA zone. */
export function zoneOffsetMs(timeZone: string, utcMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** The instant of local midnight starting a calendar day (UTC fields of `dayUtc`) in a zone. */
export function localMidnight(timeZone: string, dayUtc: number): number {
  let t = dayUtc - zoneOffsetMs(timeZone, dayUtc);
  // Once more, for a day whose offset differs from the guess's (a DST change that night).
  t = dayUtc - zoneOffsetMs(timeZone, t);
  return t;
}

export interface WeekRange {
  /** `2026-W47` */
  week: string;
  from: number;
  to: number;
}

const WEEK = /^(\d{4})-W(\d{2})$/;

/** The Monday (as a UTC date at 00:00) of ISO week `week` of `year`. */
function mondayOf(year: number, week: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const dow = (new Date(jan4).getUTCDay() + 6) % 7;
  return jan4 - dow * DAY_MS + (week - 1) * 7 * DAY_MS;
}

/** Weeks in an ISO year: 53 when Jan 1 is a Thursday, or a Wednesday in a leap year. */
function weeksIn(year: number): number {
  const jan1 = new Date(Date.UTC(year, 0, 1)).getUTCDay();
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return jan1 === 4 || (leap && jan1 === 3) ? 53 : 52;
}

/** `2026-W47` → that week in the zone; null when it is no week. */
export function parseWeek(text: string, timeZone: string): WeekRange | null {
  const m = WEEK.exec(text);
  if (!m) return null;
  const year = Number(m[1]);
  const week = Number(m[2]);
  if (week < 1 || week > weeksIn(year)) return null;
  const monday = mondayOf(year, week);
  return {
    week: text,
    from: localMidnight(timeZone, monday),
    to: localMidnight(timeZone, monday + 7 * DAY_MS),
  };
}

/** The ISO week holding an instant, in the zone. */
export function weekOf(utcMs: number, timeZone: string): WeekRange {
  const local = utcMs + zoneOffsetMs(timeZone, utcMs);
  const day = Math.floor(local / DAY_MS) * DAY_MS;
  const dow = (new Date(day).getUTCDay() + 6) % 7;
  const monday = day - dow * DAY_MS;
  const thursday = monday + 3 * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - mondayOf(year, 1)) / (7 * DAY_MS)) + 1;
  const label = `${year}-W${String(week).padStart(2, '0')}`;
  return {
    week: label,
    from: localMidnight(timeZone, monday),
    to: localMidnight(timeZone, monday + 7 * DAY_MS),
  };
}
