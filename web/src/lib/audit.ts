// The manager's audit search (GET /api/audit/search and its CSV), saved searches, and the admin's
// list of who viewed which footage (GET /api/audit/views). The search's filters live in the page's
// URL, so a search is a link one manager can send another; this module maps between the two.
import { resolve } from '$app/paths';
import type { ResolvedPathname } from '$app/types';
import {
  ALARM_EVENT_TYPES,
  EVENT_TYPES,
  type AuditPage,
  type AuditRow,
} from '../../../server/audit/audit.api';
import type { CaseItemKind } from '../../../server/cases/case.api';
import { request, type AccessEvent, type Fetch } from './api';
import { describeEvent, eventTone, humanize } from './events';
import { kindLabel } from './flags';
import { localInputToIso, toDatetimeLocal } from './format';

/** The event types the search knows. */
export const AUDIT_EVENT_TYPES = EVENT_TYPES;

const TYPE_LABELS: Record<string, string> = {
  access: 'Access (badge or code)',
  package_returned: 'Package returned',
  wrong_pickup: 'Wrong pickup',
  parcel_seen_taken: 'Parcel seen taken',
};

/** The words for an event type in the filter's list. */
export function typeLabel(type: string): string {
  return TYPE_LABELS[type] ?? describeEvent({ id: '', at: '', type, doorId: null } as AccessEvent);
}

/** The search's filters in the order the URL writes them; every one narrows (AND). */
export const AUDIT_FILTER_KEYS = [
  'q',
  'unit',
  'residentId',
  'credentialId',
  'carrierCodeId',
  'doorId',
  'cameraId',
  'type',
  'flagKind',
  'trackingNumber',
  'from',
  'to',
] as const;
export type AuditFilterKey = (typeof AUDIT_FILTER_KEYS)[number];

/**
 * A search as the URL and the API take it: plain strings, absent when unset. `type` and
 * `flagKind` may hold several values joined by commas; `from` and `to` are ISO-8601 with offset.
 */
export type AuditFilters = Partial<Record<AuditFilterKey, string>>;

const isFilterKey = (k: string): k is AuditFilterKey =>
  (AUDIT_FILTER_KEYS as readonly string[]).includes(k);

/** The filters in a URL's query string (repeated `type=` values are joined with commas). */
export function filtersFromParams(params: URLSearchParams): AuditFilters {
  const out: AuditFilters = {};
  for (const key of AUDIT_FILTER_KEYS) {
    const values = params
      .getAll(key)
      .map((v) => v.trim())
      .filter((v) => v !== '');
    if (values.length > 0) out[key] = values.join(',');
  }
  return out;
}

/** The query string of a search, keys in a fixed order so equal searches give equal links. */
export function filtersToParams(filters: AuditFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of AUDIT_FILTER_KEYS) {
    const value = filters[key]?.trim();
    if (value) params.set(key, value);
  }
  return params;
}

/** The Audit page running this search: the link to share. */
export function auditPageHref(filters: AuditFilters): ResolvedPathname {
  const qs = filtersToParams(filters).toString();
  return `${resolve('/audit')}${qs === '' ? '' : `?${qs}`}` as ResolvedPathname;
}

export function hasFilters(filters: AuditFilters): boolean {
  return AUDIT_FILTER_KEYS.some((k) => (filters[k] ?? '').trim() !== '');
}

/**
 * A saved search's stored query back into filters. Stored as the filters object; a query string
 * (an older or hand-made entry) is read too, and anything unknown is left out.
 */
export function filtersFromSaved(query: unknown): AuditFilters {
  if (typeof query === 'string') return filtersFromParams(new URLSearchParams(query));
  if (typeof query !== 'object' || query === null || Array.isArray(query)) return {};
  const out: AuditFilters = {};
  for (const [k, v] of Object.entries(query as Record<string, unknown>)) {
    if (!isFilterKey(k)) continue;
    const value = Array.isArray(v) ? v.filter((x) => typeof x === 'string').join(',') : v;
    if (typeof value === 'string' && value.trim() !== '') out[k] = value.trim();
  }
  return out;
}

/** A datetime-local input's value for an ISO time in the URL ('' when unset or unreadable). */
export function isoToInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : toDatetimeLocal(d);
}

/** An ISO time for the URL from a datetime-local input (undefined when empty). */
export function inputToIso(value: string): string | undefined {
  return localInputToIso(value);
}

// --- The search ------------------------------------------------------------------------------

export type { AuditPage, AuditRow, CaseItemKind };

export const AUDIT_PAGE_SIZE = 50;

export function searchAudit(
  filters: AuditFilters,
  cursor?: string,
  fetchFn?: Fetch,
): Promise<AuditPage> {
  const params = filtersToParams(filters);
  params.set('limit', String(AUDIT_PAGE_SIZE));
  if (cursor) params.set('cursor', cursor);
  return request<AuditPage>(`/api/audit/search?${params.toString()}`, { fetch: fetchFn });
}

/** The CSV of the whole search (not only the rows on screen); the server logs the export. */
export function auditCsvHref(filters: AuditFilters): string {
  const qs = filtersToParams(filters).toString();
  return `/api/audit/search.csv${qs === '' ? '' : `?${qs}`}`;
}

const ALARM_TYPES: ReadonlySet<string> = new Set(ALARM_EVENT_TYPES);

