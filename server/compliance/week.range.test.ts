import { describe, expect, it } from 'vitest';
import { parseWeek, weekOf } from './week.range.ts';

describe('ISO weeks in the building time zone', () => {
  it('starts a week at Monday midnight local time', () => {
    expect(parseWeek('2026-W47', 'UTC')).toEqual({
      week: '2026-W47',
      from: Date.UTC(2026, 10, 16),
      to: Date.UTC(2026, 10, 23),
    });
    const ny = parseWeek('2026-W47', 'America/New_York')!;
    expect(new Date(ny.from).toISOString()).toBe('2026-11-16T05:00:00.000Z');
  });

  it('has a 167-hour week when the clocks go forward', () => {
    const w = parseWeek('2026-W10', 'America/New_York')!;
    expect(new Date(w.from).toISOString()).toBe('2026-03-02T05:00:00.000Z');
    expect(w.to - w.from).toBe(167 * 3_600_000);
  });

  it('knows which years have a week 53', () => {
    expect(parseWeek('2026-W53', 'UTC')).not.toBeNull();
    expect(parseWeek('2025-W53', 'UTC')).toBeNull();
    expect(parseWeek('2026-W00', 'UTC')).toBeNull();
    expect(parseWeek('2026-47', 'UTC')).toBeNull();
  });

  it('finds the week of an instant, across a year end', () => {
    expect(weekOf(Date.UTC(2026, 10, 21, 9), 'UTC').week).toBe('2026-W47');
    // Friday 1 January 2027 belongs to 2026's week 53.
    expect(weekOf(Date.UTC(2027, 0, 1, 12), 'UTC').week).toBe('2026-W53');
    // Sunday 23:30 in New York is Monday in UTC: still the New York week.
    const sundayNight = Date.UTC(2026, 10, 23, 4, 30);
    expect(weekOf(sundayNight, 'America/New_York').week).toBe('2026-W47');
    expect(weekOf(sundayNight, 'UTC').week).toBe('2026-W48');
  });
});
