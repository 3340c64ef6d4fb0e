/**
 * The wire shape of the roster import (`POST /api/roster/import`, `GET /api/roster/imports`) and
 * its CSV columns, shared with the console, so it imports nothing.
 */

/** The largest roster file the import takes (2 MB); the console checks it before uploading. */
export const ROSTER_MAX_BYTES = 2 * 1024 * 1024;

/** The CSV's columns (roster.csv.ts reads them; the import page lists them). */
export const ROSTER_COLUMNS = [
  'unit',
  'name',
  'email',
  'phone',
  'external_id',
  'move_in',
  'move_out',
] as const;
export type RosterColumn = (typeof ROSTER_COLUMNS)[number];

export type RosterAction = 'create' | 'update' | 'move_out' | 'unchanged' | 'rejected';

export interface RosterRowResult {
  line: number;
  action: RosterAction;
  unit: string;
  name: string;
  externalId?: string;
  residentId?: string;
  /** Fields an update changes (`unit`, `email`, `move_out` …). */
  changes?: string[];
  errors?: string[];
}

export interface RosterSummary {
  created: number;
  updated: number;
  movedOut: number;
  unchanged: number;
  rejected: number;
}

export interface WaitingParcels {
  residentId: string;
  name: string;
  unit: string;
  parcels: { id: string; trackingNumber: string; checkedInAt: string }[];
}

export interface RosterResult {
  dryRun: boolean;
  /** The roster_imports row of a real run. */
  importId?: string;
  summary: RosterSummary;
  rows: RosterRowResult[];
  /** Parcels still in the room for residents this import moves out: staff decide what to do. */
  parcelsWaiting: WaitingParcels[];
}

/** One past import as `GET /api/roster/imports` lists it. */
export interface RosterImportRecord {
  id: string;
  at: string;
  /** The staff id, or `token:<id>` for the property-management system. */
  by: string;
  source: 'csv' | 'pms';
  dryRun: boolean;
  /** As stored with the import: rows written by an older server may lack a count. */
  summary: Partial<RosterSummary> & Record<string, unknown>;
}
