/**
 * The room report through the composed server on PGlite and PostgreSQL: three weeks of parcels
 * checked in and picked up through the API on a New York site with a tiny room (2 slots, a small
 * locker, a cold locker), the manual clock stepped to each moment, then every figure checked
 * against numbers worked out from the seed list, each CSV against the JSON, and the deny paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, visionFlags } from '../../db/index.ts';
import { smallRoomSite } from '../../server/reports/room.fixture.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';

type Json = Record<string, unknown>;
const H = 3_600_000;
const UNITS = ['101', '102', '103', '104', '105', '106'];
/** 2 Nov 2026, 00:00 in New York (EST, UTC-5: the whole seed is after the DST change). */
const NOV2 = Date.UTC(2026, 10, 2, 5);
const FROM = '2026-11-02';
const TO = '2026-11-30';
const DAYS = 29;

/** The tiny New York room the unit tests count in too. */
const site = () => smallRoomSite('America/New_York', 'reports-test');

interface Seed {
  day: number;
  hour: number;
  unit: string;
  inAt: number;
  /** Null: still waiting at the end. */
  outAt: number | null;
  id?: string;
  kind?: string;
}

/**
 * Day d (0 = Mon 2 Nov … 20 = Sun 22 Nov) gets 1, 2 or 3 parcels in turn, and 4 more on Saturdays
 * (the weekend surge); parcel k comes at 08:00 + 2k h local. Even k are collected 2 h later (the
 * same day), odd k 26 h later (the next day); the first parcel of every fifth day stays.
 */
function seeds(): Seed[] {
  const out: Seed[] = [];
  for (let d = 0; d < 21; d++) {
    const n = 1 + (d % 3) + (d % 7 === 5 ? 4 : 0);
    for (let k = 0; k < n; k++) {
      const hour = 8 + 2 * k;
      const inAt = NOV2 + d * 24 * H + hour * H;
      const stays = d % 5 === 4 && k === 0;
      out.push({
        day: d,
        hour,
        unit: UNITS[(d + k) % UNITS.length]!,
        inAt,
        outAt: stays ? null : inAt + (k % 2 === 0 ? 2 : 26) * H,
      });
    }
  }
  return out;
}

