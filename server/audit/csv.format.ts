/**
 * The audit search as CSV (RFC 4180: comma-separated, CRLF line ends, a field holding a comma,
 * a quote or a line break is quoted with its quotes doubled), safe to open in a spreadsheet: a
 * cell that starts with = + - @ (or a tab or carriage return) would be run as a formula there,
 * so it gets a leading apostrophe (OWASP's advice on CSV injection). Names and tracking numbers
 * come from people and couriers, so this matters.
 */
import type { AuditRow } from './audit.search.ts';

export const AUDIT_CSV_COLUMNS = [
  'at',
  'source',
  'type',
  'door',
  'camera',
  'decision',
  'reason',
  'resident_id',
  'resident_name',
  'resident_unit',
  'staff_id',
  'credential_id',
  'carrier_code_id',
  'carrier',
  'package_id',
  'tracking_number',
  'package_unit',
  'flag_kind',
  'flag_status',
  'flag_severity',
  'clip_url',
  'snapshot_url',
  'id',
] as const;

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** One field: neutralised if a spreadsheet would read it as a formula, quoted when needed. */
export function csvCell(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One record, CRLF-terminated. */
export function csvLine(cells: readonly (string | null | undefined)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export const AUDIT_CSV_HEADER = csvLine(AUDIT_CSV_COLUMNS);

/** A timeline row as the CSV's cells, in AUDIT_CSV_COLUMNS order. */
export function auditCsvCells(r: AuditRow): (string | undefined)[] {
  return [
    r.at,
    r.source,
    r.type,
    r.doorId,
    r.cameraId,
    r.decision,
    r.reason,
    r.resident?.id,
    r.resident?.name,
    r.resident?.unit,
    r.staffId,
    r.credentialId,
    r.carrierCodeId,
    r.carrier,
    r.packageId,
    r.trackingNumber,
    r.packageUnit,
    r.flag?.kind,
    r.flag?.status,
    r.flag?.severity,
    r.clipUrl,
    r.snapshotUrl,
    r.id,
  ];
}
