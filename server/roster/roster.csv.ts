/**
 * Reads a roster CSV as property-management systems and spreadsheets export it. The header row is
 * required and names the columns (any order, any case):
 *
 * | column        | required | meaning                                                            |
 * | ------------- | -------- | ------------------------------------------------------------------ |
 * | `unit`        | yes      | the unit's label as the building writes it (`4B`, `1203`)          |
 * | `name`        | yes      | the resident's name                                                |
 * | `email`       | no       | for parcel notices                                                 |
 * | `phone`       | no       | digits, spaces, `+ - ( )`                                          |
 * | `external_id` | no       | the PMS's id for the resident: re-imports match on it              |
 * | `move_in`     | no       | `YYYY-MM-DD` (start of that day, site time) or ISO 8601 with zone  |
 * | `move_out`    | no       | `YYYY-MM-DD` (access ends at the END of that day, site time) or ISO |
 *
 * The file is the roster as it is now, so an empty cell clears that field. A byte-order mark,
 * CRLF line ends and quoted cells (commas, quotes, even line breaks inside) are fine. Every row
 * is checked on its own and a bad row is reported with its line number, never guessed at; the
 * good rows still import.
 */
import { parse } from 'csv-parse/sync';
import { dayEnd, dayStart, isDay } from '../time/zoned.time.ts';

import { ROSTER_COLUMNS, type RosterColumn } from './roster.api.ts';

export { ROSTER_COLUMNS, type RosterColumn };

/** One roster line as the planner takes it (CSV row or PMS change). */
export interface RosterEntry {
  /** Line of the CSV (1 is the header), or the change's position (1-based) in a PMS push. */
  line: number;
  unit: string;
  name: string;
  /** undefined: leave as it is; null: clear. */
  email?: string | null;
  phone?: string | null;
  externalId?: string | null;
  moveInAt?: Date | null;
  moveOutAt?: Date | null;
}

export interface RowError {
  line: number;
  unit: string;
  name: string;
  errors: string[];
}

export interface ParsedRoster {
  entries: RosterEntry[];
  rejected: RowError[];
}

/** The whole file is unusable (no header, broken quoting): nothing is imported. */
export class RosterFileError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'RosterFileError';
  }
}

export const MAX_ROSTER_ROWS = 20_000;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE = /^\+?[0-9 ()-]{5,32}$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A roster date: `YYYY-MM-DD` is a calendar day in the site's time zone, taken as its start
 * (`edge: 'start'`, move-in) or its end (`'end'`, move-out: the resident still collects parcels
 * on the day they leave); a full ISO 8601 time with a zone is taken as written.
 */
export function parseRosterDate(
  raw: string,
  timeZone: string,
  edge: 'start' | 'end',
): Date | string {
  if (DATE_ONLY.test(raw)) {
    if (!isDay(raw)) return `'${raw}' is not a calendar date`;
    const y = Number(raw.slice(0, 4));
    if (y < 1900 || y > 2200) return `'${raw}' is out of range (years 1900-2200)`;
    return new Date(edge === 'start' ? dayStart(timeZone, raw) : dayEnd(timeZone, raw));
  }
  if (ISO_WITH_ZONE.test(raw)) {
    const ms = Date.parse(raw);
    if (!Number.isNaN(ms)) return new Date(ms);
  }
  return `'${raw}' is not a date: write YYYY-MM-DD or an ISO 8601 time with its zone`;
}

/** Checks shared by CSV rows and PMS changes; returns the errors (empty: fine). */
export function validateEntry(e: RosterEntry): string[] {
  const errors: string[] = [];
  if (!e.unit) errors.push('unit: required');
  else if (e.unit.length > 32) errors.push('unit: at most 32 characters');
  if (!e.name) errors.push('name: required');
  else if (e.name.length > 120) errors.push('name: at most 120 characters');
  if (e.email && (e.email.length > 254 || !EMAIL.test(e.email)))
    errors.push(`email: '${e.email.slice(0, 60)}' is not an email address`);
  if (e.phone && !PHONE.test(e.phone))
    errors.push('phone: a phone number (digits, spaces, + - ( )), 5-32 characters');
  if (e.externalId && e.externalId.length > 64) errors.push('external_id: at most 64 characters');
  for (const [k, v] of Object.entries(e))
    if (typeof v === 'string' && v.includes('\u0000'))
      errors.push(`${k}: contains a NUL character`);
  if (e.moveInAt && e.moveOutAt && e.moveOutAt.getTime() <= e.moveInAt.getTime())
    errors.push('move_out: must be after move_in');
  return errors;
}

/**
 * Keys that make two lines the same resident: the external id when there is one, otherwise
 * unit + name + email (case-insensitive), the same rule re-imports match the database by.
 */
