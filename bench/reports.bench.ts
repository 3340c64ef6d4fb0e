/**
 * The room report over a year of a busy 300-unit building on PostgreSQL: the figures the
 * Analytics page asks for (GET /api/reports/room) over the last 30, 90 and 365 days, each chart's
 * CSV, and the capacity advice's replay of the pre-holiday peak month on its own.
 *
 * Data: examples/building-300.site.yaml (America/Chicago, 216 slots, 60 lockers), 300 units, a
 * year of parcels from 1 Dec 2025 to 30 Nov 2026 (~100,000 by default: a stress volume, about
 * five times the 1-1.5 parcels per unit per week of the site file's sizing), delivered Monday to
 * Saturday 08:00-20:00 with quiet Sundays, twice the volume from 8 to 23 December and three times on
 * its peak days. 90% are collected within 6 hours, the rest after 1-5 days; parcels of the last ten
 * days sometimes still wait. Locations follow the household (slot by unit, a locker or overflow
 * for some), plus 2,000 vision flags. Rows are written with one INSERT … SELECT per table.
 *
 * Each figure is timed through `createRoomReport` (the route's whole work, without HTTP; the
 * whole report's rows include November's advice, worked out once as that month has ended) on two
 * databases holding the same rows: the schema's indexes as they are, and the same plus a
 * candidate index on (site_id, checked_in_at). Runs alternate between the two, so the report
 * says whether that index is worth adding even on a busy machine.
 */
import pg from 'pg';
import { openDatabase, type Database } from '../db/index.ts';
import { manualClock } from '../hardware/clock.ts';
import { readSiteFile, type SiteConfig } from '../server/config/index.ts';
import { roomChartCsv, ROOM_CHARTS } from '../server/reports/room.csv.ts';
import { createRoomReport, type ReportRange } from '../server/reports/room.report.ts';
import { syncSite } from '../server/site.sync.ts';
import {
  createDatabase,
  findPostgres,
  startPostgres,
  type PostgresServer,
} from '../test/harness/postgres.server.ts';
import { BUILDING_300_SITE } from './packages.bench.ts';
import { prng } from './site.ts';
import { formatTable, percentile, round, type Cell } from './stats.ts';

export interface ReportsBenchOptions {
  /** Server URL of a PostgreSQL cluster already running (bench/run.ts's); unset = start one. */
  postgresServerUrl?: string | undefined;
  quick?: boolean;
  /** Parcels in the year; default 100,000 (20,000 with `quick`). */
  parcels?: number;
}

export interface Timing {
  measured: string;
  index: 'schema' | 'schema + (site_id, checked_in_at)';
  runs: number;
  p50: number;
  p95: number;
  max: number;
}

export interface ReportsBenchResult {
  skipped?: string;
  parcels: number;
  flags: number;
  generateSeconds: number;
  timings: Timing[];
  /** The capacity advice for the peak month, as the report gives it. */
  advice: string;
}

const FIRST_DAY = Date.UTC(2025, 11, 1);
const DAYS = 365;
const LAST_DAY = '2026-11-30';
const CANDIDATE_INDEX =
  'CREATE INDEX packages_site_checked_in_idx ON packages (site_id, checked_in_at)';

const dayLabel = (i: number) => new Date(FIRST_DAY + i * 86_400_000).toISOString().slice(0, 10);

/** Parcels per day: quiet Sundays, a December surge, three peak days before Christmas. */
function dailyCounts(total: number): number[] {
  const weights = Array.from({ length: DAYS }, (_, i) => {
    const d = new Date(FIRST_DAY + i * 86_400_000);
    let w = d.getUTCDay() === 0 ? 0.3 : 1;
    if (d.getUTCMonth() === 11 && d.getUTCDate() >= 8 && d.getUTCDate() <= 23) w *= 2;
    if (d.getUTCMonth() === 11 && [15, 18, 21].includes(d.getUTCDate())) w *= 1.5;
    return w;
  });
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => Math.round((w / sum) * total));
}

