/**
 * The room report: how busy the package room is and when, for managers planning staff and
 * storage. Every figure is counted in the building's own time zone (site.timezone): a "day" is
 * the local calendar day, 23 or 25 hours long around a DST change, and an "hour" is the local
 * wall-clock hour. The database does the counting (one pass per figure, grouped by local day),
 * so a year of a busy building is a few thousand rows back, not a hundred thousand parcels.
 *
 * Definitions (the README repeats them for managers):
 * - parcels per day / per hour: check-ins in the range, by local day and local hour (0-23; on the
 *   night clocks go back, both 1 a.m. hours count as hour 1).
 * - dwell: check-in to pickup, for parcels checked in in the range and picked up (returned ones
 *   are not "picked up"); median and p90 interpolate linearly between neighbours (PostgreSQL's
 *   percentile_cont, like a spreadsheet's PERCENTILE.INC), rounded to the ms.
 * - same-day pickup rate: of the parcels checked in in the range, the share picked up on the
 *   local day they arrived.
 * - utilisation: per local day, the most shelf slots and lockers in use at once (a slot with one
 *   parcel or three is one slot in use) and the most parcels at once in the oversized area and
 *   in overflow, replayed from check-in and pickup times; parcels already waiting when the range
 *   opens are counted from its start.
 * - peak days: the busiest days above the median day (the median of all days of the range,
 *   quiet ones included), with how far above it they were.
 * - flags per week: vision flags raised, whatever their review, by local week (Monday first) and
 *   rule; the first week counts only from the range's first day.
 */
import { and, asc, eq, gte, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import { packages, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { SiteConfig } from '../config/index.ts';
import { ApiError } from '../http/errors.ts';
import { roomFromSite, type AssignerOptions } from '../packages/slot.assigner.ts';
import { adviseCapacity } from './capacity.advice.ts';
import {
  FLAG_KINDS,
  MAX_RANGE_DAYS,
  STORAGE_KINDS,
  type Capacity,
  type CapacityAdvice,
  type DayCount,
  type Dwell,
  type FlagKind,
  type FlagWeek,
  type HourCount,
  type ParcelFigures,
  type PeakDay,
  type RoomReport,
  type StorageKind,
  type UtilisationDay,
} from './room.api.ts';
import {
  addDays,
  dayStart,
  daysBetween,
  eachDay,
  isDay,
  localDay,
  monthOf,
  weekOf,
  type Day,
} from '../time/zoned.time.ts';

export const DEFAULT_RANGE_DAYS = 30;
/** Peak days listed at most. */
export const PEAK_DAYS = 7;
export { FLAG_KINDS, MAX_RANGE_DAYS, STORAGE_KINDS };
export type {
  Capacity,
  DayCount,
  Dwell,
  FlagKind,
  FlagWeek,
  HourCount,
  ParcelFigures,
  PeakDay,
  RoomReport,
  StorageKind,
  UtilisationDay,
};

export interface ReportRange {
  from: Day;
  to: Day;
}

/**
 * The range asked for, both days included, in site time. Unset `to` is today; unset `from` is
 * 30 days ending on `to`. A bad range is a 400 naming the parameter.
 */
export function resolveRange(
  q: { from?: string | undefined; to?: string | undefined },
  today: Day,
): ReportRange {
  for (const field of ['from', 'to'] as const) {
    const v = q[field];
    if (v !== undefined && !isDay(v))
      throw new ApiError(
        400,
        'invalid_query',
        `${field}: expected a day as YYYY-MM-DD (site time), got '${v.slice(0, 40)}'`,
        field,
      );
  }
  const to = q.to ?? today;
  const from = q.from ?? addDays(to, -(DEFAULT_RANGE_DAYS - 1));
  if (from > to)
    throw new ApiError(400, 'invalid_query', `to: ${to} is before from (${from})`, 'to');
  const days = daysBetween(from, to) + 1;
  if (days > MAX_RANGE_DAYS)
    throw new ApiError(
      400,
      'invalid_query',
      `from: the range is ${days} days; at most ${MAX_RANGE_DAYS} days at a time`,
      'from',
    );
  return { from, to };
}

export interface RoomReportService {
  readonly timezone: string;
  today(): Day;
  parcels(range: ReportRange): Promise<ParcelFigures>;
  dwell(range: ReportRange): Promise<Dwell>;
  utilisation(range: ReportRange): Promise<UtilisationDay[]>;
  flagsPerWeek(range: ReportRange): Promise<FlagWeek[]>;
  /** The last whole month ending on or before `to`: the month before, unless `to` ends one. */
  capacityAdvice(to: Day): Promise<CapacityAdvice>;
  report(range: ReportRange): Promise<RoomReport>;
  readonly capacity: Capacity;
}

/** Median of numbers (mean of the two middle ones for an even count); 0 for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The busiest days strictly above the median day, most parcels first (earlier day on a tie). */
export function peakDaysOf(perDay: readonly DayCount[], n = PEAK_DAYS): PeakDay[] {
  const med = median(perDay.map((d) => d.count));
  return perDay
    .filter((d) => d.count > med)
    .sort((a, b) => b.count - a.count || (a.day < b.day ? -1 : 1))
    .slice(0, n)
    .map((d) => ({
      day: d.day,
      count: d.count,
      aboveMedian: d.count - med,
      timesMedian: med === 0 ? null : Math.round((d.count / med) * 100) / 100,
    }));
}

/** Rows of a raw query, whichever driver answered (PGlite: {rows}, node-postgres: {rows}). */
async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const res = await db.execute(query);
  return (Array.isArray(res) ? res : (res as unknown as { rows: unknown[] }).rows) as T[];
}

const monthName = (month: string) => {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1, 15)).toLocaleString('en-US', {
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  });
};

