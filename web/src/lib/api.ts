// Typed client for the Parcelroom HTTP API. Same origin, JSON in and out; the session lives in an
// httpOnly cookie, so every request goes out with `credentials: 'same-origin'`.
import { browser } from '$app/environment';
import { goto } from '$app/navigation';
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
  analytics: { state: 'off' | 'on'; reason?: string };
}

export type StrikeState = 'locked' | 'unlocked';
export type ContactState = 'open' | 'closed' | 'unknown';

export interface DoorAlarm {
  kind: string;
  since: string;
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

type Fetch = typeof fetch;

interface RequestOptions {
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

async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
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
