// Roster import: the CSV preview and import calls, the result's shape as the server sends it, and
// the words the import page uses for each action.
import { request, type Fetch } from './api';

export const ROSTER_COLUMNS = [
  'unit',
  'name',
  'email',
  'phone',
  'external_id',
  'move_in',
  'move_out',
] as const;

/** The server refuses larger files (2 MB); checked here too so nobody waits for the upload. */
export const ROSTER_MAX_BYTES = 2 * 1024 * 1024;

export type RosterAction = 'create' | 'update' | 'move_out' | 'unchanged' | 'rejected';

export interface RosterRow {
  line: number;
  /** One of {@link RosterAction}; kept open so a newer server's action still shows. */
  action: RosterAction | (string & {});
  unit: string;
  name: string;
  externalId?: string;
  residentId?: string;
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
  importId?: string;
  summary: RosterSummary;
  rows: RosterRow[];
  parcelsWaiting?: WaitingParcels[];
}

export interface RosterImportRecord {
  id: string;
  at: string;
  by: string;
  source: 'csv' | 'pms' | (string & {});
  dryRun: boolean;
  summary: Partial<RosterSummary> & Record<string, unknown>;
}

export const ACTION_LABELS: Record<RosterAction, string> = {
  create: 'New',
  update: 'Update',
  move_out: 'Move out',
  unchanged: 'Unchanged',
  rejected: 'Rejected',
};

export function actionLabel(action: string): string {
  return ACTION_LABELS[action as RosterAction] ?? action;
}

/** Sends the CSV text; `dryRun` previews without writing anything. */
export function importRoster(csv: string, dryRun: boolean, fetch?: Fetch): Promise<RosterResult> {
  return request<RosterResult>(`/api/roster/import?dryRun=${dryRun ? 'true' : 'false'}`, {
    method: 'POST',
    body: { csv },
    fetch,
  });
}

export async function listRosterImports(fetch?: Fetch): Promise<RosterImportRecord[]> {
  return (await request<{ items: RosterImportRecord[] }>('/api/roster/imports', { fetch })).items;
}

/** "300 new, 2 updated, 1 moved out, 0 unchanged, 3 rejected". */
export function summaryText(s: Partial<RosterSummary>): string {
  return [
    `${s.created ?? 0} new`,
    `${s.updated ?? 0} updated`,
    `${s.movedOut ?? 0} moved out`,
    `${s.unchanged ?? 0} unchanged`,
    `${s.rejected ?? 0} rejected`,
  ].join(', ');
}
