// The package-room kiosk's client: the /api/kiosk calls, their types, and the words a carrier or a
// resident reads on the tablet. No staff session is involved anywhere: the kiosk session is its own
// httpOnly cookie (path /api/kiosk), bound to the door entry that let the person in.
import { ApiError, type ParcelSize } from './api';
import { cleanTracking } from './packages';

export { ApiError, cleanTracking };

/** A place in the room, as the server names it. `shelf` ("Shelf B") when the server adds it. */
export interface KioskLocation {
  /** 'shelf' | 'locker' | 'oversized' | 'overflow'; kept open so a newer kind still shows. */
  kind: string;
  id: string;
  label: string;
  shelf?: string;
}

/** A parcel this carrier checked in during this visit (the session lists them newest first). */
export interface KioskCheckedInParcel {
  id: string;
  trackingNumber: string;
  unit: string;
  location: KioskLocation;
}

/** A parcel waiting for the resident at the kiosk. */
export interface KioskParcel {
  id: string;
  trackingNumber: string;
  carrier: string;
  size: string;
  location: KioskLocation;
  checkedInAt: string;
}

export interface CarrierSession {
  kind: 'carrier';
  carrier: string;
  doorId: string | null;
  idleMinutes: number;
  checkedIn: KioskCheckedInParcel[];
}

export interface ResidentSession {
  kind: 'resident';
  name: string;
  unit: string;
  doorId: string | null;
  idleMinutes: number;
  parcels: KioskParcel[];
}

export type KioskSession = CarrierSession | ResidentSession;

/** What `POST /api/kiosk/session` answers: the carrier's visit, before any check-in. */
export interface CarrierVisit {
  carrier: string;
  doorId: string | null;
  idleMinutes: number;
}

export interface KioskRecipient {
  id: string;
  name: string;
  unit: string;
}

export type KioskCheckIn = {
  trackingNumber: string;
  carrier: string;
  size: ParcelSize;
  location?: string;
} & ({ unit: string } | { residentId: string });

export interface KioskCheckInResult {
  id: string;
  location: KioskLocation;
  tracking: {
    normalized: string;
    carrier: string | null;
    format: string | null;
    valid: boolean | null;
  };
  flag?: string;
}

export interface KioskPickup {
  id: string;
  trackingNumber?: string;
  status: 'picked_up';
  pickedUpAt: string;
}

export type PickupTarget = { packageId: string } | { trackingNumber: string };

// --- requests ---------------------------------------------------------------------------------

/** A kiosk must never hang on a dead connection: give up and say so after this long. */
const REQUEST_TIMEOUT_MS = 15_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds) : undefined;
}

async function kioskRequest<T>(
  path: string,
  method: 'GET' | 'POST' = 'GET',
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const init: RequestInit = {
    method,
    headers,
    credentials: 'same-origin',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(`/api/kiosk${path}`, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Parcelroom server.');
  }
  if (!res.ok) {
    let payload: unknown;
    try {
      payload = await res.json();
    } catch {
      // A proxy's error page, an empty body: the status alone decides the message.
    }
    const err = isRecord(payload) && isRecord(payload['error']) ? payload['error'] : undefined;
    throw new ApiError(
      res.status,
      typeof err?.['code'] === 'string' ? err['code'] : `http_${res.status}`,
      typeof err?.['message'] === 'string' ? err['message'] : '',
      typeof err?.['field'] === 'string' ? err['field'] : undefined,
      retryAfterSeconds(res.headers.get('Retry-After')),
    );
  }
  try {
    return (await res.json()) as T;
  } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  }
}

/** The carrier typed the delivery code they used on the door keypad. */
export function startCarrierSession(code: string): Promise<CarrierVisit> {
  return kioskRequest<CarrierVisit>('/session', 'POST', { code });
}