export async function runReportsBench(
  log: (line: string) => void,
  opts: ReportsBenchOptions = {},
): Promise<ReportsBenchResult> {
  const total = opts.parcels ?? (opts.quick ? 20_000 : 100_000);
  const runs = opts.quick ? 5 : 20;
  const empty: ReportsBenchResult = {
    parcels: 0,
    flags: 0,
    generateSeconds: 0,
    timings: [],
    advice: '',
  };
  const install = findPostgres();
  if (!install && !opts.postgresServerUrl)
    return { ...empty, skipped: 'PostgreSQL is not installed (apt-get install -y postgresql)' };

  const site = readSiteFile(BUILDING_300_SITE);
  const siteId = site.site.id;
  let server: PostgresServer | null = null;
  const databases: Database[] = [];
  try {
    let serverUrl = opts.postgresServerUrl;
    if (!serverUrl) {
      server = await startPostgres({ ...(install ? { install } : {}) });
      serverUrl = server.url;
    }
    // Two databases with the same rows (the generator is seeded), one with the candidate index;
    // runs alternate between them so a busy machine slows both alike.
    const t0 = performance.now();
    const plain = await seed(site, await createDatabase(serverUrl, 'bench_reports'), total);
    const indexed = await seed(site, await createDatabase(serverUrl, 'bench_reports_idx'), total, [
      CANDIDATE_INDEX,
    ]);
    databases.push(plain.database, indexed.database);
    if (plain.parcels !== indexed.parcels) throw new Error('the two databases differ');
    const { parcels, flags } = plain;
    const generateSeconds = round((performance.now() - t0) / 1000, 1);
    log(`reports bench: 2 × ${parcels.toLocaleString('en-US')} parcels in ${generateSeconds} s`);

    // --- the report ----------------------------------------------------------------------------
    const clock = manualClock(Date.UTC(2026, 11, 1, 18));
    const variants = [
      { index: 'schema' as const, db: plain.database },
      { index: 'schema + (site_id, checked_in_at)' as const, db: indexed.database },
    ].map((v) => ({ ...v, report: createRoomReport({ db: v.db.db, siteId, site, clock }) }));
    const ranges: [string, ReportRange][] = [
      ['last 30 days', { from: '2026-11-01', to: LAST_DAY }],
      ['last 90 days', { from: '2026-09-01', to: LAST_DAY }],
      ['last 365 days', { from: '2025-12-01', to: LAST_DAY }],
    ];
    const year = ranges[2]![1];
    type V = (typeof variants)[number];
    const measured: [string, (v: V) => Promise<unknown>][] = [
      ...ranges.map(
        ([label, range]) =>
          [
            `GET /reports/room, ${label} (all figures + advice)`,
            (v: V) => v.report.report(range),
          ] as [string, (v: V) => Promise<unknown>],
      ),
      ['utilisation replay, 365 days', (v) => v.report.utilisation(year)],
      ['parcels per day/hour + same-day, 365 days', (v) => v.report.parcels(year)],
      ['dwell median/p90, 365 days', (v) => v.report.dwell(year)],
      // A fresh service each time: an ended month's advice is otherwise worked out once.
      [
        'capacity advice replay, December (peak month)',
        (v) => createRoomReport({ db: v.db.db, siteId, site, clock }).capacityAdvice('2025-12-31'),
      ],
      [
        'all six CSV files, 365 days',
        async (v) => {
          for (const chart of ROOM_CHARTS) await roomChartCsv(v.report, chart, year);
        },
      ],
    ];
    const timings: Timing[] = [];
    for (const [label, fn] of measured) {
      log(`reports bench: ${label}`);
      const ms = await alternating(runs, variants, fn);
      variants.forEach((v, i) => timings.push(summary(label, v.index, ms[i]!)));
    }
    const advice = (await variants[0]!.report.capacityAdvice('2025-12-31')).text;
    return { parcels, flags, generateSeconds, timings, advice };
  } finally {
    for (const d of databases) await d.close();
    await server?.stop();
  }
}

/** `runs` timings of `fn` on each variant, taken in turn (after one warm-up each), sorted. */
async function alternating<V>(
  runs: number,
  variants: readonly V[],
  fn: (v: V) => Promise<unknown>,
): Promise<number[][]> {
  for (const v of variants) await fn(v);
  const ms = variants.map(() => [] as number[]);
  for (let i = 0; i < runs; i++)
    for (const [k, v] of variants.entries()) {
      const t = performance.now();
      await fn(v);
      ms[k]!.push(performance.now() - t);
    }
  return ms.map((m) => m.sort((a, b) => a - b));
}

