/**
 * The room report's figures on known data in New York, across the November 2026 DST change
 * (Sunday 1 November: 2 a.m. EDT becomes 1 a.m. EST, so that local day lasts 25 hours). Rows are
 * written straight into PGlite; every expected number is worked out by hand in the comments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newId,
  openDatabase,
  packages,
  units,
  visionFlags,
  type Database,
} from '../../db/index.ts';
import { manualClock } from '../../hardware/clock.ts';
import { ApiError } from '../http/errors.ts';
import { syncSite } from '../site.sync.ts';
import { roomChartCsv } from './room.csv.ts';
import { smallRoomSite } from './room.fixture.ts';
import {
  createRoomReport,
  peakDaysOf,
  resolveRange,
  type RoomReportService,
} from './room.report.ts';

const Z = (iso: string) => new Date(iso);
const MIN = 60_000;
const H = 60 * MIN;

let database: Database;
let report: RoomReportService;
const site = smallRoomSite();
const siteId = site.site.id;

interface Row {
  unit: string;
  loc: string;
  size?: 'standard' | 'oversized' | 'perishable';
  in: string;
  picked?: string;
  returned?: string;
}

let seq = 0;
async function insert(rows: Row[]): Promise<void> {
  await database.db.insert(packages).values(
    rows.map((r) => ({
      id: newId(Date.parse(r.in)) + String(++seq).padStart(3, '0'),
      siteId,
      trackingNumber: `TBA${String(++seq).padStart(12, '0')}`,
      carrier: 'Amazon',
      unitId: `unit-${r.unit}`,
      size: r.size ?? 'standard',
      status: r.picked
        ? ('picked_up' as const)
        : r.returned
          ? ('returned' as const)
          : ('checked_in' as const),
      locationId: r.loc,
      checkedInAt: Z(r.in),
      pickedUpAt: r.picked ? Z(r.picked) : null,
      returnedAt: r.returned ? Z(r.returned) : null,
    })),
  );
}

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  await syncSite(database.db, site, new Date());
  await database.db.insert(units).values(
    ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((u) => ({
      id: `unit-${u}`,
      siteId,
      label: u,
    })),
  );
  report = createRoomReport({
    db: database.db,
    siteId,
    site,
    clock: manualClock(Date.UTC(2026, 11, 15, 12)),
  });

  // --- Around the DST change (range 2026-10-31 .. 2026-11-05) ---------------------------------
  await insert([
    // Fri 30 Oct 23:59 EDT: the day before the range; gone before it opens.
    { unit: '9', loc: 's2', in: '2026-10-31T03:59:00Z', picked: '2026-10-31T03:59:30Z' },
    // P1 Sat 31 Oct 23:30 EDT, hour 23; picked up 00:30 on 1 Nov: not the same day. Dwell 1 h.
    { unit: '1', loc: 's1', in: '2026-11-01T03:30:00Z', picked: '2026-11-01T04:30:00Z' },
    // P2 Sun 1 Nov 01:30 EDT (the first 1 a.m.), hour 1; out 01:10 EST. Dwell 40 min, same day.
    { unit: '2', loc: 's1', in: '2026-11-01T05:30:00Z', picked: '2026-11-01T06:10:00Z' },
    // P3 Sun 1 Nov 01:30 EST (the second 1 a.m.), hour 1; out 23:59:59 EST: same day.
    // Dwell 22 h 29 min 59 s.
    { unit: '3', loc: 's2', in: '2026-11-01T06:30:00Z', picked: '2026-11-02T04:59:59Z' },
    // P5 Sun 1 Nov 23:59 EST (already 2 Nov in UTC), hour 23; waits until 7 Nov.
    { unit: '5', loc: 'l1', in: '2026-11-02T04:59:00Z', picked: '2026-11-07T15:00:00Z' },
    // P4 Mon 2 Nov 00:00 EST, hour 0; out 00:30. Dwell 30 min, same day.
    { unit: '4', loc: 's1', in: '2026-11-02T05:00:00Z', picked: '2026-11-02T05:30:00Z' },
    // P6 Tue 3 Nov 10:00 EST, hour 10; returned to sender: no dwell, not picked up.
    {
      unit: '6',
      loc: 'oversized',
      size: 'oversized',
      in: '2026-11-03T15:00:00Z',
      returned: '2026-11-05T15:00:00Z',
    },
    // Fri 6 Nov 00:00 EST: the day after the range.
    { unit: '7', loc: 's2', in: '2026-11-06T05:00:00Z', picked: '2026-11-06T06:00:00Z' },
  ]);

  // --- Occupancy in December (EST, UTC-5; range 2026-12-01 .. 2026-12-03) ---------------------
  await insert([
    // U0: in A1 since 30 Nov, out 1 Dec 10:00 EST.
    { unit: '1', loc: 's1', in: '2026-11-30T12:00:00Z', picked: '2026-12-01T15:00:00Z' },
    // U1: unit 8's parcel put in A1 too by the courier (still one slot in use), to 2 Dec 05:00.
    { unit: '8', loc: 's1', in: '2026-12-01T10:00:00Z', picked: '2026-12-02T10:00:00Z' },
    // U2: A2, 1 Dec 09:00-11:00 EST: two slots in use 09:00-11:00.
    { unit: '2', loc: 's2', in: '2026-12-01T14:00:00Z', picked: '2026-12-01T16:00:00Z' },
    // U3: overflow from 30 Nov 23:00 EST to 3 Dec 01:00 EST.
    { unit: '3', loc: 'overflow', in: '2026-12-01T04:00:00Z', picked: '2026-12-03T06:00:00Z' },
    // U4 leaves overflow at the instant U5 arrives: never three at once.
    { unit: '4', loc: 'overflow', in: '2026-12-01T20:00:00Z', picked: '2026-12-01T21:00:00Z' },
    { unit: '5', loc: 'overflow', in: '2026-12-01T21:00:00Z', picked: '2026-12-02T06:00:00Z' },
    // U6: Locker 1 from 2 Dec 07:00 EST, still waiting.
    { unit: '6', loc: 'l1', in: '2026-12-02T12:00:00Z' },
    // U7: oversized 2 Dec 23:59 EST to 3 Dec 00:01 EST (returned).
    {
      unit: '7',
      loc: 'oversized',
      size: 'oversized',
      in: '2026-12-03T04:59:00Z',
      returned: '2026-12-03T05:01:00Z',
    },
  ]);

  // --- Flags either side of the Monday boundary, site time -------------------------------------
  const flag = (kind: 'loitering' | 'multi_package_grab' | 'tailgating', at: string) => ({
    id: newId(Date.parse(at)) + kind,
    siteId,
    kind,
    cameraId: 'room-cam',
    at: Z(at),
    clipStartAt: Z(at),
    clipEndAt: Z(at),
  });
  await database.db.insert(visionFlags).values([
    flag('loitering', '2026-11-02T04:30:00Z'), // Sun 1 Nov 23:30 EST: week of Mon 26 Oct
    flag('tailgating', '2026-11-02T04:40:00Z'), // the same
    flag('loitering', '2026-11-02T05:30:00Z'), // Mon 2 Nov 00:30 EST: week of 2 Nov
    flag('loitering', '2026-11-05T12:00:00Z'),
    flag('tailgating', '2026-10-31T03:00:00Z'), // Fri 30 Oct: before the range
  ]);
}, 60_000);

afterAll(async () => {
  await database?.close();
});

const DST = { from: '2026-10-31', to: '2026-11-05' };

describe('parcels by local day and hour', () => {
  it('counts check-ins on the New York day and hour, across the 25-hour day', async () => {
    const f = await report.parcels(DST);
    expect(f.parcels).toBe(6);
    expect(f.parcelsPerDay).toEqual([
      { day: '2026-10-31', count: 1 },
      { day: '2026-11-01', count: 3 },
      { day: '2026-11-02', count: 1 },
      { day: '2026-11-03', count: 1 },
      { day: '2026-11-04', count: 0 },
      { day: '2026-11-05', count: 0 },
    ]);
    const hours = Object.fromEntries(
      f.parcelsPerHour.filter((h) => h.count).map((h) => [h.hour, h.count]),
    );
    expect(f.parcelsPerHour).toHaveLength(24);
    expect(hours).toEqual({ 0: 1, 1: 2, 10: 1, 23: 2 });
  });

  it('rates same-day pickups by the local day, of all parcels of the range', async () => {
    const f = await report.parcels(DST);
    // P2, P3 and P4 were collected the day they came; P1 after midnight, P5 days later, P6 returned.
    expect(f.sameDayPickups).toBe(3);
    expect(f.sameDayPickupRate).toBe(0.5);
  });

  it('lists the days above the median day as peaks', async () => {
    const f = await report.parcels(DST);
    // Days 1, 3, 1, 1, 0, 0: median (1 + 1) / 2 = 1; only 1 Nov is above it.
    expect(f.medianDay).toBe(1);
    expect(f.peakDays).toEqual([{ day: '2026-11-01', count: 3, aboveMedian: 2, timesMedian: 3 }]);
    expect(
      peakDaysOf([
        { day: 'a', count: 7 },
        { day: 'b', count: 9 },
        { day: 'c', count: 2 },
        { day: 'd', count: 0 },
        { day: 'e', count: 7 },
        { day: 'f', count: 1 },
      ]),
    ).toEqual([
      // Median (2 + 7) / 2 = 4.5.
      { day: 'b', count: 9, aboveMedian: 4.5, timesMedian: 2 },
      { day: 'a', count: 7, aboveMedian: 2.5, timesMedian: 1.56 },
      { day: 'e', count: 7, aboveMedian: 2.5, timesMedian: 1.56 },
    ]);
  });
});

describe('dwell', () => {
  it('gives the exact median and p90 of the parcels picked up', async () => {
    // 30 min, 40 min, 1 h, 22 h 29 min 59 s (80,999 s) and P5's 5 d 10 h 1 min (468,060 s).
    // Median: the middle one, 1 h. p90: position 0.9 × 4 = 3.6 → 80,999 s + 0.6 × (468,060 s −
    // 80,999 s) = 313,235.6 s.
    expect(await report.dwell(DST)).toEqual({ medianMs: H, p90Ms: 313_235_600, count: 5 });
  });

  it('is empty, not zero, without pickups', async () => {
    expect(await report.dwell({ from: '2027-01-01', to: '2027-01-31' })).toEqual({
      medianMs: null,
      p90Ms: null,
      count: 0,
    });
  });
});

describe('utilisation', () => {
  it('replays occupancy exactly for overlapping parcels: slots in use, parcels in the areas', async () => {
    expect(await report.utilisation({ from: '2026-12-01', to: '2026-12-03' })).toEqual([
      // A1 (two parcels) and A2 at once; overflow: U3 with U4, then U3 with U5.
      { day: '2026-12-01', shelf: 2, locker: 0, oversized: 0, overflow: 2 },
      // A1 until 05:00; U3 and U5 at midnight; U6 in Locker 1; U7 from 23:59.
      { day: '2026-12-02', shelf: 1, locker: 1, oversized: 1, overflow: 2 },
      // The day starts with U3, U6 and U7 in the room.
      { day: '2026-12-03', shelf: 0, locker: 1, oversized: 1, overflow: 1 },
    ]);
  });

  it('carries a quiet day at the level it started with', async () => {
    const days = await report.utilisation({ from: '2026-11-04', to: '2026-11-06' });
    // P5 waits in Locker 1 the whole time; P6 leaves the oversized area on 5 Nov.
    expect(days).toEqual([
      { day: '2026-11-04', shelf: 0, locker: 1, oversized: 1, overflow: 0 },
      { day: '2026-11-05', shelf: 0, locker: 1, oversized: 1, overflow: 0 },
      { day: '2026-11-06', shelf: 1, locker: 1, oversized: 0, overflow: 0 },
    ]);
  });
});

describe('flags per week', () => {
  it('puts each flag in its local week (Monday first), every rule listed', async () => {
    const weeks = await report.flagsPerWeek(DST);
    expect(weeks).toEqual([
      { week: '2026-10-26', kind: 'loitering', count: 1 },
      { week: '2026-10-26', kind: 'multi_package_grab', count: 0 },
      { week: '2026-10-26', kind: 'tailgating', count: 1 },
      { week: '2026-11-02', kind: 'loitering', count: 2 },
      { week: '2026-11-02', kind: 'multi_package_grab', count: 0 },
      { week: '2026-11-02', kind: 'tailgating', count: 0 },
    ]);
  });
});

describe('capacity advice', () => {
  it('replays the last whole month before the range end through the slot rules', async () => {
    // To 3 Dec: November. Its parcels never needed overflow by the rules.
    const nov = await report.capacityAdvice('2026-12-03');
    expect(nov).toMatchObject({ month: '2026-11', peakOverflow: 0, extraShelfSlots: 0 });
    expect(nov.text).toBe(
      'Overflow stayed empty in November 2026: the shelves and lockers were enough.',
    );
    // To 31 Dec: December itself. By the rules U0 has A1, U3 A2 and unit 8's U1 Locker 1 (not
    // A1, which is unit 1's), so on 1 Dec at 09:00 EST U2 finds no place: overflow.
    const dec = await report.capacityAdvice('2026-12-31');
    expect(dec).toMatchObject({
      month: '2026-12',
      peakOverflow: 1,
      peakOverflowAt: '2026-12-01T14:00:00.000Z',
      extraShelfSlots: 1,
      extraLockers: { small: 1, medium: 0, large: 0 },
      extraColdLockers: { small: 0, medium: 0, large: 0 },
    });
    expect(dec.text).toBe(
      'Overflow held up to 1 parcel at once in December 2026 (first on 2026-12-01): ' +
        '1 more shelf slot, or 1 more small locker, would have kept it empty.',
    );
  });
});

describe('capacity advice over time', () => {
  it('works out an ended month once, and replays the running month every time', async () => {
    const before = await report.capacityAdvice('2026-12-03'); // November: ended
    // Rows only an import could write: five households at once on 10 November, and a second
    // parcel beside U2 on 1 December.
    await insert(
      ['1', '2', '3', '4', '5'].map((unit) => ({
        unit,
        loc: 'overflow',
        in: '2026-11-10T15:00:00Z',
        picked: '2026-11-10T16:00:00Z',
      })),
    );
    await insert([
      { unit: '9', loc: 'overflow', in: '2026-12-01T14:30:00Z', picked: '2026-12-01T15:30:00Z' },
    ]);
    expect(await report.capacityAdvice('2026-12-03')).toEqual(before);
    // December runs until 1 January; the clock says 15 December.
    expect(await report.capacityAdvice('2026-12-31')).toMatchObject({ peakOverflow: 2 });
  });
});

describe('ranges and CSV', () => {
  it('defaults to the last 30 days and refuses bad or long ranges, naming the parameter', () => {
    expect(resolveRange({}, '2026-12-15')).toEqual({ from: '2026-11-16', to: '2026-12-15' });
    expect(resolveRange({ to: '2026-01-30' }, '2026-12-15')).toEqual({
      from: '2026-01-01',
      to: '2026-01-30',
    });
    const refused = (q: { from?: string; to?: string }) => {
      try {
        resolveRange(q, '2026-12-15');
      } catch (e) {
        if (e instanceof ApiError) return { status: e.status, field: e.field, message: e.message };
      }
      return null;
    };
    expect(refused({ from: '2026-02-30' })).toMatchObject({ status: 400, field: 'from' });
    expect(refused({ to: 'yesterday' })).toMatchObject({ status: 400, field: 'to' });
    expect(refused({ from: '2026-12-10', to: '2026-12-01' })).toMatchObject({ field: 'to' });
    expect(refused({ from: '2025-11-10', to: '2026-12-15' })).toEqual({
      status: 400,
      field: 'from',
      message: 'from: the range is 401 days; at most 400 days at a time',
    });
    expect(refused({ from: '2025-11-11', to: '2026-12-15' })).toBeNull();
  });

  it('writes each chart as CSV with the JSON numbers', async () => {
    expect(
      await roomChartCsv(report, 'parcels-per-day', { from: '2026-11-01', to: '2026-11-02' }),
    ).toBe('day,parcels\r\n2026-11-01,3\r\n2026-11-02,1\r\n');
    expect(await roomChartCsv(report, 'dwell', DST)).toBe(
      'from,to,picked_up,median_ms,p90_ms,same_day_pickups,same_day_pickup_rate\r\n' +
        `2026-10-31,2026-11-05,5,${H},313235600,3,0.5\r\n`,
    );
    expect(
      await roomChartCsv(report, 'utilisation', { from: '2026-12-01', to: '2026-12-01' }),
    ).toBe(
      'day,shelf_slots_in_use,shelf_slots,lockers_in_use,lockers,oversized_parcels,overflow_parcels\r\n' +
        '2026-12-01,2,2,0,2,0,2\r\n',
    );
  });

  it('knows the full report shape with the site zone', async () => {
    const r = await report.report(DST);
    expect(r).toMatchObject({
      timezone: 'America/New_York',
      from: '2026-10-31',
      to: '2026-11-05',
      days: 6,
      parcels: 6,
      capacity: { shelf: 2, locker: 2, coldLockers: 1, oversized: null, overflow: null },
      capacityAdvice: { month: '2026-10' },
    });
  });
});
