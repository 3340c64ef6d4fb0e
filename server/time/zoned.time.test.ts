import { describe, expect, it } from 'vitest';
import {
  addDays,
  dayEnd,
  dayStart,
  daysBetween,
  eachDay,
  isDay,
  isoWeekLabel,
  isoWeekMonday,
  isoWeekOf,
  localDay,
  monthOf,
  weekOf,
  weeksInIsoYear,
  zoneOffsetMs,
} from './zoned.time.ts';

const NY = 'America/New_York';
const H = 3_600_000;

describe('local days in the site time zone', () => {
  it('starts each New York day at local midnight, 25 hours on the November DST change', () => {
    expect(new Date(dayStart(NY, '2026-10-31')).toISOString()).toBe('2026-10-31T04:00:00.000Z');
    expect(new Date(dayStart(NY, '2026-11-01')).toISOString()).toBe('2026-11-01T04:00:00.000Z');
    expect(new Date(dayStart(NY, '2026-11-02')).toISOString()).toBe('2026-11-02T05:00:00.000Z');
    expect(dayStart(NY, '2026-11-02') - dayStart(NY, '2026-11-01')).toBe(25 * H);
    // And 23 hours in March.
    expect(dayStart(NY, '2026-03-09') - dayStart(NY, '2026-03-08')).toBe(23 * H);
    expect(zoneOffsetMs(NY, Date.UTC(2026, 6, 1))).toBe(-4 * H);
    expect(zoneOffsetMs(NY, Date.UTC(2026, 11, 1))).toBe(-5 * H);
  });

  it('finds the start of a day whose midnight does not exist (clocks jump at 00:00)', () => {
    // Chile springs forward at 24:00 on the first Saturday of September: 2026-09-06 starts 01:00.
    const tz = 'America/Santiago';
    const start = dayStart(tz, '2026-09-06');
    expect(localDay(tz, start)).toBe('2026-09-06');
    expect(localDay(tz, start - 1)).toBe('2026-09-05');
  });

  it('names the local day of an instant, not the UTC one', () => {
    expect(localDay(NY, Date.UTC(2026, 10, 2, 4, 59))).toBe('2026-11-01');
    expect(localDay(NY, Date.UTC(2026, 10, 2, 5, 0))).toBe('2026-11-02');
    expect(localDay('UTC', Date.UTC(2026, 10, 2, 4, 59))).toBe('2026-11-02');
  });

  it('does calendar arithmetic on days', () => {
    expect(isDay('2026-02-29')).toBe(false);
    expect(isDay('2028-02-29')).toBe(true);
    expect(isDay('2026-1-01')).toBe(false);
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(daysBetween('2026-01-01', '2027-01-01')).toBe(365);
    expect(eachDay('2026-10-30', '2026-11-02')).toEqual([
      '2026-10-30',
      '2026-10-31',
      '2026-11-01',
      '2026-11-02',
    ]);
    expect(weekOf('2026-11-01')).toBe('2026-10-26'); // a Sunday: the week began Monday
    expect(weekOf('2026-11-02')).toBe('2026-11-02');
    expect(monthOf('2028-02-10')).toEqual({ first: '2028-02-01', last: '2028-02-29' });
  });

  it('ends a day where the next begins, 23 hours long on the spring change', () => {
    expect(dayEnd(NY, '2026-03-08')).toBe(dayStart(NY, '2026-03-09'));
    expect(dayEnd(NY, '2026-03-08') - dayStart(NY, '2026-03-08')).toBe(23 * H);
    expect(new Date(dayEnd('UTC', '2026-12-31')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('numbers ISO weeks by their Thursday, across year ends', () => {
    expect(isoWeekOf('2026-11-21')).toEqual({ year: 2026, week: 47 });
    expect(isoWeekOf('2027-01-01')).toEqual({ year: 2026, week: 53 }); // a Friday
    expect(isoWeekOf('2024-12-30')).toEqual({ year: 2025, week: 1 }); // a Monday
    expect(isoWeekMonday(2026, 1)).toBe('2025-12-29');
    expect(isoWeekMonday(2026, 47)).toBe('2026-11-16');
    expect(weeksInIsoYear(2026)).toBe(53);
    expect(weeksInIsoYear(2025)).toBe(52);
    expect(isoWeekLabel({ year: 2026, week: 7 })).toBe('2026-W07');
  });
});