export function entryKey(e: Pick<RosterEntry, 'unit' | 'name' | 'email' | 'externalId'>): string {
  if (e.externalId) return `id:${e.externalId}`;
  return `une:${e.unit.toLowerCase()}\u0001${e.name.toLowerCase()}\u0001${(e.email ?? '').toLowerCase()}`;
}

/**
 * Rejects the second and later lines naming the same resident, pointing at the first: importing
 * both would let the file's order decide, which nobody reading the file would expect.
 */
export function rejectDuplicates(parsed: ParsedRoster): ParsedRoster {
  const first = new Map<string, number>();
  const entries: RosterEntry[] = [];
  const rejected = [...parsed.rejected];
  for (const e of parsed.entries) {
    const key = entryKey(e);
    const seen = first.get(key);
    if (seen !== undefined) {
      rejected.push({
        line: e.line,
        unit: e.unit,
        name: e.name,
        errors: [
          e.externalId
            ? `external_id '${e.externalId}' is already on line ${seen}`
            : `the same resident (unit, name, email) is already on line ${seen}`,
        ],
      });
      continue;
    }
    first.set(key, e.line);
    entries.push(e);
  }
  rejected.sort((a, b) => a.line - b.line);
  return { entries, rejected };
}

export function parseRosterCsv(text: string, opts: { timeZone: string }): ParsedRoster {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // One kind of line end: csv-parse counts a CRLF inside quotes as two lines otherwise.
    records = parse(text.replace(/\r\n?/g, '\n'), {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    const e = err as { message?: string; lines?: number };
    throw new RosterFileError(
      `the file is not valid CSV${e.lines ? ` (line ${e.lines})` : ''}: ${e.message ?? String(err)}`,
      e.lines,
    );
  }
  const head = records.shift();
  if (!head) throw new RosterFileError('the file is empty: it needs a header row');
  const header = head.record.map((h) =>
    h
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, '_'),
  );
  const unknown = header.filter((h) => !(ROSTER_COLUMNS as readonly string[]).includes(h));
  if (unknown.length)
    throw new RosterFileError(
      `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')} in the header (line ${head.info.lines}); the columns are ${ROSTER_COLUMNS.join(', ')}`,
      head.info.lines,
    );
  for (const need of ['unit', 'name'] as const)
    if (!header.includes(need))
      throw new RosterFileError(
        `the header (line ${head.info.lines}) has no '${need}' column; the columns are ${ROSTER_COLUMNS.join(', ')}`,
        head.info.lines,
      );
  const dup = header.find((h, i) => header.indexOf(h) !== i);
  if (dup) throw new RosterFileError(`the header names '${dup}' twice`, head.info.lines);
  if (records.length > MAX_ROSTER_ROWS)
    throw new RosterFileError(`the file has ${records.length} rows; at most ${MAX_ROSTER_ROWS}`);

  const col = new Map(header.map((h, i) => [h as RosterColumn, i]));
  const entries: RosterEntry[] = [];
  const rejected: RowError[] = [];
  for (const { record, info } of records) {
    // csv-parse counts to the record's last line; a quoted line break moves its start back.
    const embedded = record.reduce((n, f) => n + (f.match(/\n/g)?.length ?? 0), 0);
    const line = info.lines - embedded;
    const cell = (c: RosterColumn) => {
      const i = col.get(c);
      return i === undefined ? undefined : (record[i] ?? '').trim();
    };
    const unit = cell('unit') ?? '';
    const name = cell('name') ?? '';
    const errors: string[] = [];
    if (record.length !== header.length)
      errors.push(`has ${record.length} cells; the header has ${header.length}`);
    // Present column: empty cell clears the field; absent column: leave the field as it is.
    const optional = (c: RosterColumn) => {
      const v = cell(c);
      return v === undefined ? undefined : v === '' ? null : v;
    };
    const date = (c: 'move_in' | 'move_out') => {
      const v = optional(c);
      if (v === undefined || v === null) return v;
      const d = parseRosterDate(v, opts.timeZone, c === 'move_in' ? 'start' : 'end');
      if (typeof d === 'string') {
        errors.push(`${c}: ${d}`);
        return undefined;
      }
      return d;
    };
    const entry: RosterEntry = { line, unit, name };
    const email = optional('email');
    if (email !== undefined) entry.email = email === null ? null : email.toLowerCase();
    const phone = optional('phone');
    if (phone !== undefined) entry.phone = phone;
    const externalId = optional('external_id');
    if (externalId !== undefined) entry.externalId = externalId;
    const moveInAt = date('move_in');
    if (moveInAt !== undefined) entry.moveInAt = moveInAt;
    const moveOutAt = date('move_out');
    if (moveOutAt !== undefined) entry.moveOutAt = moveOutAt;
    errors.push(...validateEntry(entry));
    if (errors.length) rejected.push({ line, unit, name, errors });
    else entries.push(entry);
  }
  return rejectDuplicates({ entries, rejected });
}
