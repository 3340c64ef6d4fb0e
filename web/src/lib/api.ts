// Typed client for the Parcelroom HTTP API. Same origin, JSON in and out; the session lives in an
// httpOnly cookie, so every request goes out with `credentials: 'same-origin'`.
import { browser } from '$app/environment';
import { goto } from '$app/navigation';
import type { AnalyticsHealth, CameraAnalyticsHealth } from '../../../server/cameras/analytics.api';
import { loginHref } from './navigation';

export type Role = 'staff' | 'manager' | 'admin';

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface Health {
  status: 'ok';
  database: 'pglite' | 'postgres';
  version: string;
  site: { id: string; name: string };
  analytics: AnalyticsHealth;
}

export type { AnalyticsHealth, CameraAnalyticsHealth };

export type StrikeState = 'locked' | 'unlocked';
export type ContactState = 'open' | 'closed' | 'unknown';

export type AlarmKind = 'forced_open' | 'held_open' | 'offline' | 'tamper' | 'keypad_lockout';

export interface DoorAlarm {
  /** One of {@link AlarmKind}; kept open so a newer server's alarm still shows. */
  kind: string;
  since: string;
  detail?: string;
}

export interface Door {
  id: string;
  name: string;
  strike: StrikeState;
  contact: ContactState;
  alarms: DoorAlarm[];
}

export interface Resident {
  id: string;
  name: string;
  unit: string;
  email?: string | null;
  phone?: string | null;
  /** 'active', or 'moved_out' once the resident has left; older servers leave it out. */
  status?: string;
  createdAt: string;
}

export interface NewResident {
  name: string;
  unit: string;
  email?: string;
  phone?: string;
}

export const CARD_FORMATS = ['H10301', 'H10306', 'C1000-35', 'H10302', 'H10304'] as const;
export type CardFormat = (typeof CARD_FORMATS)[number];

export interface Credential {
  id: string;
  residentId?: string | null;
  staffId?: string | null;
  kind: 'card';
  format: CardFormat;
  facilityCode?: number | null;
  cardNumber: number;
  status: 'active' | 'revoked';
  createdAt: string;
}

export interface NewCardCredential {
  residentId: string;
  kind: 'card';
  format: CardFormat;
  facilityCode?: number;
  cardNumber: number;
}

/** One access event: GET /api/events and the `event` messages of GET /api/events/stream. */
export interface AccessEvent {
  id: string;
  at: string;
  type: string;
  doorId: string | null;
  readerId?: string;
  decision?: 'granted' | 'denied';
  reason?: string;
  residentId?: string;
  staffId?: string;
  credentialId?: string;
  carrierCodeId?: string;
  packageId?: string;
  details?: Record<string, unknown>;
  /**
   * The event's video (`video/mp4`, Range) and its poster, same origin and auth, when a camera
   * can show it. Until the clip window has been recorded the clip answers 409 `clip_not_ready`
   * with Retry-After; an event whose video is gone answers 404 `no_video` with the reason.
   */
  clipUrl?: string;
  snapshotUrl?: string;
  /** Where the clip stands once someone has asked for it (GET /api/events only). */
  clipStatus?: 'pending' | 'ready' | 'missing' | (string & {});
  /** Why there is no video, when `clipStatus` is `missing`. */
  clipMissingReason?: string;
}

export interface EventQuery {
  doorId?: string;
  type?: string;
  decision?: 'granted' | 'denied';
  residentId?: string;
  carrierCodeId?: string;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

export interface EventPage {
  items: AccessEvent[];
  nextCursor?: string;
}

export const CARRIER_CODE_STATES = [
  'active',
  'scheduled',
  'expired',
  'used_up',
  'revoked',
] as const;
export type CarrierCodeState = (typeof CARRIER_CODE_STATES)[number];

export interface CarrierCode {
  id: string;
  carrier: string;
  validFrom: string;
  validUntil: string;
  maxUses: number | null;
  uses: number;
  lastUsedAt: string | null;
  doorIds: string[];
  state: CarrierCodeState;
  createdAt: string;
  revokedAt?: string;
}

export interface NewCarrierCode {
  carrier: string;
  /** ISO-8601 with a zone offset. */
  validUntil: string;
  validFrom?: string;
  maxUses?: number;
  doorIds?: string[];
}

/** What a simulated reader input led to; empty while a PIN is still being typed. */
export interface SimOutcome {
  decision?: 'granted' | 'denied';
  reason?: string;
}

export type KeypadMode = '4bit' | '8bit';

/** The site configuration as the server reports it, with secrets already redacted. */
export type SiteSettings = Record<string, unknown>;

/** Any non-2xx answer (or a network failure, with status 0). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  /** Seconds from the `Retry-After` header, when the server sent one (429). */
  readonly retryAfter: number | undefined;