/** The session this browser holds, or null when there is none (or it timed out). */
export async function getKioskSession(): Promise<KioskSession | null> {
  try {
    return await kioskRequest<KioskSession>('/session');
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 404)) return null;
    throw e;
  }
}

export async function findRecipients(q: string): Promise<KioskRecipient[]> {
  const res = await kioskRequest<{ items: KioskRecipient[] }>(
    `/recipients?${new URLSearchParams({ q }).toString()}`,
  );
  return res.items;
}

export function kioskCheckIn(body: KioskCheckIn): Promise<KioskCheckInResult> {
  return kioskRequest<KioskCheckInResult>('/packages', 'POST', body);
}

/** Ends the session; for a carrier, the residents' notices go out now. */
export async function endKioskSession(): Promise<void> {
  await kioskRequest<{ ok: true }>('/session/end', 'POST');
}

/** Whether a resident badged in at this door a moment ago and has not come to the kiosk yet. */
export async function residentWaiting(doorId: string): Promise<boolean> {
  const res = await kioskRequest<{ residentWaiting: boolean }>(
    `/door/${encodeURIComponent(doorId)}`,
  );
  return res.residentWaiting === true;
}

export function startResidentSession(doorId: string): Promise<ResidentSession> {
  return kioskRequest<ResidentSession>('/session/resident', 'POST', { doorId });
}

export function kioskPickUp(target: PickupTarget): Promise<KioskPickup> {
  return kioskRequest<KioskPickup>('/pickup', 'POST', target);
}

// --- words ------------------------------------------------------------------------------------

export type MessageTone = 'error' | 'alarm';

export interface KioskMessage {
  text: string;
  /** 'alarm': someone took a parcel that is not theirs; shown large, in red, until dismissed. */
  tone: MessageTone;
  /** The session is gone: the kiosk goes back to its start screen. */
  sessionOver: boolean;
}

const WRONG_PICKUP = 'This parcel is for someone else. Please put it back; the desk has been told.';

