// Incident cases (managers and admins): a case gathers timeline entries (events, flags, parcels,
// alarms) with notes, and is exported as a signed evidence ZIP whose SHA-256 the console shows so
// whoever receives the file can check it is the one that was made.
import { resolve } from '$app/paths';
import type { ResolvedPathname } from '$app/types';
import type {
  CaseExportView,
  CaseItemKind,
  CaseItemView,
  CaseStatus,
  ExportStatus,
  CaseDetail as WireCaseDetail,
  CaseSummary as WireCaseSummary,
} from '../../../server/cases/case.api';
import { request, type Fetch } from './api';
import type { AuditRow } from './audit';

export type { CaseStatus, ExportStatus };
/**
 * A case in the list. The name is optional here only because the add-to-case dialog lists a case
 * it has just created before the server has named its creator.
 */
export type CaseSummary = Omit<WireCaseSummary, 'createdByName'> &
  Partial<Pick<WireCaseSummary, 'createdByName'>>;
/** A case's item; the page reads its entry as the audit row it is. */
export type CaseItem = CaseItemView<AuditRow>;
export type CaseExport = CaseExportView;
export type CaseDetail = WireCaseDetail<AuditRow>;

const casePath = (id: string, rest = ''): string => `/api/cases/${encodeURIComponent(id)}${rest}`;

export async function listCases(status: CaseStatus, fetchFn?: Fetch): Promise<CaseSummary[]> {
  const res = await request<{ items: CaseSummary[] }>(
    `/api/cases?${new URLSearchParams({ status }).toString()}`,
    { fetch: fetchFn },
  );
  return res.items;
}

export function createCase(title: string, description?: string): Promise<{ id: string }> {
  return request<{ id: string }>('/api/cases', {
    method: 'POST',
    body: { title, ...(description ? { description } : {}) },
  });
}

export function getCase(id: string, fetchFn?: Fetch): Promise<CaseDetail> {
  return request<CaseDetail>(casePath(id), { fetch: fetchFn });
}

export async function updateCase(
  id: string,
  patch: { title?: string; description?: string; status?: CaseStatus },
): Promise<void> {
  await request<unknown>(casePath(id), { method: 'PATCH', body: patch });
}

export function addCaseItem(
  caseId: string,
  item: { kind: CaseItemKind; refId: string; note?: string | undefined },
): Promise<{ id: string; existing?: boolean }> {
  // An entry already in the case answers 200 with `existing`, not a second copy.
  return request<{ id: string; existing?: boolean }>(casePath(caseId, '/items'), {
    method: 'POST',
    body: { kind: item.kind, refId: item.refId, ...(item.note ? { note: item.note } : {}) },
  });
}

export async function removeCaseItem(caseId: string, itemId: string): Promise<void> {
  await request<unknown>(casePath(caseId, `/items/${encodeURIComponent(itemId)}`), {
    method: 'DELETE',
  });
}

export function startExport(caseId: string): Promise<{ id: string; status: ExportStatus }> {
  return request<{ id: string; status: ExportStatus }>(casePath(caseId, '/exports'), {
    method: 'POST',
  });
}

export function getExport(caseId: string, exportId: string, fetchFn?: Fetch): Promise<CaseExport> {
  return request<CaseExport>(casePath(caseId, `/exports/${encodeURIComponent(exportId)}`), {
    fetch: fetchFn,
  });
}

/** Where the ZIP is fetched: the server's link, else the route the API documents. */
export function exportDownloadHref(caseId: string, exp: CaseExport): string {
  return exp.downloadUrl ?? casePath(caseId, `/exports/${encodeURIComponent(exp.id)}/download`);
}

/** "2.4 MB", "812 kB", "97 B". */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '—';
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${Math.round(bytes / 1000)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The case's page. */
export function caseHref(id: string): ResolvedPathname {
  return resolve(`/cases/${encodeURIComponent(id)}`);
}

/**
 * Who did something to a case, in words: cases store a staff id (or `token:<id>`); only admins
 * can read staff names, so others see "you" or "a colleague".
 */
export function actorWords(
  id: string,
  me: { id: string },
  names: ReadonlyMap<string, string> = new Map(),
): string {
  if (id === '' || id === me.id) return 'you';
  if (id.startsWith('token:')) return 'an integration (API token)';
  return names.get(id) ?? 'a colleague';
}

export const ITEM_KIND_LABELS: Record<CaseItemKind, string> = {
  event: 'Event',
  flag: 'Flag',
  package: 'Parcel',
  alarm: 'Alarm',
};