  constructor(status: number, code: string, message: string, field?: string, retryAfter?: number) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

export type Fetch = typeof fetch;

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** SvelteKit's `fetch` inside load functions; the global one otherwise. */
  fetch?: Fetch | undefined;
  /** Send the browser to /login on a 401 (default). Off for login itself and the session probe. */
  redirectOn401?: boolean;
}

function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(header);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fallbackMessage(status: number, retryAfter: number | undefined): string {
  switch (status) {
    case 401:
      return 'Please sign in.';
    case 403:
      return 'Your role does not allow this.';
    case 404:
      return 'Not found.';
    case 429:
      return retryAfter === undefined
        ? 'Too many attempts. Try again later.'
        : `Too many attempts. Try again in ${retryAfter} s.`;
    default:
      return status >= 500
        ? `The server had a problem (${status}).`
        : `Request failed (${status}).`;
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
  let body: unknown = undefined;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy error page, an empty body): fall back to a generic message.
  }
  const err = isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
  const code = typeof err?.['code'] === 'string' ? err['code'] : `http_${res.status}`;
  const message =
    typeof err?.['message'] === 'string' && err['message'] !== ''
      ? err['message']
      : fallbackMessage(res.status, retryAfter);
  const field = typeof err?.['field'] === 'string' ? err['field'] : undefined;
  return new ApiError(res.status, code, message, field, retryAfter);
}

/** Sends the browser to the login page, remembering where it was. */
export function redirectToLogin(): void {
  if (!browser || window.location.pathname === '/login') return;
  const here = window.location.pathname + window.location.search + window.location.hash;
  void goto(loginHref(here), { replaceState: true, invalidateAll: true });
}

/** One JSON call to the API: errors as `ApiError`, a 401 sends the browser to the login page. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, redirectOn401 = true } = options;
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { Accept: 'application/json' };
  const init: RequestInit = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let res: Response;
  try {
    res = await doFetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Parcelroom server.');
  }

  if (!res.ok) {
    const error = await toApiError(res);
    if (res.status === 401 && redirectOn401) redirectToLogin();
    throw error;
  }
  if (res.status === 204) return undefined as T;
  try {
    return (await res.json()) as T;
  } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  }
}

// --- System ----------------------------------------------------------------------------------

export function getHealth(fetchFn?: Fetch): Promise<Health> {
  return request<Health>('/api/health', { fetch: fetchFn, redirectOn401: false });
}

// --- Session ---------------------------------------------------------------------------------

export async function login(email: string, password: string): Promise<User> {
  const res = await request<{ user: User }>('/api/auth/login', {
    method: 'POST',
    body: { email, password },
    redirectOn401: false,
  });
  return res.user;
}

export async function logout(): Promise<void> {
  await request<{ ok: true }>('/api/auth/logout', { method: 'POST', redirectOn401: false });
}

/** The signed-in user; rejects with an ApiError of status 401 when there is no session. */
export async function getMe(fetchFn?: Fetch): Promise<User> {
  const res = await request<{ user: User }>('/api/auth/me', {
    fetch: fetchFn,
    redirectOn401: false,
  });
  return res.user;
}

// --- Doors -----------------------------------------------------------------------------------

export function listDoors(fetchFn?: Fetch): Promise<Door[]> {
  return request<Door[]>('/api/doors', { fetch: fetchFn });
}

// --- Events ----------------------------------------------------------------------------------

export function listEvents(query: EventQuery = {}, fetchFn?: Fetch): Promise<EventPage> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  return request<EventPage>(`/api/events${qs === '' ? '' : `?${qs}`}`, { fetch: fetchFn });
}

