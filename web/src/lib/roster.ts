// Roster import: the CSV preview and import calls, the result's shape as the server sends it, and
// the words the import page uses for each action.
import type {
  RosterAction,
  RosterImportRecord,
  RosterResult,
  RosterSummary,
} from '../../../server/roster/roster.api';
import { request, type Fetch } from './api';

export { ROSTER_COLUMNS, ROSTER_MAX_BYTES } from '../../../server/roster/roster.api';
export type * from '../../../server/roster/roster.api';
/** One line of the import's answer. */
export type { RosterRowResult as RosterRow } from '../../../server/roster/roster.api';

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
