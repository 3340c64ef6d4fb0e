/**
 * Weeks as a building manager means them: ISO weeks (Monday to Monday) in the building's own time
 * zone, so "week 47" starts at Monday 00:00 in the lobby, not in UTC.
 */
import {
  dayStart,
  isoWeekLabel,
  isoWeekMonday,
  isoWeekOf,
  localDay,
  weekOf as mondayOf,
  weeksInIsoYear,
  addDays,
  type Day,
} from '../time/zoned.time.ts';

export interface WeekRange {
  /** `2026-W47` */
  week: string;
  from: number;
  to: number;
}

const WEEK = /^(\d{4})-W(\d{2})$/;

function rangeFrom(week: string, monday: Day, timeZone: string): WeekRange {
  return {
    week,
    from: dayStart(timeZone, monday),
    to: dayStart(timeZone, addDays(monday, 7)),
  };
}

/** `2026-W47` → that week in the zone; null when it is no week. */
export function parseWeek(text: string, timeZone: string): WeekRange | null {
  const m = WEEK.exec(text);
  if (!m) return null;
  const year = Number(m[1]);
  const week = Number(m[2]);
  if (week < 1 || week > weeksInIsoYear(year)) return null;
  return rangeFrom(text, isoWeekMonday(year, week), timeZone);
}

/** The ISO week holding an instant, in the zone. */
export function weekOf(utcMs: number, timeZone: string): WeekRange {
  const day = localDay(timeZone, utcMs);
  return rangeFrom(isoWeekLabel(isoWeekOf(day)), mondayOf(day), timeZone);
}
