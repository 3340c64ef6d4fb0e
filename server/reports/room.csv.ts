/**
 * Each chart of the room report as a CSV file (RFC 4180, CRLF, cells neutralised against
 * spreadsheet formulas by the audit export's csvCell): the same numbers the JSON answer holds,
 * one row per bar or point, so a manager can chart them again or keep them.
 */
import { csvLine } from '../audit/csv.format.ts';
import { ROOM_CHARTS, type RoomChart } from './room.api.ts';
import type { RoomReportService, ReportRange } from './room.report.ts';

export { ROOM_CHARTS, type RoomChart };

export function isRoomChart(s: string): s is RoomChart {
  return (ROOM_CHARTS as readonly string[]).includes(s);
}

const num = (v: number | null) => (v === null ? '' : String(v));

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return csvLine(header) + rows.map((r) => csvLine(r)).join('');
}

/** The CSV text of one chart over `range`. */
export async function roomChartCsv(
  report: RoomReportService,
  chart: RoomChart,
  range: ReportRange,
): Promise<string> {
  switch (chart) {
    case 'parcels-per-day': {
      const f = await report.parcels(range);
      return table(
        ['day', 'parcels'],
        f.parcelsPerDay.map((d) => [d.day, num(d.count)]),
      );
    }
    case 'parcels-per-hour': {
      const f = await report.parcels(range);
      return table(
        ['hour', 'parcels'],
        f.parcelsPerHour.map((h) => [num(h.hour), num(h.count)]),
      );
    }
    case 'dwell': {
      const [f, d] = [await report.parcels(range), await report.dwell(range)];
      return table(
        [
          'from',
          'to',
          'picked_up',
          'median_ms',
          'p90_ms',
          'same_day_pickups',
          'same_day_pickup_rate',
        ],
        [
          [
            range.from,
            range.to,
            num(d.count),
            num(d.medianMs),
            num(d.p90Ms),
            num(f.sameDayPickups),
            num(f.sameDayPickupRate),
          ],
        ],
      );
    }
    case 'utilisation': {
      const u = await report.utilisation(range);
      const cap = report.capacity;
      return table(
        [
          'day',
          'shelf_slots_in_use',
          'shelf_slots',
          'lockers_in_use',
          'lockers',
          'oversized_parcels',
          'overflow_parcels',
        ],
        u.map((d) => [
          d.day,
          num(d.shelf),
          num(cap.shelf),
          num(d.locker),
          num(cap.locker),
          num(d.oversized),
          num(d.overflow),
        ]),
      );
    }
    case 'peak-days': {
      const f = await report.parcels(range);
      return table(
        ['day', 'parcels', 'median_day', 'above_median', 'times_median'],
        f.peakDays.map((p) => [
          p.day,
          num(p.count),
          num(f.medianDay),
          num(p.aboveMedian),
          num(p.timesMedian),
        ]),
      );
    }
    case 'flags-per-week': {
      const w = await report.flagsPerWeek(range);
      return table(
        ['week', 'kind', 'flags'],
        w.map((r) => [r.week, r.kind, num(r.count)]),
      );
    }
  }
}
