// The room report (GET /api/reports/room): its shape as the server sends it, the CSV links of its
// charts, and the words and numbers the Analytics page shows. Days are `YYYY-MM-DD` in the
// building's time zone, which the report names; the page never converts them to the browser's.
import { resolve } from '$app/paths';
import type { ResolvedPathname } from '$app/types';
import type { FlagWeek, RoomChart, RoomReport } from '../../../server/reports/room.api';
import { request, type Fetch } from './api';

export { ApiError } from './api';

export { MAX_RANGE_DAYS, ROOM_CHARTS } from '../../../server/reports/room.api';
export type * from '../../../server/reports/room.api';

export interface ReportRange {
  from?: string | undefined;
  to?: string | undefined;
}

function query(range: ReportRange): string {
  const q = new URLSearchParams();
  if (range.from) q.set('from', range.from);
  if (range.to) q.set('to', range.to);
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

export function getRoomReport(range: ReportRange, fetchFn?: Fetch): Promise<RoomReport> {
  return request<RoomReport>(`/api/reports/room${query(range)}`, { fetch: fetchFn });
}

/** The Analytics page for a range: the range lives in the URL, so a view can be shared. */
export function analyticsHref(range: ReportRange): ResolvedPathname {
  return `${resolve('/analytics')}${query(range)}` as ResolvedPathname;
}

/** The range a page URL asks for; anything that is not a day is left to the server's default. */
export function rangeFromParams(params: URLSearchParams): ReportRange {
  const day = (v: string | null) => (v !== null && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : undefined);
  return { from: day(params.get('from')), to: day(params.get('to')) };
}

/** Where one chart's CSV downloads from, for the same range. */
export function chartCsvHref(chart: RoomChart, range: ReportRange): string {
  return `/api/reports/room/${chart}.csv${query(range)}`;
}

/** A day `YYYY-MM-DD` shifted by `n` days (calendar arithmetic, no time zone involved). */
export function shiftDay(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** Ready-made ranges ending on `to` (the report's last day). */
export const PRESETS = [
  { label: 'Last 7 days', days: 7 },
  { label: 'Last 30 days', days: 30 },
  { label: 'Last 90 days', days: 90 },
  { label: 'Last 365 days', days: 365 },
] as const;

/** "2 h 05 min", "3 d 4 h", "45 s"; an em dash for nothing. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${String(min % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** 0.734 → "73 %"; an em dash when there is nothing to rate. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—';
  return `${Math.round(rate * 100)} %`;
}

/** "Mon 7 Dec" for a site-time day (the weekday of the calendar date itself). */
export function formatDay(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('en-GB', {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    timeZone: 'UTC',
  });
}

const FLAG_KIND_LABELS: Record<string, string> = {
  loitering: 'Loitering',
  multi_package_grab: 'Multi-package grab',
  tailgating: 'Tailgating',
};

export function flagKindLabel(kind: string): string {
  return FLAG_KIND_LABELS[kind] ?? kind.replace(/_/g, ' ');
}

/** Flags per week as one series per rule, over the weeks in order (zeros filled). */
export function flagSeries(rows: readonly FlagWeek[]): {
  weeks: string[];
  series: { kind: string; counts: number[] }[];
} {
  const weeks = [...new Set(rows.map((r) => r.week))].sort();
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const at = new Map(rows.map((r) => [`${r.week}/${r.kind}`, r.count]));
  return {
    weeks,
    series: kinds.map((kind) => ({
      kind,
      counts: weeks.map((w) => at.get(`${w}/${kind}`) ?? 0),
    })),
  };
}
