/**
 * An optional weekly schedule for when residents and carriers may open the room (staff always
 * may). Evaluated in the building's time zone, so daylight-saving changes move with the clock on
 * the wall, not with UTC.
 */
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface ScheduleWindow {
  days: readonly Weekday[];
  /** "HH:MM", inclusive. */
  from: string;
  /** "HH:MM", exclusive; "24:00" for end of day. */
  to: string;
}

export interface AccessSchedule {
  timezone: string;
  windows: readonly ScheduleWindow[];
}

const WEEKDAYS: Record<string, Weekday> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

const minutes = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
};

export function createScheduleCheck(schedule: AccessSchedule): (atMs: number) => boolean {
  const fmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: schedule.timezone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  return (atMs) => {
    const parts = fmt.formatToParts(new Date(atMs));
    const day = WEEKDAYS[parts.find((p) => p.type === 'weekday')?.value ?? ''];
    const h = Number(parts.find((p) => p.type === 'hour')?.value);
    const m = Number(parts.find((p) => p.type === 'minute')?.value);
    if (!day) return false;
    const now = h * 60 + m;
    return schedule.windows.some(
      (w) => w.days.includes(day) && now >= minutes(w.from) && now < minutes(w.to),
    );
  };
}