/** The year's rows in a fresh database; `extra` DDL after the load (then ANALYZE). */
async function seed(
  site: SiteConfig,
  url: string,
  total: number,
  extra: readonly string[] = [],
): Promise<{ database: Database; parcels: number; flags: number }> {
  const siteId = site.site.id;
  const tz = site.site.timezone;
  const database = await openDatabase({ url, poolSize: 4 });
  // One connection: setseed() and the random() calls after it must share a session.
  const client = new pg.Client({ connectionString: url });
  try {
    await syncSite(database.db, site, new Date(FIRST_DAY));
    await client.connect();
    const q = (text: string, values: unknown[] = []) => client.query(text, values);
    const locations = (
      await q('SELECT id, kind FROM storage_locations WHERE site_id = $1 ORDER BY id', [siteId])
    ).rows as { id: string; kind: string }[];
    const slots = locations.filter((l) => l.kind === 'shelf').map((l) => l.id);
    const lockers = locations.filter((l) => l.kind === 'locker').map((l) => l.id);
    const overflow = locations.find((l) => l.kind === 'overflow')!.id;
    const oversized = locations.find((l) => l.kind === 'oversized')!.id;
    await q(
      `INSERT INTO units (id, site_id, label)
       SELECT 'bench-unit-' || u, $1, u::text FROM generate_series(1, 300) u`,
      [siteId],
    );
    const counts = dailyCounts(total);
    await q(`SELECT setseed(0.42)`);
    // One row per parcel: day and local time, household, dwell (90% within 6 h), place.
    await q(
      `INSERT INTO packages (id, site_id, tracking_number, carrier, unit_id, size, status,
                             location_id, checked_in_at, picked_up_at)
       SELECT 'bench-' || n, $1, 'TBA' || lpad(n::text, 12, '0'), 'Amazon',
              'bench-unit-' || (1 + unit), size,
              CASE WHEN out_at IS NULL THEN 'checked_in' ELSE 'picked_up' END,
              CASE WHEN size = 'oversized' THEN $6
                   WHEN r_loc < 0.85 THEN ($3::text[])[1 + unit % array_length($3::text[], 1)]
                   WHEN r_loc < 0.97 THEN ($4::text[])[1 + unit % array_length($4::text[], 1)]
                   ELSE $5 END,
              in_at, out_at
         FROM (
           SELECT row_number() OVER () AS n, unit, size, r_loc, in_at,
                  CASE WHEN r_wait < 0.9 THEN in_at + random() * interval '6 hours'
                       WHEN in_at > $8::timestamptz - interval '10 days' AND r_wait > 0.98 THEN NULL
                       ELSE in_at + interval '1 day' + random() * interval '4 days' END AS out_at
             FROM (
               SELECT floor(random() * 300)::int AS unit,
                      CASE WHEN random() < 0.92 THEN 'standard' ELSE 'oversized' END AS size,
                      random() AS r_loc, random() AS r_wait,
                      ((d.day::date + time '08:00' + random() * interval '12 hours')
                         AT TIME ZONE $2) AS in_at
                 FROM unnest($7::date[], $9::int[]) AS d(day, n)
                 CROSS JOIN LATERAL generate_series(1, d.n)
             ) raw
         ) p`,
      [
        siteId,
        tz,
        slots,
        lockers,
        overflow,
        oversized,
        counts.map((_, i) => dayLabel(i)),
        `${LAST_DAY}T23:59:59Z`,
        counts,
      ],
    );
    const rnd = prng(0x2e9);
    const kinds = ['loitering', 'multi_package_grab', 'tailgating'];
    const flagRows = Array.from({ length: 2_000 }, (_, i) => {
      const at = new Date(FIRST_DAY + rnd() * DAYS * 86_400_000).toISOString();
      return `('bench-flag-${i}', '${siteId}', '${kinds[i % 3]}', 'room', '${at}', '${at}', '${at}')`;
    });
    await q(
      `INSERT INTO vision_flags (id, site_id, kind, camera_id, at, clip_start_at, clip_end_at)
       VALUES ${flagRows.join(',')}`,
    );
    for (const ddl of extra) await q(ddl);
    await q('ANALYZE packages');
    await q('ANALYZE vision_flags');
    const parcels = Number(
      ((await q('SELECT count(*)::int AS n FROM packages')).rows[0] as { n: number }).n,
    );
    return { database, parcels, flags: flagRows.length };
  } catch (err) {
    await database.close();
    throw err;
  } finally {
    await client.end();
  }
}

function summary(measured: string, index: Timing['index'], sorted: number[]): Timing {
  return {
    measured,
    index,
    runs: sorted.length,
    p50: round(percentile(sorted, 50), 1),
    p95: round(percentile(sorted, 95), 1),
    max: round(sorted[sorted.length - 1] ?? NaN, 1),
  };
}

export function formatReportsReport(r: ReportsBenchResult, section = '11'): string[] {
  if (r.skipped) return [`${section}. Room report: ${r.skipped}`];
  const rows: Cell[][] = r.timings.map((t) => [t.measured, t.index, t.runs, t.p50, t.p95, t.max]);
  return [
    formatTable(
      `${section}. Room report on PostgreSQL: ${r.parcels.toLocaleString('en-US')} parcels in a ` +
        `year of the 300-unit building, ${r.flags.toLocaleString('en-US')} flags (ms)`,
      ['measured', 'indexes', 'runs', 'p50 ms', 'p95 ms', 'max ms'],
      rows,
      2,
    ),
    `   Data written in ${r.generateSeconds} s. December's advice: ${r.advice}`,
  ];
}

// `npx tsx bench/reports.bench.ts [--quick]` runs this benchmark alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const result = await runReportsBench((line) => process.stderr.write(`${line}\n`), { quick });
  process.stdout.write(`${formatReportsReport(result).join('\n')}\n`);
}
