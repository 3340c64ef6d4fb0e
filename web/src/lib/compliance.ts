// Carrier compliance for managers: the figures per carrier and code, the drops with their clips,
// the weekly summary a manager sends to a carrier's dispatch, and the printed delivery
// instructions. API calls on `request()`, plus the words and numbers the pages print.
import { resolve } from '$app/paths';
import type { ResolvedPathname } from '$app/types';
import { request, type Fetch } from './api';
import type {
  CarrierFigures,
  ComplianceFigures,
  ComplianceReport,
  InstructionSheet,
} from '../../../server/compliance/compliance.api';

export type * from '../../../server/compliance/compliance.api';

export interface ComplianceQuery {
  /** ISO week, `2026-W47`. */
  week?: string | undefined;
  carrier?: string | undefined;
}

function queryString(q: ComplianceQuery): string {
  const p = new URLSearchParams();
  if (q.week) p.set('week', q.week);
  if (q.carrier) p.set('carrier', q.carrier);
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

export function getCompliance(q: ComplianceQuery, fetchFn?: Fetch): Promise<ComplianceReport> {
  return request<ComplianceReport>(`/api/compliance${queryString(q)}`, { fetch: fetchFn });
}

/** The CSV weekly summary (a plain link: the browser downloads it with the session cookie). */
export function complianceCsvHref(q: ComplianceQuery): string {
  return `/api/compliance.csv${queryString(q)}`;
}

export function getInstructionSheet(fetchFn?: Fetch): Promise<InstructionSheet> {
  return request<InstructionSheet>('/api/compliance/instructions', { fetch: fetchFn });
}

// --- Pages ------------------------------------------------------------------------------------

const withQuery = (path: ResolvedPathname, q: ComplianceQuery): ResolvedPathname =>
  `${path}${queryString(q)}` as ResolvedPathname;

export function compliancePageHref(week?: string): ResolvedPathname {
  return withQuery(resolve('/compliance'), { week });
}

/** The printable weekly summary of one carrier. */
export function summaryHref(carrier: string, week?: string): ResolvedPathname {
  return withQuery(resolve('/compliance/summary'), { week, carrier });
}

export function instructionsHref(): ResolvedPathname {
  return resolve('/compliance/instructions');
}

/** The kiosk address a door's QR code carries: the site's public address, else this console's. */
export function kioskUrl(
  sheet: Pick<InstructionSheet, 'publicUrl'>,
  kioskPath: string,
  origin: string,
): string {
  const base = (sheet.publicUrl ?? origin).replace(/\/+$/, '');
  return `${base}${kioskPath}`;
}

// --- Weeks ------------------------------------------------------------------------------------

const DAY_MS = 86_400_000;
const WEEK = /^\d{4}-W\d{2}$/;

export function isWeek(text: string | null | undefined): text is string {
  return typeof text === 'string' && WEEK.test(text);
}

/** The ISO week (`2026-W47`, the format of `<input type="week">`) holding a moment, local time. */
export function isoWeek(date: Date): string {
  const day = Date.UTC(date.getFullYear(), date.getMonth(), date.getDate());
  const dow = (new Date(day).getUTCDay() + 6) % 7;
  const thursday = day - dow * DAY_MS + 3 * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const jan4 = Date.UTC(year, 0, 4);
  const week1Monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY_MS;
  const week = Math.floor((thursday - 3 * DAY_MS - week1Monday) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** The week before or after (`step` weeks). */
export function shiftWeek(week: string, step: number): string {
  const m = /^(\d{4})-W(\d{2})$/.exec(week);
  if (!m) return week;
  const jan4 = Date.UTC(Number(m[1]), 0, 4);
  const monday =
    jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY_MS + (Number(m[2]) - 1) * 7 * DAY_MS;
  const target = new Date(monday + step * 7 * DAY_MS + 3 * DAY_MS);
  return isoWeek(new Date(target.getUTCFullYear(), target.getUTCMonth(), target.getUTCDate()));
}

// --- Words and numbers ------------------------------------------------------------------------

/** "4 min 05 s", "52 s", "1 h 03 min"; a dash when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Two decimals, or a dash without a denominator. */
export function formatRatio(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(2);
}

/** A day and time in the viewer's locale: "Mon 16 Nov, 14:02". */
export function formatWhen(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** "16 Nov – 22 Nov 2026" for a report period (its `to` is the next Monday, exclusive). */
export function periodWords(r: Pick<ComplianceReport, 'from' | 'to'>): string {
  const from = new Date(r.from);
  const last = new Date(Date.parse(r.to) - 1);
  const day = (d: Date) => d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
  return `${day(from)} – ${day(last)} ${last.getFullYear()}`;
}

/** Share of visits with no check-in, as a whole percentage; null without visits. */
export function dropRate(f: ComplianceFigures): number | null {
  return f.visits === 0 ? null : Math.round((f.drops / f.visits) * 100);
}

/**
 * The text a manager e-mails to a carrier's dispatch: plain, so any mail client shows it, with
 * the figures and the drops by day and door (no footage: that stays in the building).
 */
export function summaryText(r: ComplianceReport, carrier: CarrierFigures, site: string): string {
  const lines = [
    `Delivery summary for ${carrier.carrier} at ${site}, ${periodWords(r)}`,
    '',
    `Visits: ${carrier.visits} (door openings: ${carrier.doorOpenings})`,
    `Parcels checked in at the kiosk: ${carrier.parcels}`,
    `Parcels per visit: ${formatRatio(carrier.parcelsPerVisit)}`,
    `Visits with no parcel checked in: ${carrier.drops}`,
    `Parcels checked in without a named recipient: ${carrier.withoutRecipient}`,
    `Average time in the room: ${formatDuration(carrier.avgTimeInRoomMs)} (median ${formatDuration(carrier.medianTimeInRoomMs)})`,
  ];
  const drops = r.drops.filter((d) => d.carrier === carrier.carrier);
  if (drops.length > 0) {
    lines.push('', 'Visits with no check-in:');
    for (const d of drops)
      lines.push(`- ${formatWhen(d.startAt)}, ${d.doorName}, ${formatDuration(d.timeInRoomMs)}`);
  }
  lines.push(
    '',
    'Every parcel must be checked in at the kiosk in the package room: scan the label, pick the recipient, put the parcel where the screen says.',
  );
  return lines.join('\n');
}

/** A `mailto:` link with the summary as its body (the manager adds the dispatch address). */
export function summaryMailto(r: ComplianceReport, carrier: CarrierFigures, site: string): string {
  const subject = `${site}: ${carrier.carrier} delivery summary, ${periodWords(r)}`;
  return `mailto:?subject=${encodeURIComponent(subject)}&body=${encodeURIComponent(summaryText(r, carrier, site))}`;
}