/** What a row is, in words: "Access granted", "Package picked up", "Tailgating (flag)". */
export function rowHeadline(row: AuditRow): string {
  if (row.source === 'flag') return `${kindLabel(row.flag?.kind ?? row.type)} (flag)`;
  return describeEvent({
    id: row.id,
    at: row.at,
    type: row.type,
    doorId: row.doorId ?? null,
    ...(row.decision ? { decision: row.decision } : {}),
    ...(row.reason ? { reason: row.reason } : {}),
  });
}

export function rowTone(row: AuditRow): 'ok' | 'warn' | 'danger' | 'neutral' {
  if (row.source === 'flag') {
    return row.flag?.severity === 'high' ? 'danger' : row.flag ? 'warn' : 'neutral';
  }
  if (row.type === 'wrong_pickup' || row.type === 'parcel_seen_taken') return 'danger';
  return eventTone({
    id: row.id,
    at: row.at,
    type: row.type,
    doorId: row.doorId ?? null,
    ...(row.decision ? { decision: row.decision } : {}),
  });
}

/** Who the row is about: "Ada Lovelace (4B)", "staff", "carrier UPS", or undefined. */
export function rowWho(row: AuditRow): string | undefined {
  if (row.resident) return `${row.resident.name} (${row.resident.unit})`;
  if (row.staffId) return 'staff';
  if (row.carrierCodeId) return row.carrier ? `carrier ${row.carrier}` : 'a carrier code';
  return undefined;
}

/** The parcel of the row: "1Z999… (UPS, for 4B)". */
export function rowParcel(row: AuditRow): string | undefined {
  if (!row.trackingNumber) return undefined;
  const extra = [row.carrier, row.packageUnit ? `for ${row.packageUnit}` : undefined].filter(
    (x): x is string => x !== undefined,
  );
  return extra.length > 0 ? `${row.trackingNumber} (${extra.join(', ')})` : row.trackingNumber;
}

/** How a row goes into a case: a flag as a flag, a door alarm as an alarm, else an event. */
export function caseKindOf(row: AuditRow): CaseItemKind {
  if (row.source === 'flag') return 'flag';
  return ALARM_TYPES.has(row.type) ? 'alarm' : 'event';
}

// --- Saved searches --------------------------------------------------------------------------

export interface SavedSearch {
  id: string;
  name: string;
  query: unknown;
  createdAt: string;
}

export async function listSavedSearches(fetchFn?: Fetch): Promise<SavedSearch[]> {
  const res = await request<{ items: SavedSearch[] }>('/api/audit/saved-searches', {
    fetch: fetchFn,
  });
  return res.items;
}

export function saveSearch(name: string, filters: AuditFilters): Promise<{ id: string }> {
  const query: AuditFilters = {};
  for (const key of AUDIT_FILTER_KEYS) if (filters[key]) query[key] = filters[key];
  return request<{ id: string }>('/api/audit/saved-searches', {
    method: 'POST',
    body: { name, query },
  });
}

export async function deleteSavedSearch(id: string): Promise<void> {
  await request<unknown>(`/api/audit/saved-searches/${encodeURIComponent(id)}`, {
    method: 'DELETE',
  });
}

// --- Who viewed what (admins) ----------------------------------------------------------------

export const VIEW_ACTIONS = ['video.view', 'audit.export'] as const;

export interface ViewEntry {
  id: string;
  at: string;
  /** The staff member's email, or `token:<name>`. */
  actor: string;
  actorStaffId?: string;
  actorTokenId?: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown> | null;
  ip: string | null;
}

export interface ViewQuery {
  action?: string;
  targetType?: string;
  from?: string;
  to?: string;
  cursor?: string;
}

export function listViews(
  query: ViewQuery = {},
  fetchFn?: Fetch,
): Promise<{ items: ViewEntry[]; nextCursor?: string }> {
  const params = new URLSearchParams({ limit: '50' });
  for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
  return request(`/api/audit/views?${params.toString()}`, { fetch: fetchFn });
}

/** What was seen: "clip", "snapshot", "live view", "search export", "evidence download". */
export function viewWhat(entry: ViewEntry): string {
  if (entry.targetType === 'case_export') {
    return entry.details?.['step'] === 'downloaded' ? 'evidence download' : 'evidence export';
  }
  if (entry.action === 'audit.export') return 'search export (CSV)';
  const what = entry.details?.['what'];
  if (what === 'live') return 'live view';
  return typeof what === 'string' ? what : humanize(entry.action);
}

/** Of what: "event 01J…", "flag 01J…", "camera Room camera", "case “Missing parcel 4B”". */
export function viewTarget(entry: ViewEntry, cameraName: (id: string) => string): string {
  if (entry.targetType === 'case_export') {
    const title = entry.details?.['caseTitle'];
    const caseId = entry.details?.['caseId'];
    if (typeof title === 'string') return `case “${title}”`;
    return typeof caseId === 'string' ? `case ${caseId}` : 'a case';
  }
  if (entry.action === 'audit.export') {
    const filters = entry.details?.['filters'];
    if (typeof filters === 'object' && filters !== null) {
      const words = Object.entries(filters as Record<string, unknown>)
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
        .join(', ');
      return words === '' ? 'all rows' : words;
    }
    return 'all rows';
  }
  if (entry.targetType === 'camera' && entry.targetId)
    return `camera ${cameraName(entry.targetId)}`;
  return [entry.targetType, entry.targetId].filter(Boolean).join(' ');
}