/** What a carrier or a resident reads when a kiosk call fails, for every error the API gives. */
export function kioskMessage(error: unknown): KioskMessage {
  const msg = (text: string, tone: MessageTone = 'error', sessionOver = false): KioskMessage => ({
    text,
    tone,
    sessionOver,
  });
  if (!(error instanceof ApiError)) return msg('Something went wrong. Please try again.');
  const server = error.message.trim();
  switch (error.code) {
    case 'no_carrier_visit':
      return msg(
        'That code has not opened this door in the last 15 minutes. Type it on the door keypad first, then here.',
      );
    case 'too_many_attempts':
      return msg(
        error.retryAfter === undefined
          ? 'Too many wrong codes. Please wait, or ask the desk for help.'
          : `Too many wrong codes. Try again in ${formatWait(error.retryAfter)}, or ask the desk for help.`,
      );
    case 'no_kiosk_session':
      return msg('Your kiosk session has ended. Please start again.', 'error', true);
    case 'carrier_only':
    case 'resident_only':
      // A session of the other kind is open in this browser: start over from the start screen.
      return msg('This screen belongs to someone else’s visit. Please start again.', 'error', true);
    case 'no_resident_visit':
      return msg('Badge in at the door first; then tap here within 2 minutes to see your parcels.');
    case 'invalid_tracking':
      return msg('That tracking number does not check out. Scan the label again, or type it.');
    case 'duplicate_tracking':
      return msg('This parcel is already checked in. Put it with the others and scan the next.');
    case 'unknown_unit':
      return msg(
        server !== ''
          ? `${capitalize(server)}. Check the unit on the label.`
          : 'There is no such unit in this building. Check the unit on the label.',
      );
    case 'resident_moved_out':
      return msg('That resident has moved out. Leave the parcel at the desk.');
    case 'storage_full':
    case 'location_full':
      return msg(
        'There is no room left for this parcel. Leave it by the door and tell the desk; nothing was checked in.',
      );
    case 'unknown_location':
      return msg('That place is not in this room. Use the place the kiosk suggests.');
    case 'wrong_pickup':
      return msg(server !== '' ? server : WRONG_PICKUP, 'alarm');
    case 'not_found':
      return msg('That parcel is not on our list. Scan the label again, or ask the desk.');
    case 'not_in_room':
      return msg('That parcel has already been picked up.');
    case 'invalid_body':
      return msg(
        server !== ''
          ? `Please check what you entered: ${server}.`
          : 'Please check what you entered.',
      );
    case 'network':
    case 'bad_response':
      return msg('The kiosk cannot reach the server. Please try again in a moment.');
    default:
      if (error.status === 401) return msg('Your kiosk session has ended.', 'error', true);
      if (error.status === 429) return msg('Too many tries. Please wait a moment.');
      if (error.status >= 500)
        return msg('The server had a problem. Please try again, or ask the desk.');
      return msg(server !== '' ? capitalize(server) : 'That did not work. Please try again.');
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

export interface PlaceWords {
  /** What to look for, shown huge: "Shelf B · slot B7", "Locker 6", "Oversized area". */
  headline: string;
  /** One line of help under it. */
  caption: string;
}

/** A place in the room in the words a person looks for it by. */
export function placeWords(location: KioskLocation): PlaceWords {
  switch (location.kind) {
    case 'shelf':
      return {
        headline:
          location.shelf !== undefined && location.shelf !== ''
            ? `${location.shelf} · slot ${location.label}`
            : `Shelf slot ${location.label}`,
        caption: 'On the shelf, in this slot',
      };
    case 'locker':
      return { headline: location.label, caption: 'In this locker; close the door after' };
    case 'oversized':
      return { headline: location.label, caption: 'On the floor area for large parcels' };
    case 'overflow':
      return { headline: location.label, caption: 'The room is full here; the desk will sort it' };
    default:
      return { headline: location.label, caption: '' };
  }
}

/** The size buttons' words. */
export const KIOSK_SIZES: readonly { size: ParcelSize; label: string; hint: string }[] = [
  { size: 'standard', label: 'Standard', hint: 'Fits a shelf' },
  { size: 'oversized', label: 'Oversized', hint: 'Too big for a shelf' },
  { size: 'perishable', label: 'Perishable', hint: 'Food, flowers, medicine' },
];

/** A delivery code as typed on the keypad: digits only, at most 16 (the server's limit). */
export const CODE_MAX_DIGITS = 16;
export const CODE_MIN_DIGITS = 4;

/** Where a kiosk remembers its door when the address has no `?door=` (one tablet, one door). */
export const DOOR_STORAGE_KEY = 'parcelroom.kiosk.door';

/** "Grace Hopper — 12A". */
export const recipientLabel = (r: KioskRecipient): string => `${r.name} — ${r.unit}`;

/** Whether typing already goes somewhere sensible (a text field), so the kiosk leaves focus be. */
export function isTextEntry(el: Element | null): boolean {
  if (el === null) return false;
  if (el instanceof HTMLTextAreaElement) return true;
  if (!(el instanceof HTMLInputElement)) return false;
  return !['button', 'checkbox', 'radio', 'submit', 'reset', 'range', 'color', 'file'].includes(
    el.type,
  );
}

/**
 * Whether what was typed into the recipient field is a parcel label rather than a name or unit:
 * the carrier scanned the next parcel while the recipient field had the focus.
 */
export function looksLikeTracking(text: string): boolean {
  const t = cleanTracking(text);
  return /^1Z[0-9A-Z]{16}$/.test(t) || /^TBA\d{9,}$/.test(t) || /^\d{12,34}$/.test(t);
}

/** The building's doors (ids and names only), for a kiosk opened without `?door=`. */
export async function kioskDoors(): Promise<{ id: string; name: string }[]> {
  const res = await kioskRequest<{ items: { id: string; name: string }[] }>('/doors');
  return res.items;
}