/** PostgreSQL's percentile_cont: linear between the two neighbours of position p × (n − 1). */
function percentileCont(sorted: number[], p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** RFC 4180 as the server writes it: no quoted fields in these files. */
function parseCsv(text: string): string[][] {
  expect(text.endsWith('\r\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\r\n')
    .map((l) => l.split(','));
}

const dayLabel = (d: number) => `2026-11-${String(2 + d).padStart(2, '0')}`;

describe.each(databaseKinds())('room report on %s', (kind) => {
  let t: TestApp;
  // Bearer tokens: three weeks on the manual clock outlive any console session.
  let manager: string;
  let staff: string;
  const parcels = seeds();
  let report: Json;

  const get = (path: string, bearer = manager) => t.call('GET', path, { bearer });

  beforeAll(async () => {
    t = await createTestApp(kind, { site: site(), clockStart: NOV2 - 24 * H });
    manager = (await t.auth.createToken({ name: 'manager', role: 'manager' })).token;
    staff = (await t.auth.createToken({ name: 'desk', role: 'staff' })).token;
    for (const [i, unit] of UNITS.entries()) {
      const res = await t.call('POST', '/api/residents', {
        bearer: manager,
        body: { name: `Resident ${i}`, unit },
      });
      expect(res.status).toBe(201);
    }
    // Every check-in and pickup in time order; a pickup before a check-in at the same instant,
    // as the report's replay orders them.
    const steps = parcels.flatMap((p, i) => [
      { at: p.inAt, pickup: false, i },
      ...(p.outAt === null ? [] : [{ at: p.outAt, pickup: true, i }]),
    ]);
    steps.sort((a, b) => a.at - b.at || Number(b.pickup) - Number(a.pickup) || a.i - b.i);
    for (const s of steps) {
      t.clock.set(s.at);
      const p = parcels[s.i]!;
      if (s.pickup) {
        const res = await t.call('POST', `/api/packages/${p.id}/pickup`, { bearer: staff });
        expect(res.status).toBe(200);
      } else {
        const res = await t.call('POST', '/api/packages', {
          bearer: staff,
          body: {
            trackingNumber: `TBA${String(s.i + 1).padStart(12, '0')}`,
            carrier: 'Amazon',
            unit: p.unit,
            size: 'standard',
          },
        });
        expect(res.status).toBe(201);
        const body = (await res.json()) as { id: string; location: { kind: string } };
        p.id = body.id;
        p.kind = body.location.kind;
      }
    }
    // Flags: two loitering and a tailgating in the week of 2 Nov (one at Sunday 23:30), three
    // grabs in the week of 9 Nov, none after.
    const flag = (k: 'loitering' | 'multi_package_grab' | 'tailgating', at: number) => ({
      id: newId(at) + k,
      siteId: t.site.site.id,
      kind: k,
      cameraId: 'room-cam',
      at: new Date(at),
      clipStartAt: new Date(at),
      clipEndAt: new Date(at),
    });
    await t.database.db
      .insert(visionFlags)
      .values([
        flag('loitering', NOV2 + 10 * H),
        flag('loitering', NOV2 + 6 * 24 * H + 23.5 * H),
        flag('tailgating', NOV2 + 2 * 24 * H),
        flag('multi_package_grab', NOV2 + 7 * 24 * H),
        flag('multi_package_grab', NOV2 + 9 * 24 * H),
        flag('multi_package_grab', NOV2 + 13 * 24 * H + 23 * H),
      ]);
    t.clock.set(Date.UTC(2026, 11, 1, 17)); // 1 Dec, 12:00 in New York
    const res = await get(`/api/reports/room?from=${FROM}&to=${TO}`);
    expect(res.status).toBe(200);
    report = (await res.json()) as Json;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('counts parcels per local day and hour', () => {
    expect(report).toMatchObject({ timezone: 'America/New_York', from: FROM, to: TO, days: DAYS });
    expect(report.parcels).toBe(54);
    const perDay = Array.from({ length: DAYS }, (_, d) => ({
      day: dayLabel(d),
      count: parcels.filter((p) => p.day === d).length,
    }));
    expect(report.parcelsPerDay).toEqual(perDay);
    expect(report.parcelsPerHour).toEqual(
      Array.from({ length: 24 }, (_, hour) => ({
        hour,
        count: parcels.filter((p) => p.hour === hour).length,
      })),
    );
  });

  it('gives dwell percentiles and the same-day rate exactly', () => {
    const dwell = parcels
      .filter((p) => p.outAt !== null)
      .map((p) => p.outAt! - p.inAt)
      .sort((a, b) => a - b);
    expect(report.dwell).toEqual({
      medianMs: Math.round(percentileCont(dwell, 0.5)),
      p90Ms: Math.round(percentileCont(dwell, 0.9)),
      count: dwell.length,
    });
    const sameDay = parcels.filter((p) => p.outAt !== null && p.outAt - p.inAt === 2 * H).length;
    expect(report.sameDayPickups).toBe(sameDay);
    expect(report.sameDayPickupRate).toBe(sameDay / 54);
  });

  it('lists the Saturday surge first among the peak days', () => {
    // Days: six of 1, six of 2, six of 3, then 7, 5 and 6 on the Saturdays, 8 empty: median 2.
    expect(report.medianDay).toBe(2);
    expect(report.peakDays).toEqual([
      { day: '2026-11-07', count: 7, aboveMedian: 5, timesMedian: 3.5 },
      { day: '2026-11-21', count: 6, aboveMedian: 4, timesMedian: 3 },
      { day: '2026-11-14', count: 5, aboveMedian: 3, timesMedian: 2.5 },
      { day: '2026-11-04', count: 3, aboveMedian: 1, timesMedian: 1.5 },
      { day: '2026-11-10', count: 3, aboveMedian: 1, timesMedian: 1.5 },
      { day: '2026-11-13', count: 3, aboveMedian: 1, timesMedian: 1.5 },
      { day: '2026-11-16', count: 3, aboveMedian: 1, timesMedian: 1.5 },
    ]);
  });

  it('replays overflow per day from where the API put each parcel', () => {
    // The most parcels in overflow at once per local day, from the check-in answers.
    const evs = parcels
      .filter((p) => p.kind === 'overflow')
      .flatMap((p) => [{ at: p.inAt, d: 1 }, ...(p.outAt === null ? [] : [{ at: p.outAt, d: -1 }])])
      .sort((a, b) => a.at - b.at || a.d - b.d);
    const peaks = new Array<number>(DAYS).fill(0);
    let level = 0;
    let e = 0;
    for (let d = 0; d < DAYS; d++) {
      const end = NOV2 + (d + 1) * 24 * H;
      peaks[d] = level;
      for (; e < evs.length && evs[e]!.at < end; e++) {
        level += evs[e]!.d;
        peaks[d] = Math.max(peaks[d]!, level);
      }
    }
    expect(Math.max(...peaks)).toBeGreaterThan(0); // the tiny room does overflow
    const util = report.utilisation as { day: string; overflow: number; shelf: number }[];
    expect(util.map((u) => u.overflow)).toEqual(peaks);
    expect(util.every((u) => u.shelf <= 2)).toBe(true);
    expect(report.capacity).toEqual({
      shelf: 2,
      locker: 2,
      coldLockers: 1,
      oversized: null,
      overflow: null,
    });
    // November's replay follows the same rules in the same order as the check-ins did.
    const advice = report.capacityAdvice as Json;
    expect(advice).toMatchObject({
      month: '2026-11',
      parcels: 54,
      peakOverflow: Math.max(...peaks),
    });
    expect(advice.extraShelfSlots).toBeGreaterThan(0);
    expect(advice.text).toMatch(/^Overflow held up to \d+ parcels? at once in November 2026/);
  });

  it('counts flags per local week and rule', () => {
    const row = (week: string, k: string, count: number) => ({ week, kind: k, count });
    expect(report.flagsPerWeek).toEqual([
      row('2026-11-02', 'loitering', 2),
      row('2026-11-02', 'multi_package_grab', 0),
      row('2026-11-02', 'tailgating', 1),
      row('2026-11-09', 'loitering', 0),
      row('2026-11-09', 'multi_package_grab', 3),
      row('2026-11-09', 'tailgating', 0),
      ...['2026-11-16', '2026-11-23', '2026-11-30'].flatMap((w) => [
        row(w, 'loitering', 0),
        row(w, 'multi_package_grab', 0),
        row(w, 'tailgating', 0),
      ]),
    ]);
  });

  it('serves each chart as CSV with the JSON numbers', async () => {
    const csv = async (chart: string) => {
      const res = await get(`/api/reports/room/${chart}.csv?from=${FROM}&to=${TO}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="parcelroom-${chart}-${FROM}-to-${TO}.csv"`,
      );
      return parseCsv(await res.text());
    };
    const perDay = report.parcelsPerDay as { day: string; count: number }[];
    expect(await csv('parcels-per-day')).toEqual([
      ['day', 'parcels'],
      ...perDay.map((d) => [d.day, String(d.count)]),
    ]);
    const perHour = report.parcelsPerHour as { hour: number; count: number }[];
    expect(await csv('parcels-per-hour')).toEqual([
      ['hour', 'parcels'],
      ...perHour.map((h) => [String(h.hour), String(h.count)]),
    ]);
    const dwell = report.dwell as { medianMs: number; p90Ms: number; count: number };
    expect((await csv('dwell'))[1]).toEqual([
      FROM,
      TO,
      String(dwell.count),
      String(dwell.medianMs),
      String(dwell.p90Ms),
      String(report.sameDayPickups),
      String(report.sameDayPickupRate),
    ]);
    const util = report.utilisation as Record<string, number | string>[];
    expect((await csv('utilisation')).slice(1)).toEqual(
      util.map((u) => [u.day, u.shelf, 2, u.locker, 2, u.oversized, u.overflow].map(String)),
    );
    const peaks = report.peakDays as Record<string, number | string>[];
    expect((await csv('peak-days')).slice(1)).toEqual(
      peaks.map((p) => [p.day, p.count, 2, p.aboveMedian, p.timesMedian].map(String)),
    );
    const flags = report.flagsPerWeek as Record<string, number | string>[];
    expect((await csv('flags-per-week')).slice(1)).toEqual(
      flags.map((f) => [f.week, f.kind, f.count].map(String)),
    );
  });

  it('defaults to the last 30 days and answers an empty range readably', async () => {
    t.clock.set(Date.UTC(2027, 5, 15, 17));
    const res = await get('/api/reports/room');
    expect(res.status).toBe(200);
    const empty = (await res.json()) as Json;
    expect(empty).toMatchObject({
      from: '2027-05-17',
      to: '2027-06-15',
      days: 30,
      parcels: 0,
      sameDayPickupRate: null,
      dwell: { medianMs: null, p90Ms: null, count: 0 },
      peakDays: [],
      // The four parcels nobody collected still wait, so May is not empty for the advice.
      capacityAdvice: { month: '2027-05', parcels: 4 },
    });
  });

  it('refuses staff, bad ranges and unknown charts', async () => {
    const desk = await t.login('staff');
    for (const path of ['/api/reports/room', '/api/reports/room/parcels-per-day.csv']) {
      for (const res of [await get(path, staff), await t.call('GET', path, { cookie: desk })]) {
        expect(res.status).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
      }
      expect((await t.call('GET', path)).status).toBe(401);
    }
    const boss = await t.login('manager');
    expect((await t.call('GET', '/api/reports/room', { cookie: boss })).status).toBe(200);
    const bad = async (query: string, field: string) => {
      const res = await get(`/api/reports/room?${query}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe(field);
    };
    await bad('from=2026-13-01', 'from');
    await bad('from=2026-11-30&to=2026-11-01', 'to');
    await bad('from=2025-01-01&to=2026-11-30', 'from');
    await bad('colour=blue', 'colour');
    const res = await get('/api/reports/room/heatmap.csv');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      'parcels-per-day.csv',
    );
  });
});