export function createRoomReport(deps: {
  db: Db;
  siteId: string;
  site: Pick<SiteConfig, 'site' | 'storage'>;
  clock: Clock;
  /** As the parcel service places parcels (it uses the assigner's defaults). */
  assigner?: AssignerOptions;
}): RoomReportService {
  const { db, siteId } = deps;
  const tz = deps.site.site.timezone;
  const layout = roomFromSite(deps.site.storage);
  const capacity: Capacity = {
    shelf: layout.shelves.reduce((n, s) => n + s.slots.length, 0),
    locker: layout.lockers.length,
    coldLockers: layout.lockers.filter((l) => l.refrigerated).length,
    oversized: null,
    overflow: null,
  };

  const bounds = (r: ReportRange) => ({
    start: new Date(dayStart(tz, r.from)),
    end: new Date(dayStart(tz, addDays(r.to, 1))),
  });

  async function parcels(range: ReportRange): Promise<ParcelFigures> {
    const { start, end } = bounds(range);
    const rows = await rowsOf<{ day: string; hour: number; n: number; same: number }>(
      db,
      sql`
        select to_char(day, 'YYYY-MM-DD') as day, hour, n, same from (
          select (checked_in_at at time zone ${tz})::date as day,
                 extract(hour from checked_in_at at time zone ${tz})::int as hour,
                 count(*)::int as n,
                 (count(*) filter (
                   where picked_up_at is not null
                     and (picked_up_at at time zone ${tz})::date
                       = (checked_in_at at time zone ${tz})::date
                 ))::int as same
            from packages
           where site_id = ${siteId} and checked_in_at >= ${start} and checked_in_at < ${end}
           group by 1, 2
        ) g`,
    );
    const perDay = new Map<string, number>();
    const perHour = new Array<number>(24).fill(0);
    let total = 0;
    let same = 0;
    for (const r of rows) {
      const n = Number(r.n);
      perDay.set(r.day, (perDay.get(r.day) ?? 0) + n);
      perHour[Number(r.hour)]! += n;
      total += n;
      same += Number(r.same);
    }
    const parcelsPerDay = eachDay(range.from, range.to).map((day) => ({
      day,
      count: perDay.get(day) ?? 0,
    }));
    return {
      parcels: total,
      parcelsPerDay,
      parcelsPerHour: perHour.map((count, hour) => ({ hour, count })),
      sameDayPickups: same,
      sameDayPickupRate: total === 0 ? null : same / total,
      medianDay: median(parcelsPerDay.map((d) => d.count)),
      peakDays: peakDaysOf(parcelsPerDay),
    };
  }

  async function dwell(range: ReportRange): Promise<Dwell> {
    const { start, end } = bounds(range);
    const ms = sql`(extract(epoch from (picked_up_at - checked_in_at)) * 1000)::float8`;
    const [row] = await rowsOf<{ n: number; p50: number | null; p90: number | null }>(
      db,
      sql`
        select count(*)::int as n,
               percentile_cont(0.5) within group (order by ${ms}) as p50,
               percentile_cont(0.9) within group (order by ${ms}) as p90
          from packages
         where site_id = ${siteId} and checked_in_at >= ${start} and checked_in_at < ${end}
           and picked_up_at is not null`,
    );
    const n = Number(row?.n ?? 0);
    const round = (v: number | null | undefined) =>
      v === null || v === undefined ? null : Math.round(Number(v));
    return { medianMs: n ? round(row?.p50) : null, p90Ms: n ? round(row?.p90) : null, count: n };
  }

  async function utilisation(range: ReportRange): Promise<UtilisationDay[]> {
    const { start, end } = bounds(range);
    const out = sql`coalesce(p.picked_up_at, p.returned_at)`;
    // A slot or locker is in use while it holds any parcel: per location, the running count of
    // its parcels turns 0 → 1 (one more in use) and 1 → 0 (one fewer). The areas count parcels.
    // Collections sort before arrivals at the same instant, as a freed place can be reused.
    // Only changes of level are kept for the second pass, and each day keeps its peak and its net
    // change: the level a day starts at is the sum of everything before it.
    const rows = await rowsOf<{
      kind: StorageKind;
      day: string | null;
      peak: number;
      net: number;
    }>(
      db,
      sql`
        with p as (
          select p.location_id as loc, l.kind as kind, p.checked_in_at as t_in, ${out} as t_out
            from packages p
            join storage_locations l on l.site_id = p.site_id and l.id = p.location_id
           where p.site_id = ${siteId} and p.checked_in_at < ${end}
             and (${out} is null or ${out} >= ${start})
        ),
        ev as (
          select loc, kind, t_in as t, 1 as d from p
          union all
          select loc, kind, t_out as t, -1 as d from p where t_out is not null and t_out < ${end}
        ),
        steps as (
          select kind, t, d,
                 case when d = 1 and n = 1 then 1 when d = -1 and n = 0 then -1 else 0 end as step
            from (
              select kind, t, d,
                     sum(d) over (partition by loc order by t, d rows unbounded preceding) as n
                from ev where kind in ('shelf', 'locker')
            ) places
          union all
          select kind, t, d, d as step from ev where kind not in ('shelf', 'locker')
        ),
        lvl as (
          select kind, t, step,
                 sum(step) over (partition by kind order by t, d rows unbounded preceding) as level
            from steps where step <> 0
        ),
        per_day as (
          select kind,
                 case when t < ${start} then null else (t at time zone ${tz})::date end as day,
                 max(level) as peak, sum(step) as net
            from lvl group by 1, 2
        )
        select kind, to_char(day, 'YYYY-MM-DD') as day, peak::int as peak, net::int as net
          from per_day`,
    );
    const byKind = new Map<string, { peak: number; net: number }>();
    for (const r of rows)
      byKind.set(`${r.kind}/${r.day ?? ''}`, { peak: Number(r.peak), net: Number(r.net) });
    const level: Record<StorageKind, number> = { shelf: 0, locker: 0, oversized: 0, overflow: 0 };
    for (const kind of STORAGE_KINDS) level[kind] = byKind.get(`${kind}/`)?.net ?? 0;
    return eachDay(range.from, range.to).map((day) => {
      const row = { day } as UtilisationDay;
      for (const kind of STORAGE_KINDS) {
        const d = byKind.get(`${kind}/${day}`);
        // A quiet day keeps the level it started with; a busy one peaks at least there too.
        row[kind] = Math.max(level[kind], d?.peak ?? level[kind]);
        level[kind] += d?.net ?? 0;
      }
      return row;
    });
  }

  async function flagsPerWeek(range: ReportRange): Promise<FlagWeek[]> {
    const { start, end } = bounds(range);
    const rows = await rowsOf<{ week: string; kind: string; n: number }>(
      db,
      sql`
        select to_char(date_trunc('week', at at time zone ${tz}), 'YYYY-MM-DD') as week,
               kind, count(*)::int as n
          from vision_flags
         where site_id = ${siteId} and at >= ${start} and at < ${end}
         group by 1, 2`,
    );
    const counts = new Map(rows.map((r) => [`${r.week}/${r.kind}`, Number(r.n)]));
    const out: FlagWeek[] = [];
    for (let week = weekOf(range.from); week <= range.to; week = addDays(week, 7))
      for (const kind of FLAG_KINDS)
        out.push({ week, kind, count: counts.get(`${week}/${kind}`) ?? 0 });
    return out;
  }

  /**
   * Advice for months that have ended. The replay looks only at what happened inside the month
   * (a parcel collected after it ended simply stayed to its end), and check-ins are stamped with
   * the time they happen, so a month that is over never changes: its advice is worked out once.
   */
  const closedMonths = new Map<string, CapacityAdvice>();
  const MEMO_MONTHS = 24;

  async function capacityAdvice(to: Day): Promise<CapacityAdvice> {
    const endsMonth = monthOf(to).last === to;
    const { first, last } = endsMonth ? monthOf(to) : monthOf(addDays(monthOf(to).first, -1));
    const start = new Date(dayStart(tz, first));
    const end = new Date(dayStart(tz, addDays(last, 1)));
    const month = first.slice(0, 7);
    const closed = end.getTime() <= deps.clock.now();
    const known = closed ? closedMonths.get(month) : undefined;
    if (known) return structuredClone(known);
    const out = sql`coalesce(${packages.pickedUpAt}, ${packages.returnedAt})`;
    const rows = await db
      .select({
        id: packages.id,
        unitId: packages.unitId,
        size: packages.size,
        inAt: packages.checkedInAt,
        pickedUpAt: packages.pickedUpAt,
        returnedAt: packages.returnedAt,
      })
      .from(packages)
      .where(
        and(
          eq(packages.siteId, siteId),
          lt(packages.checkedInAt, end),
          or(isNull(out), gte(out, start)),
        ),
      )
      .orderBy(asc(packages.checkedInAt), asc(packages.id));
    const advice = adviseCapacity({
      layout,
      parcels: rows.map((r) => ({
        id: r.id,
        householdKey: `unit:${r.unitId}`,
        size: r.size,
        inAt: r.inAt.getTime(),
        outAt: (r.pickedUpAt ?? r.returnedAt)?.getTime() ?? null,
      })),
      month,
      monthLabel: monthName(month),
      start: start.getTime(),
      end: end.getTime(),
      ...(deps.assigner ? { options: deps.assigner } : {}),
      dayOf: (at) => localDay(tz, at),
    });
    if (closed) {
      if (closedMonths.size >= MEMO_MONTHS) closedMonths.delete(closedMonths.keys().next().value!);
      closedMonths.set(month, structuredClone(advice));
    }
    return advice;
  }

  return {
    timezone: tz,
    capacity,
    today: () => localDay(tz, deps.clock.now()),
    parcels,
    dwell,
    utilisation,
    flagsPerWeek,
    capacityAdvice,
    async report(range) {
      // At once: PostgreSQL answers them on separate connections; PGlite takes them in turn.
      const [figures, d, u, f, advice] = await Promise.all([
        parcels(range),
        dwell(range),
        utilisation(range),
        flagsPerWeek(range),
        capacityAdvice(range.to),
      ]);
      return {
        timezone: tz,
        from: range.from,
        to: range.to,
        days: daysBetween(range.from, range.to) + 1,
        ...figures,
        dwell: d,
        capacity,
        utilisation: u,
        flagsPerWeek: f,
        capacityAdvice: advice,
      };
    },
  };
}