/** Where the live stream of events and door states is served (Server-Sent Events). */
export const EVENT_STREAM_URL = '/api/events/stream';

// --- Carrier codes ---------------------------------------------------------------------------

export async function listCarrierCodes(
  state?: CarrierCodeState,
  fetchFn?: Fetch,
): Promise<CarrierCode[]> {
  const qs = state === undefined ? '' : `?${new URLSearchParams({ state }).toString()}`;
  const res = await request<{ items: CarrierCode[] }>(`/api/carrier-codes${qs}`, {
    fetch: fetchFn,
  });
  return res.items;
}

/** Creates a code; the answer holds the code itself, which the server never shows again. */
export function createCarrierCode(code: NewCarrierCode): Promise<{ id: string; code: string }> {
  return request<{ id: string; code: string }>('/api/carrier-codes', {
    method: 'POST',
    body: code,
  });
}

export async function revokeCarrierCode(id: string): Promise<void> {
  await request<unknown>(`/api/carrier-codes/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

// --- Simulated hardware (doors and readers whose driver is 'sim') ----------------------------

export function simKeys(
  readerId: string,
  keys: string,
  mode: KeypadMode = '4bit',
): Promise<SimOutcome> {
  return request<SimOutcome>(`/api/sim/readers/${encodeURIComponent(readerId)}/keys`, {
    method: 'POST',
    body: { keys, mode },
  });
}

export function simWiegand(readerId: string, bits: string): Promise<SimOutcome> {
  return request<SimOutcome>(`/api/sim/readers/${encodeURIComponent(readerId)}/wiegand`, {
    method: 'POST',
    body: { bits },
  });
}

export async function simContact(doorId: string, state: 'open' | 'closed'): Promise<void> {
  await request<unknown>(`/api/sim/doors/${encodeURIComponent(doorId)}/contact`, {
    method: 'POST',
    body: { state },
  });
}

export async function simRex(doorId: string): Promise<void> {
  await request<unknown>(`/api/sim/doors/${encodeURIComponent(doorId)}/rex`, { method: 'POST' });
}

// --- Residents -------------------------------------------------------------------------------

export async function listResidents(fetchFn?: Fetch): Promise<Resident[]> {
  const res = await request<{ items: Resident[] }>('/api/residents', { fetch: fetchFn });
  return res.items;
}

export function createResident(resident: NewResident): Promise<{ id: string }> {
  return request<{ id: string }>('/api/residents', { method: 'POST', body: resident });
}

// --- Credentials -----------------------------------------------------------------------------

export async function listCredentials(residentId: string, fetchFn?: Fetch): Promise<Credential[]> {
  const query = new URLSearchParams({ residentId });
  const res = await request<{ items: Credential[] }>(`/api/credentials?${query.toString()}`, {
    fetch: fetchFn,
  });
  return res.items;
}

export function enrolCard(credential: NewCardCredential): Promise<{ id: string }> {
  return request<{ id: string }>('/api/credentials', { method: 'POST', body: credential });
}

export async function revokeCredential(id: string): Promise<void> {
  await request<unknown>(`/api/credentials/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

// --- Settings --------------------------------------------------------------------------------

export async function getSettings(fetchFn?: Fetch): Promise<SiteSettings> {
  const res = await request<{ site: SiteSettings }>('/api/settings', { fetch: fetchFn });
  return res.site;
}

// --- Packages --------------------------------------------------------------------------------

export const PARCEL_SIZES = ['standard', 'oversized', 'perishable'] as const;
export type ParcelSize = (typeof PARCEL_SIZES)[number];

export type LocationKind = 'shelf' | 'locker' | 'oversized' | 'overflow';

export interface StorageLocation {
  /** One of {@link LocationKind}; kept open so a newer server's kind still shows. */
  kind: LocationKind | (string & {});
  id: string;
  label: string;
}

export type PackageStatus = 'checked_in' | 'picked_up' | 'returned';

export interface NewPackage {
  trackingNumber: string;
  carrier: string;
  /** Exactly one of unit and residentId. */
  unit?: string;
  residentId?: string;
  size: ParcelSize;
  /** A location id, when staff put the parcel somewhere else than the server would. */
  location?: string;
}

export interface TrackingCheck {
  normalized: string;
  carrier: string | null;
  format: string | null;
  /** true: the check digit agrees · null: accepted, but nothing to check it against. */
  valid: boolean | null;
}

export interface CheckedIn {
  id: string;
  location: StorageLocation;
  tracking: TrackingCheck;
  /** Something staff should see to, e.g. "perishable without a cold locker". */
  flag?: string;
}

export interface PackageRow {
  id: string;
  trackingNumber: string;
  carrier: string;
  status: PackageStatus | (string & {});
  size: ParcelSize | (string & {});
  unit: string;
  residentId?: string;
  residentName?: string;
  location: StorageLocation;
  checkedInAt: string;
  pickedUpAt?: string;
  returnedAt?: string;
  /** Someone the resident sent, when staff handed the parcel over to them at the desk. */
  handedTo?: string;
  /** Still in the room past the site's overdue line (the server's clock decides). */
  overdue?: boolean;
}

export interface PackageQuery {
  status?: PackageStatus;
  unit?: string;
  residentId?: string;
  /** Part of a tracking number, a unit or a resident's name. */
  q?: string;
  /** Waiting (or waited) at least this many days. */
  minAgeDays?: number;
  /** Only parcels still in the room past the overdue line. */
  overdue?: boolean;
  limit?: number;
}

/** Desk hand-over: both optional; a bare hand-over goes to the parcel's own resident. */
export interface HandOver {
  /** The resident collecting, when staff name them; another unit's resident is refused (403). */
  residentId?: string;
  /** Someone the resident sent (a neighbour, a partner), as they gave their name. */
  handedTo?: string;
}

/** A parcel waiting long enough to go back to its carrier. */
export interface ReturnQueueItem {
  id: string;
  trackingNumber: string;
  carrier: string;
  status: PackageStatus | (string & {});
  size: ParcelSize | (string & {});
  location: StorageLocation;
  checkedInAt: string;
  unit: string;
  residentId?: string;
  residentName?: string;
  /** Whole days it has waited. */
  waitingDays: number;
  /** Reminders sent to the resident so far. */
  reminders: number;
  remindedAt?: string;
}

export interface ReturnQueue {
  /** Parcels waiting this many days or longer are listed. */
  returnAfterDays: number;
  /** Oldest first. */
  items: ReturnQueueItem[];
}

export interface StoredItem {
  id: string;
  trackingNumber: string;
  carrier: string;
  size: ParcelSize | (string & {});
  unit: string;
  residentName?: string;
  checkedInAt: string;
  ageHours: number;
  overdue: boolean;
}

export interface StorageSlot {
  id: string;
  label: string;
  items: StoredItem[];
}

export interface StorageShelf {
  id: string;
  label: string;
  slots: StorageSlot[];
}

export interface StorageLocker extends StorageSlot {
  size: 'small' | 'medium' | 'large' | (string & {});
  refrigerated: boolean;
}

export interface StorageBoard {
  overdueAfterDays: number;
  shelves: StorageShelf[];
  lockers: StorageLocker[];
  oversized: StorageSlot;
  overflow: StorageSlot;
}

/** The stretch of camera recording that belongs to a door entry. */
export interface ClipWindow {
  from: string;
  to: string;
}

/**
 * One step of a parcel's chain of custody. `type` is an event type (`package_checked_in`,
 * `package_picked_up`, `package_returned`, `wrong_pickup`, `access`, `door_opened`…) or
 * `notified` for a notice attempt; `details` carries the type's own fields (see
 * {@link NoticeAttemptDetails}, {@link PickupDetails}, {@link WrongPickupDetails}).
 */
export interface TimelineItem {
  id: string;
  at: string;
  type: string;
  doorId?: string;
  decision?: 'granted' | 'denied';
  reason?: string;
  /** Whose entry, notice or pickup it is; for `wrong_pickup`, the resident who tried. */
  residentId?: string;
  staffId?: string;
  carrierCodeId?: string;
  /** Door entries (`access`, `door_opened`): the video that belongs to them. */
  clipWindow?: ClipWindow;
  details?: Record<string, unknown>;
}

/** `details` of a `notified` timeline item: one attempt to tell the resident. */
export interface NoticeAttemptDetails {
  notice: 'checked_in' | 'reminder';
  channel: 'email' | 'webhook';
  attempt: number;
  ok: boolean;
  error?: string;
  /** When the next try is due; absent after a success or the last try. */
  nextAttemptAt?: string;
}

/** `details` of a `package_picked_up` timeline item. */
export interface PickupDetails {
  by: 'resident' | 'staff';
  via: 'kiosk' | 'desk' | 'api';
  handedTo?: string;
  /** The resident's door entry the pickup belongs to (kiosk pickups). */
  entryEventId?: string;
}

/** `details` of a `wrong_pickup` timeline item: someone tried to take another unit's parcel. */
export interface WrongPickupDetails {
  via: 'kiosk' | 'desk' | 'api';
  /** The unit the parcel is for. */
  ownerUnit: string | null;
  trackingNumber: string;
}

export interface PackageTimeline {
  package: {
    id: string;
    trackingNumber: string;
    carrier: string;
    unit: string;
    status: PackageStatus | (string & {});
    location: StorageLocation;
    checkedInAt: string;
    pickedUpAt?: string;
    returnedAt?: string;
    /** The carrier code whose door session brought it in (kiosk check-ins). */
    carrierCodeId?: string;
    /** The carrier's door entry it came in with. */
    entryEventId?: string;
    handedTo?: string;
  };
  items: TimelineItem[];
}

export function checkInPackage(parcel: NewPackage): Promise<CheckedIn> {
  return request<CheckedIn>('/api/packages', { method: 'POST', body: parcel });
}

export async function listPackages(
  query: PackageQuery = {},
  fetchFn?: Fetch,
): Promise<PackageRow[]> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    // `overdue: false` means no filter, not "only parcels that are not overdue".
    if (value !== undefined && value !== '' && value !== false) params.set(key, String(value));
  }
  const qs = params.toString();
  const res = await request<{ items: PackageRow[] }>(`/api/packages${qs === '' ? '' : `?${qs}`}`, {
    fetch: fetchFn,
  });
  return res.items;
}

/**
 * Records a parcel as picked up, handed over at the desk. Refused with 403 `wrong_pickup` when
 * `residentId` names someone of another unit, 409 `not_in_room` when it already left the room.
 */
export function pickUpPackage(
  id: string,
  handOver: HandOver = {},
): Promise<{ id: string; status: 'picked_up'; pickedUpAt: string }> {
  const body: HandOver = {
    ...(handOver.residentId ? { residentId: handOver.residentId } : {}),
    ...(handOver.handedTo ? { handedTo: handOver.handedTo } : {}),
  };
  return request(`/api/packages/${encodeURIComponent(id)}/pickup`, {
    method: 'POST',
    ...(Object.keys(body).length > 0 ? { body } : {}),
  });
}

/** Parcels waiting long enough to go back to their carrier, oldest first. */
export function getReturnQueue(fetchFn?: Fetch): Promise<ReturnQueue> {
  return request<ReturnQueue>('/api/packages/returns', { fetch: fetchFn });
}

/** Records a parcel as given back to its carrier; 409 `not_in_room` when it already left. */
export function returnPackage(
  id: string,
  reason?: string,
): Promise<{ id: string; status: 'returned'; returnedAt: string }> {
  return request(`/api/packages/${encodeURIComponent(id)}/return`, {
    method: 'POST',
    ...(reason ? { body: { reason } } : {}),
  });
}

export function getStorage(fetchFn?: Fetch): Promise<StorageBoard> {
  return request<StorageBoard>('/api/storage', { fetch: fetchFn });
}

export function getPackageTimeline(id: string, fetchFn?: Fetch): Promise<PackageTimeline> {
  return request<PackageTimeline>(`/api/packages/${encodeURIComponent(id)}/timeline`, {
    fetch: fetchFn,
  });
}

/** Residents whose name or unit contains `q` (for the recipient type-ahead). */
export async function searchResidents(q: string, fetchFn?: Fetch): Promise<Resident[]> {
  const res = await request<{ items: Resident[] }>(
    `/api/residents?${new URLSearchParams({ q }).toString()}`,
    { fetch: fetchFn },
  );
  return res.items;
}
